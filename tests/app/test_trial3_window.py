"""Findings of the new-user trial 3 in the main window, driven as the user did."""

import pytest
from PySide6.QtCore import Qt

from app.widgets.metrics_view import BAD, GOOD
from core.util.paths import demo_edits_file
from tests.app.helpers import click_row, open_window, wait_job

pytestmark = pytest.mark.gui


def _change_cells(metrics) -> dict:
    table = metrics.table
    return {table.item(r, 0).data(Qt.ItemDataRole.UserRole): metrics.change_colour(r)  # the full metric name
            for r in range(table.rowCount()) if table.columnSpan(r, 0) == 1}


def test_change_cells_follow_the_legend_for_each_metric_whatever_the_verdict(qtbot):
    """Trial 3, finding 1: reliability +0.5 was as pink as locality −0.333 on an edit with side effects."""
    window = open_window(qtbot)
    metrics = window.preview_panel.metrics
    pre = {"reliability": 0.25, "locality": 1.0, "probability.reliability": 0.0, "ppl_r": 2.0,
           "probability.p_old": 0.4, "fluency": 600.0, "generality": 0.5}
    post = {"reliability": 0.75, "locality": 0.667, "probability.reliability": 1.0, "ppl_r": 3.0,
            "probability.p_old": 0.1, "fluency": 600.0, "generality": 0.5}
    metrics.set_metrics({"pre_all": pre, "post_all": post, "pre": pre, "post": post,
                         "verdict": {"verdict": "side effects", "reasons": ["locality fell"]}})
    assert metrics.table.item(0, 0).text().startswith("Verdict:")
    assert metrics.table.item(0, 0).foreground().color().name() == "#b36b00", "the verdict row keeps its colour"
    cells = _change_cells(metrics)
    assert cells["reliability"] == GOOD and cells["probability.reliability"] == GOOD
    assert cells["locality"] == BAD
    assert cells["ppl_r"] == BAD and cells["probability.p_old"] == GOOD, "lower is better for these"
    assert cells["fluency"] is None and cells["generality"] is None, "no colour for no change"
    window.close()


def test_status_messages_keep_their_counts_and_file_name_at_1366(qtbot, tmp_path):
    """Trial 3, finding 2: at 1366×768 all three status segments were cut and the patch's path
    vanished after a few seconds; the model line is short, a written file's message stays."""
    from PySide6.QtWidgets import QApplication

    window = open_window(qtbot)
    window.resize(1366, 768)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    QApplication.processEvents()
    message, live = window.message, window.live_status
    assert message.shown_text() == message.text(), "the import message unelided"
    assert "Imported 60 facts" in message.shown_text() and "demo_edits.jsonl" in message.shown_text()
    head = window.ws.head()
    assert live.shown_text() == f"demo-model · cpu · HEAD {head.short_id}", live.shown_text()
    assert "at HEAD, commit" in live.toolTip() and "workspace" in live.toolTip(), "the whole story in the tooltip"
    out = tmp_path / ("a-rather-long-folder-name-for-exports-" * 3) / "nested" / "edits.jsonl"
    out.parent.mkdir(parents=True)  # (an empty patch is refused since trial 45: the queue's export writes a file)
    wait_job(qtbot, window.export_facts(out, statuses=None), 60_000)
    QApplication.processEvents()
    shown = message.shown_text()
    assert shown.startswith("Exported 60 facts to ") and shown.endswith("/edits.jsonl"), shown
    assert "…" in shown and message.toolTip().endswith(str(out)), "the folders elided in the middle, all in the tip"
    assert message.fontMetrics().horizontalAdvance(shown) <= message.contentsRect().width()
    assert not window._message_timer.isActive(), "a written file's message stays until the next one"
    window.resize(1920, 1080)
    QApplication.processEvents()
    assert message.shown_text().endswith("/edits.jsonl")
    assert live.shown_text() == live.text() and live.width() >= live.sizeHint().width() - 1, "its natural width"
    window.close()


