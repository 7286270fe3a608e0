"""The preview pane at 1024×640 after a preview (a new-user trial): the loss curve folded away with
no sign it could come back, the progress bar read "0%"/"00%", the generations showed about one
stacked prompt and the verdict was cut through its lines. At 1366×768 the pane stays as it was."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.util.paths import demo_edits_file
from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _prompts_in_view(view) -> int:
    """How many prompts (table rows) of the generations are wholly inside the browser's viewport."""
    browser = view.browser
    table = browser.document().rootFrame().childFrames()[0]
    height = browser.viewport().height()
    whole = 0
    for row in range(table.rows()):
        cell = table.cellAt(row, table.columns() - 1)
        top = browser.cursorRect(table.cellAt(row, 0).firstCursorPosition()).top()
        whole += top >= 0 and browser.cursorRect(cell.lastCursorPosition()).bottom() <= height
    return whole


def _previewed(qtbot, size: tuple[int, int]):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    window.resize(*size)
    click_row(qtbot, window, 0)
    assert click_preview(qtbot, window).state.value == "done"
    QApplication.processEvents()
    return window


def _verdict_in_whole_lines(panel) -> None:
    line = panel.state.fontMetrics().lineSpacing()
    height = panel.state_area.viewport().height()
    assert height >= 2 * line, "the headline and a line of what the run is"
    assert height % line == 0, f"{height} px: a line cut through ({line} px a line)"
    assert panel.state.width() <= panel.state_area.viewport().width(), "wrapped, no word cut at the right"


def test_the_preview_pane_is_readable_at_1024_by_640(qtbot):
    window = _previewed(qtbot, (1024, 640))
    panel = window.preview_panel
    assert window.size().toTuple() == (1024, 640)
    bar = panel.bar
    assert bar.value() == bar.maximum() and bar.width() >= bar.fontMetrics().horizontalAdvance("100%") + 8
    assert bar.minimumWidth() >= bar.fontMetrics().horizontalAdvance("100%") + 8, "never squeezed below it"
    assert _prompts_in_view(panel.generations) >= 3, panel.generations.browser.viewport().height()
    assert "Before" in panel.generations.browser.toPlainText()
    _verdict_in_whole_lines(panel)
    assert panel.state_area.height() <= 4 * panel.state.fontMetrics().lineSpacing() + 4, "trial 34's cap"
    panel.state.setText("Select one or more facts in the queue first")  # one line: the tabs get the rest
    assert panel.state_area.height() == panel.state.fontMetrics().lineSpacing()
    window.close()


def test_the_folded_loss_curve_says_it_can_come_back(qtbot):
    window = _previewed(qtbot, (1024, 640))
    panel = window.preview_panel
    toggle = panel.loss_toggle
    assert panel.loss.height() == 0 and toggle.isVisible() and not toggle.isChecked()
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
    QApplication.processEvents()
    assert panel.loss.height() > 0 and toggle.isChecked() and toggle.arrowType() == Qt.ArrowType.DownArrow
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
    QApplication.processEvents()
    assert panel.loss.height() == 0 and not toggle.isChecked()
    panel.splitter.moveSplitter(80, 1)  # dragging the handle down shows it too: the button follows
    assert toggle.isChecked()
    window.close()


def test_a_second_run_of_the_fact_still_leaves_three_prompts_and_a_whole_headline(qtbot):
    window = _previewed(qtbot, (1024, 640))
    click_preview(qtbot, window)  # a second run: the Run: choice takes a row
    QApplication.processEvents()
    panel = window.preview_panel
    assert panel.run_choice.isVisible() and window.size().toTuple() == (1024, 640)
    assert _prompts_in_view(panel.generations) >= 3
    _verdict_in_whole_lines(panel)
    window.close()


def test_at_1366_by_768_the_curve_and_the_verdict_stay(qtbot):
    from app.widgets.preview_panel import SHORT_MARGIN, SHORT_SPACING

    window = _previewed(qtbot, (1366, 768))
    panel = window.preview_panel
    assert panel.loss.height() >= 60 and not panel.loss_toggle.isVisible()
    line = panel.state.fontMetrics().lineSpacing()
    assert panel.state_area.maximumHeight() == 8 * line + 4 and panel.state_area.minimumHeight() == 0
    assert panel.layout().spacing() > SHORT_SPACING and panel.layout().contentsMargins().left() > SHORT_MARGIN
    assert _prompts_in_view(panel.generations) >= 4, "the stacked rows are compact here too"
    window.resize(1024, 640)  # and back: short again, then tall again as it was
    QApplication.processEvents()
    assert panel.loss.height() == 0 and panel.loss_toggle.isVisible()
    window.resize(1366, 768)
    QApplication.processEvents()
    assert panel.loss.height() >= 60 and panel.state_area.maximumHeight() == 8 * line + 4
    window.close()


