"""What each edit of a state measures there.

A run's own figures were measured alone, on the state it was computed on. A commit that
landed several edits, or one onto edits already committed, measured them again with each
other in place (core.workflows.together) and stored those figures; from then on they are
what the edit measures in that state, and History, the drift chart and Diff show them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.ledger.db import Store
from core.ledger.records import CommitRecord, RunFigures, RunRecord
from core.workflows.together import TOGETHER_METRICS


def state_figures(store: Store, commit: CommitRecord, runs: Sequence[RunRecord]) -> dict[int, RunFigures]:
    """By run id: the gated figures of ``runs`` (``commit``'s state) as last measured up to it."""
    measured = _measured_together(store, commit)
    found = {}
    for run in runs:
        own = {metric: ((run.metrics or {}).get("post") or {}).get(metric) for metric in TOGETHER_METRICS}
        at, figures = measured.get(run.id, (None, {}))
        found[run.id] = RunFigures({**own, **{m: v for m, v in figures.items() if m in own}}, own, at)
    return found


def _measured_together(store: Store, commit: CommitRecord) -> dict[int, tuple[str, dict[str, Any]]]:
    """Run id → (the latest commit up to ``commit`` that measured it together, its figures)."""
    rows = store.all("SELECT c.id, g.together FROM commits c JOIN commit_gates g ON g.commit_id = c.id "
                     "WHERE c.seq <= ? AND g.together != '{}' ORDER BY c.seq", (commit.seq,))
    latest: dict[int, tuple[str, dict[str, Any]]] = {}
    for row in rows:
        for run, figures in json.loads(row["together"]).items():
            latest[int(run)] = (row["id"], figures)
    return latest


def with_figures(metrics: dict[str, Any], figures: RunFigures) -> dict[str, Any]:
    """A run's metrics with the teacher-forced post figures it measures in the state."""
    if figures.measured_at is None or metrics.get("protocol", "teacher_forced") != "teacher_forced":
        return metrics
    return {**metrics, "post": {**(metrics.get("post") or {}), **figures.metrics}}
