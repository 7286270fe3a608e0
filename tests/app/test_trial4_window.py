"""Findings of the new-user trial 4 (1366×768) in the main window, driven as the user did."""

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication

from tests.app.helpers import open_window

pytestmark = pytest.mark.gui


def _global_rect(widget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def _scene_global(chart, rect) -> QRect:
    """An item's scene rectangle on screen, through the chart's view."""
    polygon = chart.mapFromScene(rect)
    box = polygon.boundingRect()
    return QRect(chart.mapToGlobal(box.topLeft()), box.size())


def test_the_drift_chart_fits_its_pane_at_1366(qtbot):
    """Trial 4, finding 1: the chart was wider than its pane; the newest commit and half the title hidden."""
    window = open_window(qtbot)
    window.resize(1366, 768)
    window.tabs.setCurrentWidget(window.history)
    history = window.history
    history.set_drift([(seq, 0.8, 0.9, seq) for seq in range(1, 13)])
    QApplication.processEvents()
    chart, item = history.chart, history.chart.plotItem
    pane = _global_rect(chart).intersected(_global_rect(history.right))
    assert pane.width() > 0
    for part in (item.titleLabel, item.getViewBox()):
        shown = _scene_global(chart, part.sceneBoundingRect())
        assert pane.adjusted(-1, -1, 1, 1).contains(shown), (part, shown, pane)
    low, high = item.getViewBox().viewRange()[0]
    assert all(low <= seq <= high for seq in range(1, 13)), "every commit's point within the x-range"
    assert "mean over the edits live at each commit" in chart.toolTip(), "the long explanation in the tip"
    window.close()
