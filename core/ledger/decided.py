"""Which run a reviewer's decision on a fact was made on (one rule for the core and the app)."""

from __future__ import annotations

from collections.abc import Iterable


def decided_run_id(recorded: int | None, decided_at: str, runs: Iterable[tuple[int, str]]) -> int | None:
    """The run a decision recorded, else (decisions recorded before schema 5 carry none) the
    fact's latest run created at or before the decision. ``runs``: (id, created_at) in id order."""
    if recorded is not None:
        return recorded
    before = [run_id for run_id, created_at in runs if created_at <= decided_at]
    return before[-1] if before else None
