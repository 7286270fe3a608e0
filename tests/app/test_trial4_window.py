"""Findings of the new-user trial 4 (1366×768) in the main window, driven as the user did."""

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QInputDialog

from tests.app.helpers import open_window, wait_job
from tests.app.test_trial3_records import _approve_two, _new_job

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


def _commit(qtbot, window):
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    dialog.message.setText("two edits")
    before = window.lane.jobs
    qtbot.mouseClick(dialog.commit_button, Qt.MouseButton.LeftButton)
    wait_job(qtbot, next(j for j in window.lane.jobs if j not in before))
    return window.ws.head()


def test_revert_one_edit_offers_only_the_edits_live_in_head(qtbot, monkeypatch):
    """Trial 4, finding 2: with an older commit selected, a run already dropped was offered, then
    failed with "no such run in HEAD"; with none of its edits live, it says so instead."""
    window = open_window(qtbot)
    kept, dropped = _approve_two(qtbot, window)
    edits = _commit(qtbot, window)
    window.tabs.setCurrentWidget(window.history)
    offered: list[list[str]] = []

    def pick_last(*args, **kwargs):
        offered.append(list(args[3]))
        return args[3][-1], True

    monkeypatch.setattr(QInputDialog, "getItem", pick_last)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("drop it", True))
    button = window.history.buttons["revert_edit"]
    window.history.select([edits.id])
    _new_job(qtbot, window, button.click)
    assert window.ws.head().dropped == (dropped.id,)
    window.history.select([edits.id])  # the older commit again: its dropped edit is not offered
    _new_job(qtbot, window, button.click)
    assert [label.split(":")[0] for label in offered[1]] == [f"run {kept.id}"], offered
    assert window.ws.head().dropped == (kept.id,) and getattr(window, "last_error", None) is None
    window.history.select([edits.id])
    jobs = list(window.lane.jobs)
    button.click()
    assert len(offered) == 2, "no list when none of its edits is live"
    assert list(window.lane.jobs) == jobs
    assert "is live in HEAD any more" in window.message.text()
    window.close()
