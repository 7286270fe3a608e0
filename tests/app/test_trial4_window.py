"""Findings of the new-user trial 4 (1366×768) in the main window, driven as the user did."""

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QInputDialog

from tests.app.helpers import click_row, new_job, open_window, preview_and_approve_two, wait_job

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
    kept, dropped = preview_and_approve_two(qtbot, window, note="checked row")
    edits = _commit(qtbot, window)
    window.tabs.setCurrentWidget(window.history)
    offered: list[list[str]] = []

    def pick_last(*args, **kwargs):
        offered.append(list(args[3]))
        defaults.append(args[4])
        return args[3][-1], True

    defaults: list[int] = []
    monkeypatch.setattr(QInputDialog, "getItem", pick_last)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("drop it", True))
    button = window.history.buttons["revert_edit"]
    window.history.select([edits.id])
    new_job(qtbot, window, button.click)
    assert window.ws.head().dropped == (dropped.id,)
    assert offered[0][defaults[0]].startswith(f"run {edits.applied[-1]}:"), "trial 46: the commit's own edit first"
    window.history.select([edits.id])  # the older commit again: its dropped edit is not offered
    new_job(qtbot, window, button.click)
    assert [label.split(":")[0] for label in offered[1]] == [f"run {kept.id}"], offered
    assert window.ws.head().dropped == (kept.id,) and getattr(window, "last_error", None) is None
    window.history.select([edits.id])
    jobs = list(window.lane.jobs)
    button.click()
    assert len(offered) == 2, "no list when none of its edits is live"
    assert list(window.lane.jobs) == jobs
    assert "is live in HEAD any more" in window.message.text()
    window.close()


def test_the_review_line_and_undo_describe_the_selection_at_a_steady_width(qtbot):
    """Trial 4, findings 3 and 4: with another fact selected the review line still said
    "approve: 1 fact(s)" or "Preview first: Peru…", and Undo "Undo (decision committed)";
    approving widened Undo and shifted the row."""
    window = open_window(qtbot)
    window.resize(1366, 768)
    bar = window.review_bar
    width = bar.undo_button.width()
    preview_and_approve_two(qtbot, window, note="checked row")
    assert bar.message.text().startswith("approve: 1 fact(s), run ") and bar.undo_button.width() == width
    wait_job(qtbot, window.commit("two edits", force=True))
    third = click_row(qtbot, window, 2)
    subject = window.ws.fact(third).fact.subject
    assert bar.message.text() == f"{subject}: no review decision yet", bar.message.text()
    second = window.ws.fact(window.queue.proxy.index(1, 1).data(Qt.ItemDataRole.UserRole + 1)).fact.subject
    assert bar.undo_button.text() == f"Undo approved {second} (committed)", "it names whose decision"
    qtbot.mouseClick(bar.buttons["approve"], Qt.MouseButton.LeftButton)  # refused: no preview
    assert bar.message.text().startswith("<span") and "Preview first" in bar.message.text()
    fourth = click_row(qtbot, window, 3)
    assert "Preview first" not in bar.message.text() and not bar.message.toolTip()
    assert bar.message.text() == f"{window.ws.fact(fourth).fact.subject}: no review decision yet"
    qtbot.mouseClick(bar.buttons["rework"], Qt.MouseButton.LeftButton)
    click_row(qtbot, window, 1)
    assert bar.message.text() == f"{second}: approved by {window.ws.author}", bar.message.text()
    assert bar.undo_button.width() == width and bar.undo_button.isEnabled()
    assert bar.minimumSizeHint().width() <= bar.width(), "the row fits its pane at 1366"
    assert _global_rect(window).contains(_global_rect(bar.undo_button)), "Undo wholly on screen"
    long = "the Democratic Republic of São Tomé and Príncipe"
    bar.set_undo(f"approved {long}")
    shown = bar.undo_button.text()
    assert shown.endswith("… (Alt+U)") and long in bar.undo_button.toolTip() and bar.undo_button.width() == width
    assert bar.undo_button.fontMetrics().horizontalAdvance(shown) <= bar.undo_button.contentsRect().width()
    window.close()


def test_an_unwritable_lock_file_does_not_stop_the_window(qtbot, monkeypatch):
    """Reviewer's finding: an OSError writing the advisory lock (a full disk, another user's
    stale lock) escaped and left the session half set up."""
    import app.session

    def refuse(*_args, **_kwargs):
        raise PermissionError("read-only folder")

    monkeypatch.setattr(app.session, "lock_workspace", refuse)
    window = open_window(qtbot)
    assert window.session.lock is None and window.session.ws is not None
    assert window.queue.model.rowCount() >= 0 and window.history.isEnabled()
    window.close()
