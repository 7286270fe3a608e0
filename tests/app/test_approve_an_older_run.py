"""Trial 32: Approve took the fact's latest run; a reviewer who previewed twice could not
approve the first preview without computing it again. Run: picks the run shown and approved."""

import pytest
from PySide6.QtCore import Qt

from core.util.paths import demo_edits_file
from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _two_runs(qtbot):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    fact_id = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    window.method_panel.set_override("v_steps", "2")
    click_preview(qtbot, window)
    return window, fact_id, window.ws.runs(fact_id)


def _pick(window, run_id: int) -> None:
    combo = window.preview_panel.run_choice.combo
    index = combo.findData(run_id)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)  # what a click on the item sends


def test_run_choice_lists_the_facts_runs_newest_first_and_shows_the_one_picked(qtbot):
    window, _, (older, newer) = _two_runs(qtbot)
    choice = window.preview_panel.run_choice
    assert choice.isVisible()
    combo = choice.combo
    assert [combo.itemData(i) for i in range(combo.count())] == [newer.id, older.id]
    assert combo.itemText(1).startswith(f"run {older.id} · ROME")
    _pick(window, older.id)
    assert window.preview_panel.run.id == older.id
    assert f"run {older.id} " in window.preview_panel.showing.text()
    window.method_panel.method.setCurrentText("ice")  # the pane keeps the pick
    assert window.preview_panel.run.id == older.id
    click_row(qtbot, window, 1)  # a fact without runs: nothing to pick
    assert not choice.isVisible()
    click_row(qtbot, window, 0)  # back: the latest again, the pick was for the pane, not kept
    assert window.preview_panel.run.id == newer.id
    window.close()


def test_approve_takes_the_run_shown_and_the_commit_applies_it(qtbot):
    window, fact_id, (older, newer) = _two_runs(qtbot)
    _pick(window, older.id)
    bar = window.review_bar
    qtbot.mouseClick(bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert bar.message.text() == f"approve: 1 fact(s), run {older.id} (ROME)"
    assert window.ws.history(fact_id)[-1].run_id == older.id
    assert window.queue.model.decided_run(fact_id).id == older.id
    assert window.preview_panel.run_choice.combo.itemText(1).endswith("· approved")
    _pick(window, newer.id)  # approving another run of an approved fact switches the approval
    qtbot.mouseClick(bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert window.ws.history(fact_id)[-1].run_id == newer.id
    qtbot.mouseClick(bar.undo_button, Qt.MouseButton.LeftButton)  # and Undo switches back
    assert window.ws.history(fact_id)[-1].run_id == older.id
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    assert dialog.run_ids() == [older.id]
    dialog.reject()
    window.close()


def test_with_several_facts_selected_no_run_is_offered_and_each_latest_is_approved(qtbot):
    """Review of this stop: with a pick held for one fact, Ctrl+clicking a second still showed the
    pick while Approve took each fact's latest run."""
    window, _, (older, newer) = _two_runs(qtbot)
    _pick(window, older.id)
    click_row(qtbot, window, 1)
    click_preview(qtbot, window)
    other = window.queue.model.latest_run(window.queue.selected_ids()[0])
    table = window.queue.table
    first = table.visualRect(window.queue.proxy.index(0, 1)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, first)
    assert len(window.queue.selected_ids()) == 2
    assert not window.preview_panel.run_choice.isVisible()
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert {window.ws.history(i)[-1].run_id for i in window.queue.selected_ids()} == {newer.id, other.id}
    assert f"run {newer.id} (ROME)" in window.review_bar.message.text()
    window.close()


def test_a_rejected_facts_run_is_not_marked_approved(qtbot):
    window = _two_runs(qtbot)[0]
    window.review_bar.note.setText("wrong answer")
    qtbot.mouseClick(window.review_bar.buttons["reject"], Qt.MouseButton.LeftButton)
    window.show_selected_run()
    combo = window.preview_panel.run_choice.combo
    assert not any("approved" in combo.itemText(i) for i in range(combo.count()))
    window.close()
