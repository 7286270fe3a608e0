"""Keyboard, focus and layout of the main window, driven as the user did: the import dialog with
no file chosen, focus after Add to queue, the two undos, opening a queued fact, the status bar,
the queue's columns and scroll position, and the layout at 1366×768."""

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.widgets.review_bar import NOTE_HINT
from core.util.paths import demo_edits_file
from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui
CTRL, ALT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier


def _active(qtbot, **kwargs):
    window = open_window(qtbot, **kwargs)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    return window


def _imported(qtbot, **kwargs):
    window = _active(qtbot, **kwargs)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    return window


def test_import_waits_for_a_chosen_file(qtbot):
    window = _active(qtbot)
    dialog = window.open_import_dialog()
    assert dialog.path.text() == "" and not Path(dialog.path.placeholderText()).is_file()
    assert not dialog.import_button.isEnabled(), "nothing chosen: nothing to import"
    qtbot.keyClick(dialog.path, Qt.Key.Key_Return)
    assert getattr(window, "last_error", None) is None and window.ws.queue() == []
    assert dialog.detected.text() == "Choose a file"
    qtbot.mouseClick(dialog.example_button, Qt.MouseButton.LeftButton)
    assert dialog.path.text() == str(demo_edits_file()) and dialog.import_button.isEnabled()
    with qtbot.waitSignal(window.session.facts_changed, timeout=60_000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert len(window.ws.queue()) == 60
    window.close()


def test_after_add_to_queue_the_focus_is_on_the_new_row(qtbot):
    window = _active(qtbot)
    qtbot.keyClick(window, Qt.Key.Key_N, CTRL)
    editor = window.editor
    for name, text in (("subject", "Germany"), ("prompt", "The capital of Germany is"),
                       ("target_new", "Lisbon")):
        qtbot.keyClicks(editor.fields[name], text)
    qtbot.keyClick(editor.fields["target_new"], Qt.Key.Key_Return, CTRL)
    table = window.queue.table
    assert QApplication.focusWidget() is table
    fact_id = window.queue.selected_ids()[0]
    assert window.ws.fact(fact_id).fact.subject == "Germany"
    assert window.queue.proxy.index(table.currentIndex().row(), 0).data(Qt.ItemDataRole.UserRole + 1) == fact_id
    folder = window.model_panel.folder.currentText()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Q)
    assert window.model_panel.folder.currentText() == folder, "the next keystroke never replaces the path"
    window.close()


def test_ctrl_z_undoes_the_note_and_alt_u_the_decision(qtbot):
    window = _imported(qtbot)
    bar = window.review_bar
    assert bar.undo_button.text() == "Undo (Alt+U)" and not bar.undo_button.isEnabled()
    fact_id = click_row(qtbot, window, 0)
    qtbot.mouseClick(bar.buttons["rework"], Qt.MouseButton.LeftButton)  # approving needs a preview first
    assert window.ws.fact(fact_id).status == "needs-rework"
    assert bar.undo_button.text() == "Undo needs-rework United Kingdom (Alt+U)"
    bar.note.setFocus()
    qtbot.keyClicks(bar.note, "typo")
    qtbot.keyClick(bar.note, Qt.Key.Key_Z, CTRL)
    assert bar.note.text() != "typo", "Ctrl+Z undid the typing"
    assert window.ws.fact(fact_id).status == "needs-rework", "…and not the decision"
    qtbot.keyClick(bar.note, Qt.Key.Key_U, ALT)
    qtbot.waitUntil(lambda: window.ws.fact(fact_id).status == "pending", timeout=2_000)
    assert bar.undo_button.text() == "Undo (Alt+U)" and not bar.undo_button.isEnabled()
    window.close()


