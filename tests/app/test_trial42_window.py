"""Trial 42's window findings: the focus never lands on the model's folder field when a job's
button is disabled, and Try a prompt works again after a refused load."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.app.helpers import active_window_on_first_fact, open_window, wait_job

pytestmark = pytest.mark.gui


def test_a_finished_preview_hands_the_focus_back_to_its_button(qtbot):
    """Trial 42: after a preview the folder field had the focus with its path selected, so the
    next key typed replaced the model's path."""
    window = active_window_on_first_fact(qtbot)
    panel = window.preview_panel
    panel.preview_button.setFocus()
    qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
    assert panel.cancel_button.hasFocus(), "the running job's Cancel takes the focus, not the next widget"
    wait_job(qtbot, panel.job)
    assert panel.preview_button.hasFocus()
    folder = window.model_panel.folder
    editor = folder.lineEdit() if hasattr(folder, "lineEdit") else folder
    assert not editor.hasFocus() and not editor.hasSelectedText()
    window.close()


def test_try_a_prompt_works_again_after_a_refused_load(qtbot, tmp_path, caplog):
    import logging

    window = open_window(qtbot)
    assert window.prompt_panel.button.isEnabled()
    with caplog.at_level(logging.INFO, logger="app.jobs"):
        refused = wait_job(qtbot, window.load(tmp_path / "nonexistent"))
    assert refused.state.value == "failed" and window.session.lm is not None, "the loaded model stays"
    assert window.prompt_panel.input.isEnabled() and window.prompt_panel.button.isEnabled()
    # a wrong folder is the reviewer's input, said to them: the log keeps a line, not a traceback
    (record,) = [r for r in caplog.records if r.name == "app.jobs"]
    assert record.levelno == logging.WARNING and record.exc_info is None and "nonexistent" in record.getMessage()
    window.close()


def test_a_refused_tag_name_is_asked_again_with_the_reason_and_the_name_as_typed(qtbot, monkeypatch):
    """Trial 42: "euro v1" was refused with a good message, but the dialog closed and the name
    had to be typed anew."""
    from PySide6.QtWidgets import QInputDialog

    window = open_window(qtbot)
    head = window.ws.head()
    asked: list[tuple[str, str]] = []
    answers = iter([("euro v1", True), ("euro-v1", True)])

    def get_text(parent, title, label, text=""):
        asked.append((label, text))
        return next(answers)

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(get_text))
    window.tag(head.id)
    assert len(asked) == 2 and asked[0][1] == ""
    label, typed = asked[1]
    assert typed == "euro v1" and "Not tagged: tag name 'euro v1' is not allowed" in label
    assert [t.name for t in window.ws.tags()] == ["euro-v1"]
    window.close()


def test_a_finished_jobs_outcome_gives_way_to_ready(qtbot, monkeypatch):
    import app.widgets.job_status as job_status

    monkeypatch.setattr(job_status, "OUTCOME_SHOWN_MS", 50)
    window = open_window(qtbot)
    status = next(w for w in window.findChildren(job_status.JobStatus))
    assert status.label.text().endswith(": done")
    qtbot.waitUntil(lambda: status.label.text() == "Ready", timeout=5_000)
    window.close()


def test_the_fact_editor_names_every_problem_at_once(qtbot):
    """Trial 42: with Subject "Peru", Prompt "The capital of Chile is" and no new answer, only
    the missing answer was named; the subject's problem showed once that was filled in."""
    from app.widgets.fact_editor import FactEditor

    editor = FactEditor()
    qtbot.addWidget(editor)
    editor.set_body({"subject": "Peru", "prompt": "The capital of Chile is", "target_new": ""})
    said = editor.validation.text()
    assert "New answer" in said and "is required" in said
    assert "Subject: &#x27;Peru&#x27; does not occur in the prompt" in said
    assert editor.fields["subject"].styleSheet() and editor.fields["target_new"].styleSheet()
    assert not editor.add_button.isEnabled()


def test_weights_that_differ_from_the_record_are_a_fault_not_bad_input():
    from app.errors import is_user_error
    from core import DamagedWorkspaceError, LedgerError, ModelLoadError, VerificationError

    assert is_user_error(ModelLoadError("no config.json")) and is_user_error(LedgerError("tag name not allowed"))
    assert not is_user_error(VerificationError("weights differ")) and not is_user_error(DamagedWorkspaceError("x"))
    assert not is_user_error(RuntimeError("a fault"))


def test_trial43_typing_after_start_never_lands_in_the_folder_field(qtbot):
    window = open_window(qtbot)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    folder = window.model_panel.folder
    assert not folder.lineEdit().hasFocus(), "the queue, not the folder field, has the keys at start"
    window.tabs.setCurrentWidget(window.editor)
    assert window.editor.fields["subject"].hasFocus(), "the Fact editor tab puts the keys in Subject"
    window.close()


def test_trial43_clear_discards_the_draft_and_a_refused_load_names_the_loaded_folder(qtbot, tmp_path):
    window = open_window(qtbot)
    editor = window.editor
    editor.set_body({"subject": "France", "target_true": "Paris", "target_new": "Paris"})
    window.flush_draft()
    assert window.ws.drafts() != []
    qtbot.mouseClick(editor.clear_button, Qt.MouseButton.LeftButton)
    assert window.ws.drafts() == [], "a cleared form came back on the next start"
    loaded = str(window.lm.info.path)
    wait_job(qtbot, window.load(tmp_path / "nonexistent"))
    assert window.model_panel.folder.currentText() == loaded
    window.close()
