"""What each edit of a state measures there.

A run's own figures were measured alone, on the state it was computed on. A commit that
landed several edits, or one onto edits already committed, measured the gated metrics again
with every edit of its state in place (core.workflows.together); a figure that differs from
what the run showed before is stored (``commit_figures``), and from then on it is what the
edit measures in that state: History, the drift chart, Diff and ``factsmith show`` read it.

A figure measured while a now-reverted edit was in place no longer holds: from a revert on,
figures measured in states that held an edit it dropped are set aside, and the latest
measurement from before, or the run's own, stands again; but the revert's state may never have
stood (it keeps edits made after a dropped one), so every revert also measures its kept edits'
reliability on the rebuilt weights and stores here, with the revert commit, each figure that
differs from the one that would stand (core.ledger.revert). Locality is not measured again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from core.ledger.db import Store
from core.ledger.records import CHANGED, CommitRecord, RunFigures, RunRecord
from core.workflows.together import TOGETHER_METRICS


def state_figures(store: Store, commit: CommitRecord, runs: Sequence[RunRecord]) -> dict[int, RunFigures]:
    """By run id: the gated figures of ``runs`` (``commit``'s state) as last measured up to it."""
    measured: dict[int, dict[str, tuple[float, str]]] = {}
    for (run_id, metric), at in _measured_together(store, commit, [run.id for run in runs]).items():
        measured.setdefault(run_id, {})[metric] = at  # by run once: not a scan per run
    found = {}
    for run in runs:
        own = {metric: ((run.metrics or {}).get("post") or {}).get(metric) for metric in TOGETHER_METRICS}
        # a later measurement back at the run's own figure is its own again, not "different" (trial 46)
        mine = {metric: found_at for metric, found_at in measured.get(run.id, {}).items()
                if own.get(metric) is None or abs(found_at[0] - own[metric]) > CHANGED}
        shown = {**own, **{metric: value for metric, (value, _) in mine.items()}}
        found[run.id] = RunFigures(shown, own, {metric: commit_id for metric, (_, commit_id) in mine.items()})
    return found


def _measured_together(store: Store, commit: CommitRecord,
                       run_ids: Sequence[int]) -> dict[tuple[int, str], tuple[float, str]]:
    """(run id, metric) → (value, commit id) of the latest stored figure up to ``commit`` that no
    revert since has set aside."""
    if not run_ids:
        return {}
    # one JSON parameter, not one "?" per run: old SQLite allows 999 parameters, a log holds more runs
    rows = store.all("SELECT f.run_id, f.metric, f.value, c.id, c.seq FROM commit_figures f JOIN commits c "
                     "ON c.id = f.commit_id WHERE c.seq <= ? AND f.run_id IN (SELECT value FROM json_each(?)) "
                     "ORDER BY c.seq", (commit.seq, json.dumps([int(r) for r in run_ids])))
    set_aside = _set_aside(store, commit)
    latest: dict[tuple[int, str], tuple[float, str]] = {}
    for row in rows:
        if not any(low <= row["seq"] < high for low, high in set_aside):
            latest[(row["run_id"], row["metric"])] = (row["value"], row["id"])
    return latest


def _set_aside(store: Store, commit: CommitRecord) -> list[tuple[int, int]]:
    """Per revert up to ``commit``: the commits (seq from, to) whose states held an edit it dropped."""
    rows = store.all("SELECT r.seq AS revert_seq, MIN(a.seq) AS first_seq FROM commits r "
                     "JOIN commit_runs d ON d.commit_id = r.id AND d.op = 'drop' "
                     "JOIN commit_runs p ON p.run_id = d.run_id AND p.op = 'apply' "
                     "JOIN commits a ON a.id = p.commit_id WHERE r.seq <= ? GROUP BY r.id", (commit.seq,))
    return [(row["first_seq"], row["revert_seq"]) for row in rows]


def store_figures(store: Store, commit_id: str, parent: CommitRecord | None, runs: Sequence[int],
                  measured: Mapping[int, Mapping[str, float]]) -> None:
    """Inside the commit's write transaction: the measured figures of the new state's ``runs`` that
    differ from what each run showed on the parent (its own figures, for a run new here)."""
    from core.ledger.runs import runs_by_id

    found = runs_by_id(store, [run_id for run_id in runs if run_id in measured])
    records = [found[run_id] for run_id in runs if run_id in found]
    before = state_figures(store, parent, records) if parent is not None else {}
    rows = []
    for run in records:
        shown = before[run.id].metrics if run.id in before else {}
        own = ((run.metrics or {}).get("post") or {})
        for metric, value in measured[run.id].items():
            previous = shown.get(metric, own.get(metric))
            if value is None or metric not in TOGETHER_METRICS:
                continue
            if previous is None or abs(float(value) - previous) > CHANGED:
                rows.append((commit_id, run.id, metric, float(value)))
    store.db.conn.executemany("INSERT INTO commit_figures (commit_id, run_id, metric, value) VALUES (?, ?, ?, ?)",
                              rows)


def with_figures(metrics: dict, figures: RunFigures) -> dict:
    """A run's metrics with the teacher-forced post figures it measures in the state."""
    if not figures.measured_at or metrics.get("protocol", "teacher_forced") != "teacher_forced":
        return metrics
    return {**metrics, "post": {**(metrics.get("post") or {}), **figures.metrics}}
