"""Trial 42's window findings: the focus never lands on the model's folder field when a job's
button is disabled, and Try a prompt works again after a refused load."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.util.paths import demo_edits_file
from tests.app.helpers import fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def test_a_finished_preview_hands_the_focus_back_to_its_button(qtbot):
    """Trial 42: after a preview the folder field had the focus with its path selected, so the
    next key typed replaced the model's path."""
    window = open_window(qtbot)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    window.queue.select_row(0)
    fast_rome(window)
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


def test_try_a_prompt_works_again_after_a_refused_load(qtbot, tmp_path):
    window = open_window(qtbot)
    assert window.prompt_panel.button.isEnabled()
    refused = wait_job(qtbot, window.load(tmp_path / "nonexistent"))
    assert refused.state.value == "failed" and window.session.lm is not None, "the loaded model stays"
    assert window.prompt_panel.input.isEnabled() and window.prompt_panel.button.isEnabled()
    window.close()
