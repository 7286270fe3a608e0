"""Trial 43: Ctrl+P while a tuning job ran queued a preview and said nothing until the tuning
ended. A job submitted behind others says what it waits for, in its panel and the status bar."""

from __future__ import annotations

import threading

import pytest

from core.util.paths import demo_edits_file
from tests.app.helpers import active_window_on_first_fact, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def test_a_preview_behind_another_job_says_it_is_queued_and_what_for(qtbot):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    window.queue.select_row(0)
    fast_rome(window)
    release = threading.Event()
    tuning = window.lane.submit("Tuning ft-m (40 facts)", lambda progress: release.wait(30))
    try:
        job = window.preview_selected()
        assert job.behind == ("Tuning ft-m (40 facts)",)
        panel = window.preview_panel
        assert panel.state.text() == "Queued: starts when “Tuning ft-m (40 facts)” ends"
        assert panel.showing.text().endswith("— queued…")
        assert "The preview is queued: it starts when “Tuning ft-m (40 facts)” ends" in window.message.text()
    finally:
        release.set()
    wait_job(qtbot, tuning)
    qtbot.waitUntil(lambda: job.state.value != "queued", timeout=30_000)
    qtbot.waitUntil(lambda: not panel.showing.text().endswith("— queued…"), timeout=5_000)  # it runs now
    assert "Queued" not in panel.state.text()
    wait_job(qtbot, job, 120_000)
    assert job.state.value == "done" and "Queued" not in window.preview_panel.state.text()
    window.close()


def test_a_job_on_an_idle_lane_waits_for_nothing(qtbot):
    window = open_window(qtbot)
    job = window.lane.submit("Generating", lambda progress: None)
    assert job.behind == ()
    wait_job(qtbot, job)
    window.close()


def test_ctrl_p_during_a_running_preview_says_one_is_running(qtbot):
    """Trial 44: Ctrl+P while the same fact's preview ran was silently ignored."""
    from PySide6.QtCore import Qt

    window = active_window_on_first_fact(qtbot)
    release = threading.Event()
    blocker = window.lane.submit("Holding the lane", lambda progress: release.wait(30))
    job = window.preview_selected()  # queued behind the blocker: still running as far as Ctrl+P goes
    try:
        qtbot.keyClick(window.queue, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
        assert "A preview is already queued or running" in window.message.text()
        assert len(window.lane.jobs) == 2, "no second preview"
    finally:
        release.set()
    wait_job(qtbot, blocker)
    wait_job(qtbot, job, 120_000)
    window.close()
