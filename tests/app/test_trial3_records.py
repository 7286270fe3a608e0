"""Trial 3 (records): an audit trail that never misleads, driven as the user did. Run labels
name that run's own commit and revert; a reverted fact is said as reverted in the commit
dialog and the export; forced commits and review notes show in History; the commit
dialog counts the ticked runs; the drift chart says what it averages."""

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from app.widgets.history_panel import KIND
from tests.app.helpers import click_preview, click_row, new_job, open_window, preview_and_approve_two, wait_job
from tests.app.test_patch_apply import unsigned_patch  # noqa: F401 (a fixture)

pytestmark = pytest.mark.gui


def _commit_dialog_counts_ticked_runs(qtbot, window, runs):
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    assert dialog.summary.text().startswith("2 of 2 approved run(s) selected")
    dialog.table.item(1, 0).setCheckState(Qt.CheckState.Unchecked)  # the user unticks one
    assert dialog.summary.text().startswith("1 of 2 approved run(s) selected")
    assert dialog.run_ids() == [runs[0].id]
    dialog.table.item(1, 0).setCheckState(Qt.CheckState.Checked)
    assert dialog.summary.text().startswith("2 of 2")
    for spin in dialog.thresholds.values():
        spin.setValue(1.0)  # both runs under the gate: the commit is forced
    assert dialog.commit_button.text() == "Commit anyway (recorded as forced)"
    dialog.message.setText("two edits")
    before = window.lane.jobs
    qtbot.mouseClick(dialog.commit_button, Qt.MouseButton.LeftButton)
    wait_job(qtbot, next(j for j in window.lane.jobs if j not in before))
    return window.ws.head()


def test_labels_reverts_forced_commits_and_the_drift_chart_tell_the_truth(qtbot, monkeypatch, tmp_path):
    window = open_window(qtbot)
    kept, dropped = preview_and_approve_two(qtbot, window, note="checked row")
    edits = _commit_dialog_counts_ticked_runs(qtbot, window, [kept, dropped])
    assert edits.forced and edits.applied == (kept.id, dropped.id)

    window.tabs.setCurrentWidget(window.history)
    top = window.history.tree.topLevelItem(0)
    assert top.text(KIND) == "commit · forced", "History's list says the commit was forced"
    window.history.select([edits.id])
    details = window.history.details.toPlainText()
    assert "Forced: committed anyway under the commit gate" in details
    assert "checked row 0" in details and "checked row 1" in details, "each fact's review note"

    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (a[3][1], True))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("drop the second edit", True))
    new_job(qtbot, window, window.history.buttons["revert_edit"].click)
    revert = window.ws.head()
    assert revert.kind == "revert" and revert.dropped == (dropped.id,)

    window.tabs.setCurrentIndex(0)
    click_row(qtbot, window, 0)
    label = window.preview_panel.state.text()
    assert f"run {kept.id} (committed in {edits.short_id})" in label, "its own commit, not the revert"
    reverted_id = click_row(qtbot, window, 1)
    subject = window.ws.fact(reverted_id).fact.subject
    assert f"run {dropped.id} (committed in {edits.short_id}, then reverted in {revert.short_id})" in \
        window.preview_panel.state.text()
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    text = dialog.left_out.text()
    assert f"Reverted in {revert.short_id}: {subject}" in text and "preview again to re-apply" in text
    assert "Approved, no run" not in text, "a reverted edit is not said to be pending"
    dialog.reject()

    click_preview(qtbot, window)  # a brand-new preview of the reverted fact
    fresh = window.preview_panel.run
    assert f"run {fresh.id} (not committed)" in window.preview_panel.state.text()
    click_row(qtbot, window, 0)
    click_row(qtbot, window, 1)
    assert f"run {fresh.id} (not committed)" in window.preview_panel.state.text(), "as stored, after reselecting"

    out = tmp_path / "approved.jsonl"
    wait_job(qtbot, window.export_facts(out))
    rows = {r["subject"]: r for r in map(json.loads, out.read_text().splitlines())}
    # trial 34: an approved set leaves the reverted fact out (replaying it would bring the edit back),
    # and says so: no row dropped silently
    assert subject not in rows and len(rows) == 1
    qtbot.waitUntil(lambda: "left out 1 whose edit was reverted" in window.message.text(), timeout=10_000)
    wait_job(qtbot, window.export_facts(out, "jsonl", []))  # every status: the row, marked
    rows = {r["subject"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert (rows[subject]["committed"], rows[subject]["reverted_in"]) == (False, revert.id)

    assert window.history.chart.getViewBox().viewRange()[1] == pytest.approx([0, 1.05])
    assert "mean over the edits live at each commit" in window.history.chart.toolTip()
    window.close()


def test_an_unsigned_refusal_wraps_below_the_inputs_and_logs_one_warning_line(qtbot, tiny_model_dir, tmp_path,
                                                                              unsigned_patch, caplog):  # noqa: F811
    """Finding 6: the refusal squashed the path fields and Browse buttons, and was logged as an
    ERROR with a traceback although it is the expected answer to an unsigned patch."""
    import logging

    from PySide6.QtWidgets import QDialogButtonBox, QLineEdit, QPushButton

    patch, _ = unsigned_patch
    window = open_window(qtbot, model_path=tiny_model_dir("gpt2"))
    dialog = window.open_patch_apply_dialog()
    dialog.patch.setText(str(patch))
    dialog.out.setText(str(tmp_path / "patched"))
    qtbot.waitExposed(dialog)
    widths = {e: e.width() for e in dialog.findChildren(QLineEdit)}
    caplog.set_level(logging.INFO)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Not applied" in dialog.state.text(), timeout=60_000)
    qtbot.wait(50)
    for edit, width in widths.items():
        assert edit.width() >= width, "the refusal does not narrow the path fields"
        assert edit.height() >= edit.minimumSizeHint().height(), "nor squash them"
    for button in dialog.findChildren(QPushButton):
        assert button.height() >= button.minimumSizeHint().height(), "Browse… keeps its size"
        assert button.width() >= button.minimumSizeHint().width()
    state = dialog.state
    assert state.height() >= state.heightForWidth(state.width()), "the whole refusal shows, wrapped"
    assert state.geometry().top() > dialog.out.parentWidget().geometry().bottom(), "on a row of its own"
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert refusals and all(r.levelno == logging.WARNING and r.exc_info is None for r in refusals)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "job" in r.getMessage()]
    window.close()
