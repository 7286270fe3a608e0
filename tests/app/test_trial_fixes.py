"""A second new-user trial (issue 14): what misled the user, driven as the user did."""

import pytest
from PySide6.QtCore import QPoint, Qt

from app.widgets.history_panel import DETAILS_HINT
from core.util.paths import demo_edits_file
from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _ready(qtbot, **kwargs):
    window = open_window(qtbot, **kwargs)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    return window


def test_layer_auto_without_a_meaningful_trace_says_it_kept_the_presets_layer(qtbot, monkeypatch):
    from core.workflows import auto_layer

    monkeypatch.setattr(auto_layer, "MIN_CLEAN_P", 2.0)  # no trace is meaningful, as for an edited fact
    window = _ready(qtbot)
    window.method_panel.set_override("layer", "auto")
    click_row(qtbot, window, 0)
    job = click_preview(qtbot, window)
    assert job.state.value == "done", window.last_error.text() if hasattr(window, "last_error") else ""
    shown = window.preview_panel.showing.text()
    assert "layer auto: no meaningful trace, so the preset's layer was used" in shown
    window.close()


def test_approve_without_a_preview_is_refused_and_the_commit_dialog_lists_unrun_approvals(qtbot):
    window = _ready(qtbot)
    fact_id = click_row(qtbot, window, 1)
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert window.ws.fact(fact_id).status == "pending"
    message = window.review_bar.message.text()
    assert "Preview first" in message and window.ws.fact(fact_id).fact.subject in message
    window.ws.review(fact_id, "approve")  # approved elsewhere (the CLI) without a run
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    assert dialog.left_out.isVisibleTo(dialog)
    assert "Approved, no run — not committed" in dialog.left_out.text()
    assert window.ws.fact(fact_id).fact.subject in dialog.left_out.text()
    dialog.reject()
    window.close()


def test_a_run_computed_before_the_latest_commit_says_so_in_the_preview_and_commit_dialog(qtbot):
    window = _ready(qtbot)
    first = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    run_first = window.queue.model.latest_run(first).id
    window.review_selected("approve")
    second = click_row(qtbot, window, 1)
    click_preview(qtbot, window)
    window.review_selected("approve")
    root = window.ws.head().short_id
    assert wait_job(qtbot, window.commit("first only", [run_first], force=True)).state.value == "done"
    head = window.ws.head().short_id
    click_row(qtbot, window, 0)
    click_row(qtbot, window, 1)
    shown = window.preview_panel.showing.text()
    assert f"Computed on commit {root}, HEAD is now {head}" in shown and "preview again" in shown
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    run_second = window.queue.model.latest_run(second).id
    assert dialog.stale_note.isVisibleTo(dialog) and f"run {run_second} computed on commit {root}" in \
        dialog.stale_note.text()
    assert f"HEAD is {head}" in dialog.table.item(0, 5).text()
    dialog.reject()
    window.close()


def test_a_decided_row_shows_the_decided_run_and_the_reject_note_is_visible(qtbot):
    from app.models.fact_table import COLUMNS

    window = _ready(qtbot)
    fact_id = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    decided = window.queue.model.latest_run(fact_id)
    window.review_bar.note.setText("moves the neighbours")
    qtbot.mouseClick(window.review_bar.buttons["reject"], Qt.MouseButton.LeftButton)
    window.method_panel.set_override("v_steps", "2")
    click_preview(qtbot, window)
    latest = window.queue.model.latest_run(fact_id)
    assert latest.id != decided.id
    model, row = window.queue.model, window.queue.model.row_of(fact_id)
    method = model.index(row, COLUMNS.index("Method")).data()
    assert method == f"rome (run {decided.id}, decided)"
    reliability = model.index(row, COLUMNS.index("Reliability")).data()
    assert reliability == f"{decided.metrics['post']['reliability']:.2f}"
    tip = model.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "rejected by" in tip and "moves the neighbours" in tip and f"decided on run {decided.id}" in tip
    shown = window.preview_panel.showing.text()
    assert f"made on run {decided.id} (ROME), not this run" in shown and "moves the neighbours" in shown
    window.close()


def test_the_commit_dialog_opens_in_its_message_and_the_prompt_tab_takes_the_keyboard(qtbot):
    window = _ready(qtbot)
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    window.review_selected("approve")
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.focusWidget() is dialog.message, timeout=2_000)
    qtbot.keyClicks(dialog.focusWidget(), "first edit")
    assert dialog.message.text() == "first edit"
    dialog.reject()
    click_row(qtbot, window, 1)
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(window.prompt_panel)).center())
    assert window.tabs.currentWidget() is window.prompt_panel
    qtbot.waitUntil(lambda: window.focusWidget() is window.prompt_panel.input, timeout=2_000)
    qtbot.keyClicks(window.focusWidget(), "Paris is")
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Return)
    assert window.prompt_panel.input.text() == "Paris is"
    assert window.tabs.currentWidget() is window.prompt_panel, "Enter did not open the fact editor"
    window.close()


