"""History as the reviewer uses it: drop one edit, patch export defaults, a confirmed checkout
that survives a restart (the live model says which commit it holds)."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from tests.app.helpers import new_job, open_window, preview_and_approve_two, wait_job

pytestmark = pytest.mark.gui


def _two_edits_committed(qtbot, window):
    runs = preview_and_approve_two(qtbot, window)
    wait_job(qtbot, window.commit("two edits", force=True))
    return window.ws.head(), runs


def test_drop_one_edit_export_default_and_a_confirmed_checkout_kept_across_restarts(qtbot, monkeypatch):
    window = open_window(qtbot)
    edits, (kept, dropped) = _two_edits_committed(qtbot, window)
    window.tabs.setCurrentWidget(window.history)
    window.history.select([edits.id])
    asked = []
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (asked.append(a[3]) or a[3][1], True))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("drop the second edit", True))
    new_job(qtbot, window, window.history.buttons["revert_edit"].click)
    assert asked[0][1].startswith(f"run {dropped.id}:")
    head = window.ws.head()
    assert head.kind == "revert" and list(head.dropped) == [dropped.id]
    assert [r.id for r in window.ws.show(head.id).runs] == [kept.id], "only the one edit was dropped"
    qtbot.waitUntil(lambda: f"New commit {head.short_id} drops run {dropped.id}" in window.message.text(),
                    timeout=10_000)  # trial 4: it ended with "Reverting: done" alone

    window.ws.tag("release-1", edits.id)
    dialog = window.open_export_dialog()
    dialog.kind.setCurrentIndex(1)
    labels = {dialog.to_ref.itemData(i): dialog.to_ref.itemText(i) for i in range(dialog.to_ref.count())}
    assert f"{edits.short_id} [release-1] " in labels[edits.id], "trial 43: the To: list showed no tags"
    assert "[" not in labels[head.id]
    # trial 4: the revert keeps one edit, so To is the live commit; the edits commit would ship
    # the dropped edit again
    assert dialog.to_ref.currentData() == head.id, "To: the live state, without the dropped edit"
    dialog.reject()

    window.history.select([edits.id])
    window.history.buttons["checkout"].click()
    box = window.last_confirm
    assert box.isVisible() and not window.lane.jobs, "nothing happens before the reviewer confirms"
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert not window.lane.jobs and window.session.live_commit.id == head.id
    window.history.buttons["checkout"].click()
    new_job(qtbot, window, window.last_confirm.button(QMessageBox.StandardButton.Yes).click)
    assert window.session.live_commit.id == edits.id
    window.close()

    again = open_window(qtbot)
    assert again.session.live_commit.id == edits.id, "the checked-out commit is restored"
    assert f"at checked-out commit {edits.short_id}" in again.live_status.toolTip()
    assert f"not HEAD {head.short_id}" in again.live_status.toolTip()
    again.close()


def test_patch_to_default_is_the_live_state_unless_it_holds_no_edit(qtbot, monkeypatch):
    """Trial 1 wanted the edits, not an empty revert; trial 4 wanted no dropped edit shipped again."""
    from types import SimpleNamespace

    from core.ledger.records import CommitRecord

    def commit(seq, kind, applied=(), dropped=()):
        return CommitRecord(f"c{seq}", seq, None, kind, "me", "", "", "", tuple(applied), tuple(dropped))

    root, edits, drop_one, drop_rest = (commit(0, "root"), commit(1, "commit", (1, 2)), commit(2, "revert", (), (2,)),
                                        commit(3, "revert", (), (1,)))
    window = open_window(qtbot)
    newest_first = [drop_rest, drop_one, edits, root]
    monkeypatch.setattr(window.session, "live_commit", drop_one, raising=False)
    assert window._patch_to_default(newest_first[1:]) == "c2", "one edit left: the live state"
    monkeypatch.setattr(window.session, "live_commit", drop_rest, raising=False)
    assert window._patch_to_default(newest_first) == "c2", "nothing left: the newest commit holding edits"
    monkeypatch.setattr(window.session, "live_commit", SimpleNamespace(id="c1", kind="commit"), raising=False)
    assert window._patch_to_default(newest_first) == "c1"
    window.close()


def test_dropping_an_edit_names_the_later_edits_computed_with_it_in_place(qtbot):
    from PySide6.QtCore import Qt

    from tests.app.helpers import click_preview, click_row

    window = open_window(qtbot)
    edits, (first, _second) = _two_edits_committed(qtbot, window)
    click_row(qtbot, window, 2)
    click_preview(qtbot, window)  # computed on HEAD, which holds the first two edits
    later = window.preview_panel.run
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    wait_job(qtbot, window.commit("a third, on top", force=True))
    wait_job(qtbot, window.revert_edit(edits.id, first.id, "drop the first"))
    qtbot.waitUntil(lambda: "drops run" in window.message.text(), timeout=10_000)
    assert "computed with a reverted one in place (see the box)" in window.message.text()
    # trial 32: the status bar cut it off and cleared it; a box keeps it until read, and the commit says it
    box = window.revert_report_box
    assert box.isVisible() and f"run {later.id} (computed with run {first.id} in place)" in box.text()
    again = next(b for b in box.buttons() if b.text() == "Compute it again…")  # issue 16: offered, one click
    box.close()
    window.show_commit([window.ws.head().id])
    assert f"run {later.id} (computed with run {first.id} in place)" in window.history.details.toPlainText()
    assert "Compute it again…" in window.history.details.toPlainText(), "one run: trial 39's 'Runs 4 are'"
    window.show_commit([edits.id])  # not a revert: nothing of the kind
    assert "Kept as stored" not in window.history.details.toPlainText()
    _compute_again(qtbot, window, later, again)
    window.close()


def _compute_again(qtbot, window, later, button):
    """The box's button: one more revert takes the run out, the same method computes it again on the
    state left, and the next commit lands the new run (its fact is still approved)."""
    from PySide6.QtWidgets import QInputDialog

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(QInputDialog, "getText", lambda *a, **k: ("without the first", True))
        button.click()
    qtbot.waitUntil(lambda: "computed again as run " in window.message.text(), timeout=60_000)
    assert window.message.text().startswith(f"Run {later.id} reverted in"), window.message.text()
    head = window.ws.head()
    assert head.kind == "revert" and head.dropped == (later.id,) and window.session.live_commit.id == head.id
    (new,) = window.ws.commit_candidates()
    assert new.method == later.method and new.computed_on == head.state_fingerprint
    _says_what_a_commit_takes(qtbot, window, new)
    assert wait_job(qtbot, window.commit("the third again", force=True)).state.value == "done"  # as it was
    assert window.ws.head().applied == (new.id,)
    window.queue.select([])
    window.queue.select(list(new.fact_ids))  # trial 39: once committed it read "approved …, not this run"
    qtbot.waitUntil(lambda: "this run computes it again after a revert, and the approval carries over"
                    in window.preview_panel.showing.text(), timeout=10_000)


def _says_what_a_commit_takes(qtbot, window, new):
    """Trial 38: the queue said "reverted", the preview "approved …, not this run", and the commit
    dialog ticked the new run: all three now say the commit re-applies the edit with it."""

    model = window.queue.model
    (fact_id,) = new.fact_ids
    row = model.row_of(fact_id)
    assert model.data(model.index(row, 0)) == f"reverted → run {new.id}"
    assert f"a commit re-applies it with run {new.id}" in model.data(model.index(row, 0),
                                                                     Qt.ItemDataRole.ToolTipRole)
    assert model.shown_run(fact_id).id == new.id, "the row's method and metrics are the run a commit takes"
    tip = model.data(model.index(row, 2), Qt.ItemDataRole.ToolTipRole)
    assert f"decided on run {new.environment['recomputed_from']} " in tip, "the decision stays where it was made"
    window.queue.select([fact_id])
    qtbot.waitUntil(lambda: "a commit takes this run in its place" in window.preview_panel.showing.text(),
                    timeout=10_000)
    dialog = window.open_commit_dialog()
    assert (f"recomputed from run {new.environment['recomputed_from']} after a revert: the fact's approval "
            "carries over") in dialog.table.item(0, 1).text()
    dialog.close()

def test_the_undo_each_other_box_names_at_most_ten_runs():
    """Second review, stop 33: a commit of hundreds of edits must not make a box taller than the screen."""
    from app.window_history import LISTED_EDITS
    from core.workflows.gates import GateCheck, GateWarning

    gate = GateCheck({"reliability": 0.95}, tuple(GateWarning(r, "reliability", 0.5, 0.95, True) for r in range(1, 31)))
    text = gate.describe(LISTED_EDITS)
    assert text.count("run ") == LISTED_EDITS == 10 and text.endswith("… and 20 more runs")
    few = GateCheck({}, gate.warnings[:2])
    assert few.describe(LISTED_EDITS) == few.describe() == gate.describe().split("; run 3")[0], "few: all of them"


def test_the_history_buttons_are_in_a_menu_for_the_keyboard(qtbot, monkeypatch):
    """Trial 38: Diff two, Revert…, Revert one edit… and Tag… were mouse-only."""
    from PySide6.QtWidgets import QApplication

    window = open_window(qtbot)
    edits, _ = _two_edits_committed(qtbot, window)
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "Hi&story")
    items = {a.text().split("\t")[0].replace("&", ""): a for a in menu.actions() if a.text()}
    window.tabs.setCurrentWidget(window.editor)
    window.history.select([])
    items["Show the commit list"].trigger()
    assert window.tabs.currentWidget() is window.history and QApplication.focusWidget() is window.history.tree
    assert window.history.selected_ids() == [window.ws.head().id], "trial 39: HEAD had the focus frame, unselected"
    window.history.select([])
    menu.aboutToShow.emit()
    assert not items["Tag the selected commit…"].isEnabled(), "nothing selected: nothing to tag"
    window.history.select([edits.id])
    menu.aboutToShow.emit()
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("v1", True))
    items["Tag the selected commit…"].trigger()
    qtbot.waitUntil(lambda: [(t.name, t.commit_id) for t in window.ws.tags()] == [("v1", edits.id)], timeout=10_000)
    window.close()


def test_a_commit_is_saved_as_a_model_folder_and_the_live_model_stays(qtbot, monkeypatch, tmp_path):
    """Trial 42: the window could only put a commit into the live model; a folder to share took
    the CLI's `checkout --out`."""
    from app import file_dialogs
    from core.ledger import materialise
    from core.model.fingerprint import state_fingerprint
    from core.model.loading import LoadOptions, load_model

    window = open_window(qtbot)
    edits, _ = _two_edits_committed(qtbot, window)
    live = state_fingerprint(window.lm.model)
    window.tabs.setCurrentWidget(window.history)
    window.history.select([edits.id])
    save = window.history.buttons["save"]
    assert save.isEnabled() and "model folder" in save.toolTip()
    out = tmp_path / "shared"  # a new folder's name, typed (trial 43: the folder chooser refused one)
    monkeypatch.setattr(file_dialogs, "save_file_name", lambda *a, **k: str(out))
    rebuilds = []
    monkeypatch.setattr(materialise, "load_base", lambda *a, **k: rebuilds.append(a))  # fails the job if called
    job = new_job(qtbot, window, save.click)
    assert job.state.value == "done", window.last_error.text()
    assert not rebuilds, "the live commit is written from the live model, not built a second time"
    monkeypatch.undo()
    assert f"Wrote commit {edits.id[:12]} as a model folder" in window.message.text()
    assert window.settings.value("history/model_folders") == str(tmp_path), "the next save starts there"
    assert state_fingerprint(window.lm.model) == live and window.session.live_commit.id == edits.id
    saved = load_model(out, LoadOptions(device="cpu"))
    assert state_fingerprint(saved.model) == window.ws.checkout(edits.id, options=LoadOptions(device="cpu")) \
        .weights_fingerprint
    root = window.ws.resolve("ROOT")
    window.history.select([root.id])  # not the live commit: built from the base
    monkeypatch.setattr(file_dialogs, "save_file_name", lambda *a, **k: str(tmp_path / "base"))
    assert new_job(qtbot, window, save.click).state.value == "done", window.last_error.text()
    assert state_fingerprint(load_model(tmp_path / "base", LoadOptions(device="cpu")).model) \
        == window.ws.checkout(root.id, options=LoadOptions(device="cpu")).weights_fingerprint
    assert state_fingerprint(window.lm.model) == live
    window.history.select([edits.id])
    window.history.buttons["checkout"].click()  # the live commit: nothing to replace
    assert "is the live model already" in window.message.text() and not window.lane.busy
    window.history.select([edits.id, window.ws.resolve("ROOT").id])
    assert not save.isEnabled(), "one commit at a time"
    window.close()