def test_long_generations_get_a_line_each_when_stacked(qtbot):
    from app.widgets.generations_view import GenerationsView

    view = GenerationsView()
    qtbot.addWidget(view)
    view.resize(300, 300)
    view.show()
    long = "the quick brown fox jumps over the lazy dog " * 2
    view.set_previews([{"kind": "prompt", "prompt": "Say", "before": " Paris.", "after": " Rome."},
                       {"kind": "free", "prompt": "Tell", "before": long, "after": long + "again"}])
    qtbot.waitUntil(view.is_narrow)
    lines = view.browser.toPlainText().splitlines()
    assert any(line.startswith("Before") and "After" in line for line in lines), "short answers share a line"
    assert any(line.startswith("After") for line in lines), "long ones do not"


def test_a_long_verdict_folds_the_curve_rather_than_squeeze_it_flat(qtbot):
    """Trial 42: at 1366×768 a stale-state warning above a verdict with advice squeezed the loss
    curve to ~20 px, a flat line with one tick; it folds away instead, the toggle at hand."""
    from app.widgets.preview_panel import LOSS_MIN

    window = _previewed(qtbot, (1366, 768))
    panel = window.preview_panel
    panel.run_choice.show()  # a fact previewed twice: the Run: row
    panel.showing.setText("Showing: run 5 (FT-M) of Fiji, as stored. Computed on commit a5a9e2731972, HEAD is "
                          "now 8bf9cf9ef41e: check out HEAD into the model, then preview again " * 3)
    panel.state.setText("side effects: locality 0.75 < 0.90. Try: more retain_samples or a larger retain_factor "
                        "keeps other knowledge; a norm_constraint or a smaller lr " * 4)
    window.resize(1366, 720)  # a window a little shorter than the screen: the pane is not yet "short"
    QApplication.processEvents()
    assert not panel._short
    loss = panel.splitter.sizes()[0]
    assert loss == 0 or loss >= LOSS_MIN, loss
    if loss == 0:
        assert panel.loss_toggle.isVisible() and not panel.loss_toggle.isChecked()
    window.close()


def test_one_width_gives_one_layout_whether_the_rows_scroll_or_not(qtbot):
    """Trial 43: at one window size a fact's rows were a table or stacked depending on whether the
    scroll bar showed (it takes its width from the viewport the choice was made on)."""
    from app.widgets.generations_view import NARROW_WIDTH, GenerationsView

    view = GenerationsView()
    qtbot.addWidget(view)
    browser = view.browser
    bar = browser.verticalScrollBar().sizeHint().width()
    view.resize(NARROW_WIDTH + 2 * browser.frameWidth() + bar // 2, 400)  # just narrow with a bar, wide without
    view.show()
    row = {"kind": "paraphrase", "prompt": "The capital city of Spain is", "before": " Madrid.", "after": " Lyon."}
    layouts = []
    for count in (2, 40):  # fits, then scrolls
        view.set_previews([{**row, "prompt": f"{row['prompt']} ({i})"} for i in range(count)])
        qtbot.wait(50)
        layouts.append(view._stacked)
    assert browser.verticalScrollBar().isVisible(), "the second set scrolls"
    assert layouts[0] == layouts[1]


def test_the_history_details_hint_wraps_in_a_narrow_pane(qtbot):
    """Trial 44: the details pane's placeholder was cut at 1024 wide (Qt does not wrap one)."""
    from app.widgets.history_panel import DETAILS_HINT, HistoryPanel

    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.details.resize(200, 200)
    panel.show()
    assert panel.details.toPlainText() == DETAILS_HINT
    document = panel.details.document()
    document.setTextWidth(180)
    assert document.size().height() > 2 * panel.details.fontMetrics().height(), "wrapped onto several lines"


def test_long_showing_notes_scroll_in_a_few_lines_instead_of_being_cut(qtbot):
    """Trial 45: at 1024×640 the Showing notes (another method, the approval, a stale run's "HEAD is
    now …") were cut off mid-line with no scroll bar and left the generations one row."""
    from app.widgets.preview_panel import SHORT_SHOWING_LINES

    window = _previewed(qtbot, (1024, 640))
    panel = window.preview_panel
    notes = "<br>".join(f"<b>note {i}: computed on commit 31f5a04b7bbd, HEAD is now 77b7e005fb59 — preview "
                        "again to see its effect on HEAD</b>" for i in range(4))
    panel.showing.setText(f"Showing: run 6 (GRACE) of Brazil, as stored<br>{notes}")
    QApplication.processEvents()
    line = panel.showing.fontMetrics().lineSpacing()
    area = panel.showing_area
    assert area.height() <= SHORT_SHOWING_LINES * line + 2, "a few lines, the rest scrolls"
    assert area.verticalScrollBar().maximum() > 0, "the rest is there to scroll to"
    assert _prompts_in_view(panel.generations) >= 3, panel.generations.browser.viewport().height()
    panel.showing.setText("Showing: run 6 (GRACE), as stored")
    QApplication.processEvents()
    assert area.height() <= 2 * line + 2 and area.verticalScrollBar().maximum() == 0, "as tall as it needs"
    window.close()