def test_the_commit_dialog_warns_of_every_failing_check_and_says_what_the_gate_checks(qtbot):
    from types import SimpleNamespace

    from app.dialogs.commit_dialog import CommitDialog
    from core import DEFAULT_THRESHOLDS

    checks = [{"metric": "reliability", "value": 1.0, "bound": 0.95, "held": True},
              {"metric": "generality", "value": 0.4, "bound": 0.8, "held": False},
              {"metric": "locality", "value": 0.75, "bound": 0.9, "held": False},
              {"metric": "fluency", "value": 3.1, "bound": 3.4, "held": False}]
    run = SimpleNamespace(id=7, fact_ids=("f1",), method="rome", computed_on="s",
                          metrics={"post": {"reliability": 1.0, "locality": 0.75},
                                   "verdict": {"verdict": "side effects", "facts": [{"checks": checks}]}})
    dialog = CommitDialog([run], {}, dict(DEFAULT_THRESHOLDS))
    qtbot.addWidget(dialog)
    cell = dialog.table.item(0, 5).text()
    for said in ("locality 0.75 < 0.90", "generality 0.40 < 0.80", "fluency 3.10 < 3.40"):
        assert said in cell, cell
    note = dialog.gate_note.text()
    assert "same targets the verdict" not in note and "generality" in note and "fluency" in note
    assert dialog.needs_force(), "the gate's own locality warning still forces"
    from PySide6.QtCore import Qt

    dialog.show()
    dialog.message.setFocus()
    qtbot.keyClicks(dialog.message, "capital edits")
    qtbot.keyClick(dialog.message, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.result() == 0, "trial 39: Enter committed as forced, unasked"
    assert dialog.commit_button.isEnabled(), "a click still does"
    dialog.buttons.button(dialog.buttons.StandardButton.Cancel).setFocus()  # a Tab through Cancel and back:
    dialog.message.setFocus()  # Qt makes the first accept button the default again
    qtbot.keyClick(dialog.message, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.result() == 0 and "takes a click" in dialog.summary.text()


def test_the_verdicts_advice_names_the_windows_controls_not_cli_flags(qtbot):
    window = _ready(qtbot)
    window.method_panel.set_override("v_lr", "1e-9")  # an edit that cannot move the model
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    assert window.preview_panel.run.metrics["verdict"]["verdict"] == "failed"
    said = window.preview_panel.state.text()
    headline = window.preview_panel.metrics.table.item(0, 0).toolTip()
    for text in (said, headline):
        assert "Tune preset… button" in text and "type auto in the layer field" in text, text
        assert "--layer" not in text and "factsmith tune" not in text
    window.close()


def _history_row(qtbot, window, commit_id: str) -> None:
    tree = window.history.tree
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        if item.data(0, Qt.ItemDataRole.UserRole) == commit_id:
            rect = tree.visualItemRect(item)  # spans every column, wider than a narrow pane: click its start
            where = QPoint(rect.left() + 40, rect.center().y())
            qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=where)
            return
    raise AssertionError(f"no history row for {commit_id}")


def test_history_details_follow_a_new_commit_and_revert_lists_the_edits_it_removes(qtbot, monkeypatch):
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QInputDialog

    from app.widgets.history_panel import COPY_ID_SCHEME

    window = _ready(qtbot)
    fact_id = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    run = window.queue.model.latest_run(fact_id)
    window.review_selected("approve")
    assert wait_job(qtbot, window.commit("first edit", force=True)).state.value == "done"
    first = window.ws.head()
    window.tabs.setCurrentWidget(window.history)
    _history_row(qtbot, window, first.id)
    assert "first edit" in window.history.details.toPlainText()
    # the pane shows 16 hex digits (the whole 64 ran off a 1024-wide window); the link copies them all
    assert f"commit {first.id[:16]} (copy full id)" in window.history.details.toPlainText()
    window.history.details.anchorClicked.emit(QUrl(f"{COPY_ID_SCHEME}{first.id}"))
    assert QGuiApplication.clipboard().text() == first.id and first.id in window.message.text()
    asked = []
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (asked.append(a[2]) or "take it back", True))
    qtbot.mouseClick(window.history.buttons["revert"], Qt.MouseButton.LeftButton)
    wait_job(qtbot, window.lane.jobs[-1])
    subject = window.ws.fact(fact_id).fact.subject
    assert f"run {run.id} (rome): {subject} →" in asked[0] and "leave the model" in asked[0]
    head = window.ws.head()
    assert head.kind == "revert" and window.history.selected_ids() == [head.id]
    assert "take it back" in window.history.details.toPlainText()
    assert "first edit" not in window.history.details.toPlainText().splitlines()[0]
    window.history.tree.clearSelection()
    assert window.history.details.toPlainText() == DETAILS_HINT, "no stale commit: what the pane is for"
    window.close()


def test_the_cleared_editor_shows_no_error_and_a_fact_without_preview_shows_no_full_bar(qtbot):
    window = _ready(qtbot)
    editor = window.editor
    window.tabs.setCurrentWidget(editor)
    for name, text in (("subject", "Germany"), ("prompt", "The capital of Germany is"), ("target_new", "Lisbon")):
        editor.fields[name].setFocus()
        qtbot.keyClicks(editor.fields[name], text)
    qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton)
    assert any(r.fact.subject == "Germany" for r in window.ws.queue())
    shown = editor.validation.text()
    assert "required" not in shown and "#a33" not in shown and "Fill in" in shown
    assert all(not w.styleSheet() for w in editor.fields.values()), "no field outlined in red"
    assert not editor.add_button.isEnabled()
    editor.fields["subject"].setFocus()
    qtbot.keyClicks(editor.fields["subject"], "Spain")
    assert "#a33" in editor.validation.text(), "a started form is validated"

    window.tabs.setCurrentIndex(0)
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    assert window.preview_panel.bar.value() == 1000
    click_row(qtbot, window, 1)
    assert window.preview_panel.run is None and window.preview_panel.bar.value() == 0
    window.close()
