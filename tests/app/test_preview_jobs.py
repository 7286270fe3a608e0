"""Previews run off the GUI thread: the window stays responsive, and cancelling changes nothing."""

import time

import pytest
from PySide6.QtCore import QTimer

from core.fingerprint import state_fingerprint
from core.paths import demo_edits_file
from tests.app.helpers import fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _select_first_demo_fact(qtbot, window):
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    window.queue.select_row(0)
    fast_rome(window)
    return window.queue.selected_ids()[0]


def test_gui_thread_ticks_every_100ms_during_an_edit(qtbot):
    window = open_window(qtbot)
    _select_first_demo_fact(qtbot, window)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    job = window.preview_selected()
    started = time.monotonic()
    wait_job(qtbot, job)
    ended = time.monotonic()
    timer.stop()
    assert job.state.value == "done"
    gaps = [b - a for a, b in zip([started, *ticks], [*ticks, ended])]
    assert ended - started > 1.0, "the edit ran long enough to measure"
    assert max(gaps) < 0.1, f"the GUI thread stalled for {max(gaps) * 1000:.0f} ms"
    window.close()


def test_cancel_during_preview_leaves_weights_unchanged_and_records_nothing(qtbot):
    window = open_window(qtbot)
    _select_first_demo_fact(qtbot, window)
    before = state_fingerprint(window.lm.model)
    job = window.preview_selected()
    with qtbot.waitSignal(job.progressed, timeout=120_000, check_params_cb=lambda e: "loss" in e.values):
        pass
    assert window.preview_panel.cancel_button.isEnabled()
    qtbot.keyClick(window, "\x1b")  # Esc cancels the running preview
    wait_job(qtbot, job)
    assert job.state.value == "cancelled"
    assert state_fingerprint(window.lm.model) == before
    assert window.ws.runs() == []
    assert "Cancelled" in window.preview_panel.state.text()
    assert window.preview_panel.preview_button.isEnabled()
    window.close()
