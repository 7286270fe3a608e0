"""Previews run off the GUI thread: the window stays responsive, and cancelling changes nothing."""

import itertools
import time

import pytest
from PySide6.QtCore import QTimer

from app.models.fact_table import FACT_ID_ROLE
from core.model.fingerprint import state_fingerprint
from core.util.paths import demo_edits_file
from tests.app.helpers import fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _select_first_demo_fact(qtbot, window):
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    window.queue.select_row(0)
    fast_rome(window)
    return window.queue.selected_ids()[0]


def test_gui_thread_ticks_every_100ms_during_a_batch_edit(qtbot):
    window = open_window(qtbot)
    _select_first_demo_fact(qtbot, window)
    for name, value in (("v_steps", "40"), ("v_nll_threshold", "0")):  # no early stop: the edit runs seconds
        window.method_panel.set_override(name, value)
    batch = [window.queue.proxy.index(row, 0).data(FACT_ID_ROLE) for row in (0, 1)]
    window.queue.select(batch)
    assert window.queue.selected_ids() == batch
    ticks: list[float] = []  # while the worker computes the edit
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: job.state.value == "running" and ticks.append(time.monotonic()))
    job = None
    timer.start()
    job = window.preview_selected()
    wait_job(qtbot, job)
    timer.stop()
    assert job.state.value == "done"
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert ticks[-1] - ticks[0] > 1.0, "the edit ran long enough to measure"
    # An edit on the GUI thread would stop the ticks for the whole edit (over a second). The
    # test suite runs a worker per core, so the OS may deschedule this one now and then: 95% of
    # the gaps within 100 ms, none past 500 ms. bench/gui_latency.py measures the worst gap idle.
    slow = sorted(gaps)[int(len(gaps) * 0.95):]
    assert max(gaps) < 0.5 and all(gap < 0.1 for gap in sorted(gaps)[:len(gaps) - len(slow)]), \
        f"the GUI thread stalled: longest gaps {[round(g * 1000) for g in sorted(gaps)[-5:]]} ms"
    assert sorted(window.preview_panel.run.fact_ids) == sorted(batch), "one run edits the whole batch"
    assert window.preview_panel.token_fact.count() == 2
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
    assert window.preview_panel.bar.value() == 0, "trial 34: the bar kept the cancelled job's percentage"
    assert window.preview_panel.showing.text() == "Showing: nothing (the preview was cancelled)", "no 'running…' left"
    assert window.preview_panel.preview_button.isEnabled()
    window.close()


def test_a_cancelled_preview_gives_the_pane_back_to_the_stored_run(qtbot):
    """Trial 37: after Esc the pane said "Showing: nothing" though the fact had a stored run."""
    window = open_window(qtbot)
    _select_first_demo_fact(qtbot, window)
    assert wait_job(qtbot, window.preview_selected()).state.value == "done"
    stored = window.preview_panel.run
    job = window.preview_selected()
    with qtbot.waitSignal(job.progressed, timeout=120_000, check_params_cb=lambda e: "loss" in e.values):
        pass
    qtbot.keyClick(window, "\x1b")
    wait_job(qtbot, job)
    assert job.state.value == "cancelled" and window.preview_panel.run.id == stored.id
    assert window.preview_panel.showing.text().startswith(f"Showing: run {stored.id} ")
    assert window.preview_panel.showing.text().endswith("(the new preview cancelled)")
    window.close()