def test_review_keys_work_on_every_tab(qtbot):
    """Trial 37: on the Fact editor tab Alt+R did nothing. The Preview tab, with the review line
    and its message, now comes forward and the key does what its button does."""
    window = _imported(qtbot)
    bar = window.review_bar
    click_row(qtbot, window, 0)
    window.tabs.setCurrentWidget(window.editor)
    qtbot.keyClick(window.editor.fields["subject"], Qt.Key.Key_U, ALT)
    assert window.tabs.currentIndex() == 0 and bar.message.text().startswith("Nothing to undo")
    window.tabs.setCurrentWidget(window.editor)
    qtbot.keyClick(window.editor.fields["subject"], Qt.Key.Key_R, ALT)
    assert window.tabs.currentIndex() == 0 and "Write a note" in bar.message.text()
    window.tabs.setCurrentWidget(window.history)
    fact_id = window.queue.selected_ids()[0]
    qtbot.keyClick(window.history, Qt.Key.Key_W, ALT)
    qtbot.waitUntil(lambda: window.ws.fact(fact_id).status == "needs-rework", timeout=5_000)
    window.close()


def test_a_queued_fact_opens_in_the_editor_to_fix_and_rerun(qtbot):
    window = _imported(qtbot)
    first = click_row(qtbot, window, 0, double=True)
    assert window.tabs.currentWidget() is window.editor
    assert window.editor.fields["subject"].text() == window.ws.fact(first).fact.subject
    second = click_row(qtbot, window, 1)
    qtbot.keyClick(window.queue.table, Qt.Key.Key_Return)
    assert window.editor.fields["subject"].text() == window.ws.fact(second).fact.subject
    assert window.queue.open_action in window.queue.table.actions(), "also in the row's context menu"
    click_row(qtbot, window, 2)
    window.queue.open_action.trigger()
    target = window.editor.fields["target_new"]
    assert window.editor.fields["subject"].text() == window.ws.fact(window.queue.selected_ids()[0]).fact.subject
    target.selectAll()
    qtbot.keyClicks(target, "Paris")
    qtbot.keyClick(target, Qt.Key.Key_Return, CTRL)
    fixed = window.queue.selected_ids()[0]
    assert window.ws.fact(fixed).fact.target_new == "Paris"
    fast_rome(window)
    window.tabs.setCurrentIndex(0)
    assert click_preview(qtbot, window).state.value == "done" and window.preview_panel.run.fact_ids == (fixed,)
    window.close()


def test_status_bar_elides_beside_the_permanent_widgets_at_1366(qtbot):
    window = _imported(qtbot)
    window.resize(1366, 768)
    qtbot.wait(50)
    text = "Imported 60 facts from demo_edits.jsonl (factsmith); " + "a long explanation " * 30
    window.notify(text)
    QApplication.processEvents()
    message, live, job = window.message, window.live_status, window.job_status
    assert message.toolTip() == text and message.shown_text().endswith("…")
    assert message.geometry().right() < live.geometry().left(), "side by side, never under"
    assert live.geometry().right() < job.geometry().left()
    assert "at HEAD, commit" in live.toolTip() and live.shown_text() == live.text(), "the short line whole"
    assert live.fontMetrics().horizontalAdvance(live.shown_text()) <= live.contentsRect().width()
    window.close()


def test_queue_columns_are_configurable_and_remembered(qtbot):
    window = _active(qtbot)
    header = window.queue.table.horizontalHeader()
    assert header.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    old_answer = next(a for a in header.actions() if a.text() == "Old answer")
    old_answer.trigger()
    assert window.queue.table.isColumnHidden(3)
    header.resizeSection(2, 333)
    window.close()
    again = open_window(qtbot)
    header = again.queue.table.horizontalHeader()
    assert again.queue.table.isColumnHidden(3) and header.sectionSize(2) == 333
    assert not next(a for a in header.actions() if a.text() == "Old answer").isChecked()
    again.close()


