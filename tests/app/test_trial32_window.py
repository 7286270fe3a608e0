"""Findings of new-user trial 32 in the main window. At 1024×640 the Preview & review tab cut
its buttons ("view edit (Ctrl-", "eds rework (Alt+") and the History tab its toolbar
("eckout into mode"); switching tabs grew the window to 1352 px: now button rows wrap and the
window keeps the size it was given. Approve now names the run whose edit it takes."""

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QPushButton

from app.widgets.flow_row import FlowLayout, flow_row
from tests.app.helpers import open_window

pytestmark = pytest.mark.gui


def _global_rect(widget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def _cut_or_outside(window, tab) -> list[str]:
    """The visible buttons in ``tab`` narrower than their label or not wholly in the window."""
    frame = _global_rect(window)
    found = []
    for button in tab.findChildren(QPushButton):
        if not button.isVisible():
            continue
        if button.width() < button.sizeHint().width() or not frame.contains(_global_rect(button)):
            found.append(f"{button.text()!r} {button.width()} < {button.sizeHint().width()} or outside")
    return found


def test_every_button_shows_its_whole_label_at_1024_by_640(qtbot):
    window = open_window(qtbot)
    window.resize(1024, 640)
    for tab in (window.tabs.widget(i) for i in range(window.tabs.count())):
        window.tabs.setCurrentWidget(tab)
        QApplication.processEvents()
        assert window.width() == 1024, f"{window.tabs.tabText(window.tabs.indexOf(tab))} widened the window"
        assert _cut_or_outside(window, tab) == [], window.tabs.tabText(window.tabs.indexOf(tab))
    window.close()


def test_a_flow_row_wraps_when_narrow_and_keeps_one_line_when_wide(qtbot):
    buttons = [QPushButton(f"Button number {i}") for i in range(4)]
    row = flow_row(*buttons)
    qtbot.addWidget(row)
    layout = row.layout()
    assert isinstance(layout, FlowLayout) and layout.count() == 4
    one_line = layout.sizeHint()
    assert layout.heightForWidth(one_line.width()) == one_line.height()
    assert layout.heightForWidth(one_line.width() // 2) > one_line.height()  # two lines or more
    assert layout.minimumSize().width() == max(b.sizeHint().width() for b in buttons)
    row.resize(one_line.width() // 2, layout.heightForWidth(one_line.width() // 2))
    row.show()
    QApplication.processEvents()
    assert all(b.width() == b.sizeHint().width() for b in buttons)
    assert len({b.y() for b in buttons}) > 1 and all(b.geometry().right() < row.width() for b in buttons)
    widest = max(buttons, key=lambda b: b.sizeHint().width())
    widest.hide()  # a hidden button takes no room
    assert layout.minimumSize().width() == max(b.sizeHint().width() for b in buttons if b is not widest)
    assert layout.sizeHint().width() < one_line.width()


def test_approving_names_the_run_it_takes_and_flags_another_method_than_the_panels(qtbot):
    """Trial 32: with ICE chosen in the panel, Approve took the fact's latest run, made with another
    method, and said only "approve: 1 fact(s)"."""
    from PySide6.QtCore import Qt

    from core.util.paths import demo_edits_file
    from tests.app.helpers import click_preview, click_row, fast_rome, wait_job

    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    click_row(qtbot, window, 0)
    run = click_preview(qtbot, window) and window.preview_panel.run
    bar = window.review_bar
    qtbot.mouseClick(bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert bar.message.text() == f"approve: 1 fact(s), run {run.id} (ROME)"
    click_row(qtbot, window, 1)
    click_preview(qtbot, window)
    window.method_panel.method.setCurrentText("ice")
    qtbot.mouseClick(bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert "(ROME) " in bar.message.text() and "no ICE run of it: preview with ICE" in bar.message.text()
    assert bar.message.toolTip() == bar.message.text()
    window.method_panel.method.setCurrentText("rome")
    click_row(qtbot, window, 2)
    shown = click_preview(qtbot, window) and window.preview_panel.run
    window.method_panel.method.setCurrentText("ice")
    window.preview_panel.run_choice.chosen.emit(shown.id)  # picked under Run: on purpose (trial 43)
    qtbot.mouseClick(bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert bar.message.text() == f"approve: 1 fact(s), run {shown.id} (ROME)", "no warning for a run picked"
    click_row(qtbot, window, 3)
    window.method_panel.method.setCurrentText("grace")
    click_preview(qtbot, window)
    window.method_panel.method.setCurrentText("rome")
    click_preview(qtbot, window)  # the latest run: ROME
    window.method_panel.method.setCurrentText("grace")
    qtbot.mouseClick(bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert "not GRACE: pick its run under Run:" in bar.message.text(), "its GRACE run was there to take"
    window.close()


def test_a_two_line_memory_message_leaves_the_model_rows_whole(qtbot):
    """Trial 32: a folder that is no folder gave a two-line red Memory message, and the model's
    rows (Architecture, Parameters, Device) were squeezed onto each other."""
    window = open_window(qtbot)
    window.resize(1024, 640)
    panel = window.model_panel
    panel.memory.setText("/work/main/assets/demo-model/tmp/trial/out/huge.jsonl is not a folder; choose a Hugging "
                         "Face model folder")  # the trial's, two lines in this pane
    QApplication.processEvents()
    assert panel.memory.height() >= 2 * panel.memory.fontMetrics().lineSpacing()
    rows = list(panel.summary.values.values())
    assert all(label.height() >= label.sizeHint().height() for label in rows), [r.height() for r in rows]
    window.close()


def test_commit_dialog_warnings_wrap_whole_at_1024(qtbot):
    """Trial 32: at 1024×640 the commit dialog's Warnings cell was cut off with "…"."""
    from PySide6.QtCore import Qt

    from core.util.paths import demo_edits_file
    from tests.app.helpers import click_preview, click_row, fast_rome, wait_job

    window = open_window(qtbot)
    window.resize(1024, 640)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    window.method_panel.set_override("v_steps", "1")  # an edit that fails: several warnings
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    dialog.show()
    table = dialog.table
    item = table.item(0, 5)
    assert item.toolTip() == item.text() and "," in item.text()
    one_line = table.fontMetrics().height()
    needed = table.fontMetrics().horizontalAdvance(item.text())
    assert needed > table.columnWidth(5)  # it does not fit on one line…
    assert table.rowHeight(0) >= 2 * one_line  # …so the row grows to show it wrapped
    dialog.reject()
    window.close()


def test_metrics_tab_is_readable_at_1024_and_keeps_its_chart_at_1366(qtbot):
    """Trial 32's leftover: at 1024×640 the Metrics tab got ~20 px of table and ~20 of chart.
    A short pane folds the loss curve away and hides the chart under the table; at 1366×768
    both stay, and a split the reviewer dragged is kept while the height stays on one side."""
    from core.util.paths import demo_edits_file
    from tests.app.helpers import click_preview, click_row, fast_rome, wait_job

    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    window.resize(1024, 640)
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    panel = window.preview_panel
    panel.tabs.setCurrentWidget(panel.metrics)
    QApplication.processEvents()
    table = panel.metrics.table
    assert panel.loss.height() == 0 and not panel.metrics.chart_box.isVisible()
    # trial 33: the window grew to 664-720 px on a 640 px screen, hiding the status bar
    assert window.height() == 640 and window.minimumSizeHint().height() <= 640
    panel.tabs.setCurrentWidget(panel.generations)
    QApplication.processEvents()
    assert window.height() == 640 and panel.generations.height() >= 100
    panel.tabs.setCurrentWidget(panel.metrics)
    QApplication.processEvents()
    assert table.height() >= 5 * table.verticalHeader().defaultSectionSize(), table.height()
    window.resize(1366, 768)
    QApplication.processEvents()
    assert panel.loss.height() >= 60 and panel.metrics.chart_box.isVisible()
    assert table.height() >= 5 * table.verticalHeader().defaultSectionSize(), table.height()
    panel.splitter.setSizes([0, sum(panel.splitter.sizes())])  # the reviewer folds the curve away
    window.resize(1360, 760)  # still tall: the reviewer's split stays
    QApplication.processEvents()
    assert panel.splitter.sizes()[0] == 0
    window.close()
