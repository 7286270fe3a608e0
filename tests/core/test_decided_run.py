"""The run a decision was made on: the recorded one, else the latest run before it (old workspaces)."""

from core import decided_run_id

RUNS = ((1, "2026-01-01T10:00:00"), (2, "2026-01-01T11:00:00"), (3, "2026-01-01T12:00:00"))


def test_the_recorded_run_wins_over_any_inference():
    assert decided_run_id(1, "2026-01-01T12:30:00", RUNS) == 1


def test_without_a_recorded_run_the_latest_run_made_before_the_decision():
    assert decided_run_id(None, "2026-01-01T11:30:00", RUNS) == 2
    assert decided_run_id(None, "2026-01-01T11:00:00", RUNS) == 2, "a run made at the same moment counts"


def test_a_decision_before_any_run_has_none():
    assert decided_run_id(None, "2026-01-01T09:00:00", RUNS) is None
    assert decided_run_id(None, "2026-01-01T09:00:00", ()) is None