def test_layout_at_1366_keeps_scroll_buttons_metrics_and_ticks(qtbot):
    window = _imported(qtbot)
    window.resize(1366, 768)
    fast_rome(window)
    fact_id = click_row(qtbot, window, 40)
    table = window.queue.table
    bars = (table.verticalScrollBar(), table.horizontalScrollBar())
    bars[0].setValue(bars[0].value() + 2)
    bars[1].setValue(bars[1].maximum())
    kept = [bar.value() for bar in bars]
    assert kept[0] > 0
    click_preview(qtbot, window)
    assert [bar.value() for bar in bars] == kept and window.queue.selected_ids() == [fact_id]

    bar = window.review_bar
    places = [b.geometry() for b in (*bar.buttons.values(), bar.undo_button)]
    qtbot.mouseClick(bar.buttons["reject"], Qt.MouseButton.LeftButton)  # no note: the message appears
    QApplication.processEvents()
    assert "note" in bar.message.text()
    assert [b.geometry() for b in (*bar.buttons.values(), bar.undo_button)] == places
    assert bar.note.width() > bar.note.fontMetrics().horizontalAdvance(NOTE_HINT)

    panel = window.preview_panel
    panel.tabs.setCurrentWidget(panel.metrics)
    QApplication.processEvents()
    metrics = panel.metrics.table
    header = metrics.horizontalHeader()
    ends = [header.sectionViewportPosition(c) + metrics.columnWidth(c) for c in (3, 4)]
    assert max(ends) <= metrics.viewport().width(), "Change and Protocol are in view"
    protocols = [metrics.item(r, 4).text() for r in range(metrics.rowCount()) if metrics.columnSpan(r, 0) == 1]
    width = max(metrics.fontMetrics().horizontalAdvance(t) for t in protocols)
    assert metrics.columnWidth(4) > width, "Protocol is never cut off"
    ticks = panel.loss.getAxis("bottom").tickValues(0.6, 3.4, 400)
    assert ticks and all(float(v).is_integer() for _, values in ticks for v in values)
    axis = window.history.chart.getAxis("bottom")
    window.history.set_drift([(1, 0.5, 0.9, 1), (2, 0.6, 0.8, 2)])
    assert not axis.autoSIPrefix and "x0.001" not in axis.labelString()
    window.close()


def test_suggest_proposes_locality_prompts_in_a_new_workspace(qtbot):
    window = _active(qtbot)
    assert window.ws.queue() == [], "a new workspace: no other facts to borrow prompts from"
    editor = window.editor
    qtbot.keyClick(window, Qt.Key.Key_N, CTRL)
    qtbot.keyClicks(editor.fields["subject"], "France")
    qtbot.keyClicks(editor.fields["prompt"], "The capital of France is")
    before = window.lane.jobs
    qtbot.mouseClick(editor.suggest_button, Qt.MouseButton.LeftButton)
    wait_job(qtbot, next(j for j in window.lane.jobs if j not in before), 60_000)
    assert editor.fields["target_true"].text() == "Paris"
    probes = editor.locality.rows()
    assert len(probes) == 3 and all(prompt and answer and "France" not in prompt for prompt, answer in probes)
    window.close()


def test_suggest_waits_for_a_prompt_instead_of_an_error_box(qtbot):
    """Trial 45: Suggest with no prompt opened a modal error; it is off until there is a prompt
    to continue, and its tooltip says so."""
    window = _active(qtbot)
    editor = window.editor
    qtbot.keyClick(window, Qt.Key.Key_N, CTRL)
    qtbot.keyClicks(editor.fields["subject"], "France")
    assert not editor.suggest_button.isEnabled() and "prompt first" in editor.suggest_button.toolTip()
    qtbot.keyClicks(editor.fields["prompt"], "The capital of France is")
    assert editor.suggest_button.isEnabled() and "prompt first" not in editor.suggest_button.toolTip()
    editor.fields["prompt"].setText("   ")
    assert not editor.suggest_button.isEnabled()
    window.close()
