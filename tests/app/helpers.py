"""Shared steps of the GUI tests."""

from __future__ import annotations

from app.jobs import Job

# ROME on the demo model, made quick for tests: no covariance statistics, few steps and prefixes.
FAST_ROME = {"use_covariance": "false", "v_steps": "6", "prefix_counts": "1, 1", "essence_samples": "2"}
LOAD_TIMEOUT_MS = 180_000
EDIT_TIMEOUT_MS = 300_000


def wait_job(qtbot, job: Job, timeout: int = EDIT_TIMEOUT_MS) -> Job:
    if job.active:
        with qtbot.waitSignal(job.finished, timeout=timeout):
            pass
    return job


def open_window(qtbot, **kwargs):
    from app.main_window import MainWindow

    window = MainWindow(**kwargs)
    qtbot.addWidget(window)
    window.show()
    job = wait_job(qtbot, window.start(), LOAD_TIMEOUT_MS)
    assert job.state.value == "done", getattr(window, "last_error", None) and window.last_error.text()
    return window


def active_window_on_first_fact(qtbot):
    """The window, active (keys typed reach it), with the demo set imported, its first fact
    selected and a quick ROME chosen."""
    from PySide6.QtWidgets import QApplication

    from core.util.paths import demo_edits_file

    window = open_window(qtbot)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    window.queue.select_row(0)
    fast_rome(window)
    return window


def fast_rome(window) -> None:
    window.method_panel.method.setCurrentText("rome")
    for name, value in FAST_ROME.items():
        window.method_panel.set_override(name, value)


def click_row(qtbot, window, row: int, double: bool = False) -> str:
    """Click (or double-click) a row of the fact queue as the user does; returns its fact id."""
    from PySide6.QtCore import Qt

    from app.models.fact_table import FACT_ID_ROLE

    table = window.queue.table
    index = window.queue.proxy.index(row, 1)
    table.scrollTo(index)
    centre = table.visualRect(index).center()
    click = qtbot.mouseDClick if double else qtbot.mouseClick
    if double:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    click(table.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    return index.data(FACT_ID_ROLE)


def click_preview(qtbot, window, timeout: int = EDIT_TIMEOUT_MS) -> Job:
    """Press Preview edit and wait for the job it started."""
    from PySide6.QtCore import Qt

    qtbot.mouseClick(window.preview_panel.preview_button, Qt.MouseButton.LeftButton)
    job = window.preview_panel.job
    assert job is not None, getattr(window, "last_error", None) and window.last_error.text()
    return wait_job(qtbot, job, timeout)


def new_job(qtbot, window, action) -> Job:
    """Do ``action`` (a click) and wait for the job it put on the lane."""
    before = window.lane.jobs
    action()
    return wait_job(qtbot, next(j for j in window.lane.jobs if j not in before))


def preview_and_approve_two(qtbot, window, note: str = "") -> list:
    """Import the demo set, preview its first two facts with a fast ROME and approve each
    (with ``note`` and the row number when given); their runs, in order."""
    from PySide6.QtCore import Qt

    from core.util.paths import demo_edits_file

    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    runs = []
    for row in (0, 1):
        click_row(qtbot, window, row)
        click_preview(qtbot, window)
        runs.append(window.preview_panel.run)
        if note:
            window.review_bar.note.setText(f"{note} {row}")
        qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    return runs