@pytest.mark.parametrize("rows", ["paraphrases", "locality"])
def test_add_row_opens_it_for_typing_and_an_empty_row_goes(qtbot, rows):
    """Trial 3, finding 3: Add paraphrase added a row without starting to edit it, so typed text
    went nowhere and empty rows stayed."""
    from PySide6.QtWidgets import QApplication

    window = open_window(qtbot)
    window.tabs.setCurrentWidget(window.editor)
    row_list = getattr(window.editor, rows)
    qtbot.mouseClick(row_list.add_button, Qt.MouseButton.LeftButton)
    editor = QApplication.focusWidget()
    assert editor is not None and row_list.table.isAncestorOf(editor), "the new row is being edited"
    qtbot.keyClicks(editor, "The Eiffel Tower is in")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.wait(10)
    assert row_list.rows()[0][0] == "The Eiffel Tower is in"
    qtbot.mouseClick(row_list.add_button, Qt.MouseButton.LeftButton)
    assert row_list.table.rowCount() == 2
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)  # nothing typed
    qtbot.waitUntil(lambda: row_list.table.rowCount() == 1, timeout=2_000)
    window.close()


def test_the_fact_id_follows_a_cell_while_it_is_typed_and_escape_puts_it_back(qtbot):
    """Stop 32's note: the "Valid — fact …" id stayed stale while a paraphrase cell was being
    typed (the cell held its text only once its editor closed)."""
    from PySide6.QtWidgets import QApplication

    window = open_window(qtbot)
    editor = window.editor
    window.tabs.setCurrentWidget(editor)
    editor.set_body({"subject": "Germany", "prompt": "The capital of Germany is", "target_new": "Bonn"})
    before = editor.validation.text()
    qtbot.mouseClick(editor.paraphrases.add_button, Qt.MouseButton.LeftButton)
    cell = QApplication.focusWidget()
    qtbot.keyClicks(cell, "Germany's capital is")
    typing = editor.validation.text()
    assert "Valid — fact" in typing and typing != before, "the id of the fact as typed, editor still open"
    assert editor.body()["paraphrases"] == ["Germany's capital is"]
    cell.setCursorPosition(7)  # typing in the middle stays in the middle (the review: it jumped to the end)
    qtbot.keyClicks(cell, "XY")
    assert cell.text() == "GermanyXY's capital is" and cell.cursorPosition() == 9
    qtbot.keyClick(cell, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: editor.paraphrases.table.rowCount() == 0, timeout=2_000)  # the new row, cancelled
    assert editor.validation.text() == before
    window.close()


def test_validation_names_the_form_labels_not_internal_fields(qtbot):
    """Trial 3, finding 4: 'target_new: is required …' where the form says 'New answer'."""
    window = open_window(qtbot)
    editor = window.editor
    window.tabs.setCurrentWidget(editor)
    for name, text in (("subject", "Germany"), ("prompt", "The capital of Germany is")):
        editor.fields[name].setFocus()
        qtbot.keyClicks(editor.fields[name], text)
    shown = editor.validation.text()
    assert "New answer: " in shown and "target_new" not in shown, shown
    editor.fields["target_new"].setFocus()
    qtbot.keyClicks(editor.fields["target_new"], "Germany")
    editor.fields["target_true"].setFocus()
    qtbot.keyClicks(editor.fields["target_true"], "Germany")
    assert "New answer: " in editor.validation.text() and "target_" not in editor.validation.text()
    window.close()


def test_the_queue_menu_shows_the_open_shortcut_once_and_return_still_opens(qtbot):
    """Trial 3, finding 5: 'Open in fact editor (Enter)   Return' named the key twice."""
    from PySide6.QtGui import QKeySequence

    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    action = window.queue.open_action
    assert action.text() == "Open in fact editor" and "Enter" not in action.text()
    assert action.shortcut().toString(QKeySequence.SequenceFormat.NativeText) == "Enter", "the one key the menu shows"
    fact_id = click_row(qtbot, window, 1)
    qtbot.keyClick(window.queue.table, Qt.Key.Key_Return)
    assert window.tabs.currentWidget() is window.editor
    assert window.editor.fields["subject"].text() == window.ws.fact(fact_id).fact.subject
    window.close()


def test_undo_replaces_the_review_note_of_the_undone_decision(qtbot):
    """Trial 3, finding 6: 'approve: 1 fact(s)' stayed under the buttons after Undo."""
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fact_id = click_row(qtbot, window, 0)
    bar = window.review_bar
    qtbot.mouseClick(bar.buttons["rework"], Qt.MouseButton.LeftButton)
    assert bar.message.text().endswith(": 1 fact(s)")
    qtbot.mouseClick(bar.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.ws.fact(fact_id).status == "pending", timeout=2_000)
    assert "1 fact(s)" not in bar.message.text() and bar.message.text().startswith("Undone: "), bar.message.text()
    window.close()
