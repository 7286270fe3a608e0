"""The fact editor (validation, drafts, suggestions) and review decisions with notes and undo."""

import pytest
from PySide6.QtCore import Qt

from core.ledger import Workspace
from core.paths import demo_edits_file
from tests.app.helpers import open_window, wait_job

pytestmark = pytest.mark.gui


def test_editor_validates_keeps_drafts_and_suggests(qtbot):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    editor = window.editor
    editor.fields["subject"].setText("Germany")
    editor.fields["prompt"].setText("The capital of Germany is")
    assert not editor.add_button.isEnabled()
    assert "target_new" in editor.validation.text()
    editor.fields["target_new"].setText("Lisbon")
    editor.fields["relation"].setText("capital")
    qtbot.waitUntil(lambda: window.ws.drafts() != [], timeout=5_000)
    with Workspace.open(window.ws.path) as other:  # on disk: survives a crash
        assert other.drafts()[0].body["target_new"] == "Lisbon"
    job = window.suggest(editor.body())
    wait_job(qtbot, job, 60_000)
    assert editor.fields["target_true"].text() == "Berlin", "the model's own answer"
    probes = editor.locality.rows()
    assert len(probes) == 3 and all("capital" in p[0] and p[1] for p in probes)
    assert editor.add_button.isEnabled()
    editor.submit()
    assert window.ws.drafts() == []
    assert any(r.fact.subject == "Germany" for r in window.ws.queue())
    assert window.queue.selected_ids() and window.ws.fact(window.queue.selected_ids()[0]).fact.subject == "Germany"
    window.close()


def test_reject_needs_a_note_and_reviews_can_be_undone(qtbot):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    window.queue.select_row(0)
    fact_id = window.queue.selected_ids()[0]
    window.review_bar.decide("reject")
    assert window.ws.fact(fact_id).status == "pending"
    assert "note" in window.review_bar.message.text()
    window.review_bar.note.setText("wrong target")
    window.review_bar.decide("reject")
    assert window.ws.fact(fact_id).status == "rejected"
    assert window.ws.history(fact_id)[-1].note == "wrong target"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    window.queue.table.setFocus()
    assert window.review_bar.buttons["rework"].text() == "Needs rework (Alt+W)"
    qtbot.keyClick(window.queue.table, "w", Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: window.ws.fact(fact_id).status == "needs-rework", timeout=2_000)  # animated click
    window.review_bar.undo_button.click()
    assert window.ws.fact(fact_id).status == "rejected"
    window.queue.status_filter.setCurrentIndex(window.queue.status_filter.findData("rejected"))
    assert window.queue.proxy.rowCount() == 1
    window.close()
