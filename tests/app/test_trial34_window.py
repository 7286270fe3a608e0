"""Findings of new-user trial 34 in the preview pane at 1024×640: the verdict's advice was cut off
mid-sentence with no way to read the rest, and the generations table broke words ("Kingdo/m")."""

import pytest
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QApplication

from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def test_a_long_verdict_scrolls_in_a_few_lines_and_generations_keep_words_whole(qtbot):
    from core.util.paths import demo_edits_file

    window = open_window(qtbot)
    window.resize(1024, 640)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    window.method_panel.set_override("v_steps", "2")  # fails: a verdict with the whole advice
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    QApplication.processEvents()
    panel = window.preview_panel
    assert "Try: " in panel.state.text()
    line = panel.state.fontMetrics().lineSpacing()
    assert panel.state_area.height() <= 4 * line + 4, "a short pane gives the verdict four lines"
    bar = panel.state_area.verticalScrollBar()
    assert bar.maximum() > 0, "the rest of the advice is a scroll away"
    bar.setValue(bar.maximum())
    assert panel.state.height() - bar.value() <= panel.state_area.viewport().height() + 1, "its end can be seen"
    assert panel.generations.browser.wordWrapMode() == QTextOption.WrapMode.WordWrap
    window.close()
