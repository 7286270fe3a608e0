"""SIGKILL at random moments in `factsmith` CLI processes doing import, review, commit,
revert and checkout (tests/core/ledger/crash_harness.py): 36 seeded trials (30 with a kill
signal, after one timing run per operation, and a closing clean checkout), each followed
by quick_check, `workspace check`, and the all-or-nothing checks of its operation;
bench/crash_trials.py runs 200."""

from __future__ import annotations

import logging

import pytest

from tests.core.ledger.crash_harness import OPS, run_trials, table

pytestmark = pytest.mark.slow  # 36 CLI processes: about 2 minutes on one core

log = logging.getLogger(__name__)


def test_thirty_seeded_kills_leave_every_workspace_whole(tmp_path, tiny_model_dir):
    trials = run_trials(tmp_path, tiny_model_dir("gpt2"), per_op=7, seed=15)
    log.info("crash trials:\n%s", table(trials))
    assert len(trials) == 36 and sum(t.delay is not None for t in trials) == 30
    killed = [t for t in trials if t.killed]
    assert len(killed) >= 10  # most delays land inside the commands, not after them (timing varies)
    for op in OPS:  # every operation was interrupted at least once
        assert any(t.op == op and t.killed for t in trials), op
