"""Diff of two commits: facts added, removed and re-run, and how the runs' metrics moved."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from core.ledger.db import Store
from core.ledger.figures import state_figures, with_figures
from core.ledger.records import DiffReport, MetricChange
from core.ledger.refs import resolve
from core.ledger.runs import get_run
from core.ledger.state import state_fact_ids, state_runs

DIFF_NOTE = ("Means over each state's edits. Reliability and locality are as each edit measures in that state: "
             "with the other edits in place where a commit measured them so (History marks those with †); the other "
             "metrics are each edit's own, measured alone.")


def mean_post_metrics(runs_metrics: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """{(protocol, metric): mean over runs} of each run's numeric post-edit metrics."""
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for metrics in runs_metrics:
        protocol = str(metrics.get("protocol", ""))
        for name, value in (metrics.get("post") or {}).items():
            if isinstance(value, int | float):
                sums[(protocol, name)].append(float(value))
    return {key: sum(values) / len(values) for key, values in sums.items()}


def _state_metrics(store: Store, commit) -> dict[tuple[str, str], float]:
    """Mean post metrics over the state's runs, each as last measured in it (core.ledger.figures)."""
    runs = [get_run(store, r) for r in state_runs(store, commit)]
    figures = state_figures(store, commit, runs)
    return mean_post_metrics([with_figures(run.metrics, figures[run.id]) for run in runs])


def diff(store: Store, a_ref: str, b_ref: str) -> DiffReport:
    with store.reading():
        a, b = resolve(store, a_ref), resolve(store, b_ref)
        facts_a, facts_b = state_fact_ids(store, a), state_fact_ids(store, b)
        metrics_a, metrics_b = _state_metrics(store, a), _state_metrics(store, b)
    changes = tuple(MetricChange(protocol, name, metrics_a.get((protocol, name)), metrics_b.get((protocol, name)))
                    for protocol, name in sorted(set(metrics_a) | set(metrics_b)))
    return DiffReport(
        a=a.id, b=b.id,
        added=tuple(f for f in facts_b if f not in facts_a),
        removed=tuple(f for f in facts_a if f not in facts_b),
        rerun=tuple(f for f in facts_a if f in facts_b and facts_a[f] != facts_b[f]),
        metrics=changes,
    )
