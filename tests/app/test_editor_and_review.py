"""The fact editor (validation, drafts, suggestions) and review decisions with notes and undo."""

import pytest
from PySide6.QtCore import Qt

from core.ledger import Workspace
from core.util.paths import demo_edits_file
from tests.app.helpers import open_window, wait_job

pytestmark = pytest.mark.gui


def test_editor_validates_keeps_drafts_and_suggests(qtbot):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    editor = window.editor
    editor.fields["subject"].setText("Germany")
    editor.fields["prompt"].setText("The capital of Germany is")
    assert not editor.add_button.isEnabled()
    assert "New answer" in editor.validation.text() and "target_new" not in editor.validation.text()
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


@pytest.mark.usefixtures("empty_cache")  # "missing" until the button computes them
def test_method_panel_computes_missing_covariance_statistics(qtbot):
    window = open_window(qtbot)
    panel = window.method_panel
    panel.method.setCurrentText("rome")
    assert panel.overrides() == {}
    panel.set_override("stats_tokens", "600")
    assert panel.overrides() == {"stats_tokens": "600"}
    assert "missing" in panel.stats_label.text() and panel.stats_button.isEnabled()
    jobs_before = window.lane.jobs
    panel.stats_button.click()
    wait_job(qtbot, next(j for j in window.lane.jobs if j not in jobs_before), 120_000)
    assert "cached" in panel.stats_label.text() and not panel.stats_button.isEnabled()
    panel.method.setCurrentText("ft-m")
    assert "not needed" in panel.stats_label.text()
    panel.set_override("lr", "not a number")
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    window.queue.select_row(0)
    assert window.preview_selected() is None, "a bad hyperparameter stops the preview before it runs"
    assert "lr" in window.last_error.text() and "Method panel" in window.last_error.informativeText()
    window.close()


def test_workspaces_can_be_created_and_switched(qtbot, tmp_path):
    window = open_window(qtbot)
    first = window.ws.path
    assert first.is_relative_to(tmp_path / "data"), "the default workspace lives in the user data folder"
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    other = tmp_path / "other.factsmith"
    wait_job(qtbot, window.create_workspace(other))
    assert window.ws.path == other and window.queue.model.rowCount() == 0
    assert window.windowTitle() == "Factsmith — other.factsmith"
    wait_job(qtbot, window.open_workspace(first))
    assert window.ws.path == first and window.queue.model.rowCount() == 60
    assert window.settings.recent_workspaces()[:2] == [str(first), str(other)]
    window.close()


def test_the_review_menu_decides_and_undoes_like_the_buttons(qtbot):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    window.queue.select_row(0)
    fact_id = window.queue.selected_ids()[0]
    review = next(a.menu() for a in window.menuBar().actions() if a.text() == "Re&view")
    # the key after a tab: QMenu shows it in its key column (trial 32), no second shortcut is made
    items = {a.text(): a for a in review.actions()}
    assert {"Approve selected facts\tAlt+A", "Reject selected facts (with the note)\tAlt+R",
            "Mark selected facts as needing rework\tAlt+W", "Undo last review decision\tAlt+U",
            "Preview edit of selected facts\tCtrl+P", "Cancel running job\tEsc"} <= set(items)
    assert all(items[t].shortcut().isEmpty() for t in items if "\t" in t), "the buttons and window own the keys"
    edit = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    find = next(a for a in edit.actions() if a.text() == "Find facts\tCtrl+F")
    find.trigger()
    assert window.queue.search.hasFocus() or window.focusWidget() is window.queue.search
    items["Reject selected facts (with the note)\tAlt+R"].trigger()
    assert window.ws.fact(fact_id).status == "pending" and "note" in window.review_bar.message.text()
    window.review_bar.note.setText("outdated source")
    items["Reject selected facts (with the note)\tAlt+R"].trigger()
    assert window.ws.fact(fact_id).status == "rejected"
    items["Mark selected facts as needing rework\tAlt+W"].trigger()
    assert window.ws.fact(fact_id).status == "needs-rework"
    items["Undo last review decision\tAlt+U"].trigger()
    assert window.ws.fact(fact_id).status == "rejected"
    window.close()


def test_the_editor_refuses_a_paste_cut_short_and_a_prompt_longer_than_the_models_context(qtbot):
    """Trial 38: 460,000 pasted characters were cut to 32,767 without a word, called "Valid" and
    added to the queue; only Preview said the model's context holds 64 tokens."""
    from tests.app.helpers import open_window

    window = open_window(qtbot)
    editor = window.editor
    editor.fields["subject"].setText("Peru")
    editor.fields["target_new"].setText("Quito")
    editor.fields["prompt"].setText("The capital of Peru is " * 3_000)  # what a QLineEdit keeps of a huge paste
    assert "cut at 32,767 characters" in editor.validation.text() and not editor.add_button.isEnabled()
    editor.fields["prompt"].setText("The capital of Peru is " * 20)
    said = editor.validation.text()
    assert "too long for the loaded model" in said and "context holds 64" in said
    assert not editor.add_button.isEnabled()
    editor.fields["prompt"].setText("The capital of Peru is")
    assert editor.validation.text().count("Valid") == 1 and editor.add_button.isEnabled()
    window.close()
