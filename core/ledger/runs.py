"""Edit runs: what a method did for some facts, stored with its delta, append-only."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from core.edit.deltas import Delta, checkpoint_used
from core.facts.fact import Fact, fact_from_dict
from core.ledger.db import Store, dumps, loads, now
from core.ledger.deltastore import get_delta, put_delta
from core.ledger.errors import LedgerError
from core.ledger.queue import get_fact
from core.ledger.records import RunRecord
from core.ledger.state import base_model


def _record(store: Store, row: dict[str, Any], fact_ids: tuple[str, ...] | None = None) -> RunRecord:
    if fact_ids is None:
        facts = store.all("SELECT fact_id FROM run_facts WHERE run_id = ? ORDER BY position", (row["id"],))
        fact_ids = tuple(f["fact_id"] for f in facts)
    return RunRecord(
        id=row["id"], fact_ids=fact_ids, method=row["method"],
        hparams=loads(row["hparams"], {}), overrides=loads(row["overrides"], {}), seed=row["seed"],
        environment=loads(row["environment"], {}), metrics=loads(row["metrics"], {}),
        previews=loads(row["previews"], {}), seconds=row["seconds"], delta_sha256=row["delta_sha256"],
        delta_bytes=row["size"], computed_on=row["computed_on"], author=row["author"], created_at=row["created_at"],
    )


_SELECT = "SELECT runs.*, deltas.size FROM runs JOIN deltas ON deltas.sha256 = runs.delta_sha256"


def get_run(store: Store, run_id: int) -> RunRecord:
    row = store.one(f"{_SELECT} WHERE runs.id = ?", (int(run_id),))
    if row is None:
        raise LedgerError(f"no run {run_id} in workspace {store.path}")
    return _record(store, row)


def runs_facts(store: Store, run_ids: Sequence[int]) -> dict[int, list[Fact]]:
    """Each run's facts, in its order, read in one query (a revert of a large log reads 1,000 runs:
    a query per run and fact took seconds)."""
    rows = store.all("SELECT rf.run_id, f.id, f.body FROM run_facts rf JOIN facts f ON f.id = rf.fact_id "
                     "WHERE rf.run_id IN (SELECT value FROM json_each(?)) ORDER BY rf.run_id, rf.position",
                     (json.dumps([int(r) for r in run_ids]),))
    found: dict[int, list[Fact]] = {int(r): [] for r in run_ids}
    for row in rows:
        fact = fact_from_dict(loads(row["body"]))
        if fact.id != row["id"]:
            raise LedgerError(f"fact {row['id'][:12]} is corrupt: its body hashes to {fact.id[:12]}")
        found[row["run_id"]].append(fact)
    return found


def runs_by_id(store: Store, run_ids: Sequence[int]) -> dict[int, RunRecord]:
    """The runs of ``run_ids`` (those that exist), read in two queries rather than two per run."""
    ids = json.dumps([int(r) for r in run_ids])
    facts: dict[int, list[str]] = {}
    for row in store.all("SELECT run_id, fact_id FROM run_facts WHERE run_id IN (SELECT value FROM json_each(?)) "
                         "ORDER BY run_id, position", (ids,)):
        facts.setdefault(row["run_id"], []).append(row["fact_id"])
    rows = store.all(f"{_SELECT} WHERE runs.id IN (SELECT value FROM json_each(?))", (ids,))
    return {row["id"]: _record(store, row, tuple(facts.get(row["id"], ()))) for row in rows}


def list_runs(store: Store, fact_ref: str | None = None) -> list[RunRecord]:
    if fact_ref is None:
        return [_record(store, r) for r in store.all(f"{_SELECT} ORDER BY runs.id")]
    fact_id = get_fact(store, fact_ref).id
    rows = store.all(f"{_SELECT} WHERE runs.id IN (SELECT run_id FROM run_facts WHERE fact_id = ?) ORDER BY runs.id",
                     (fact_id,))
    return [_record(store, r) for r in rows]


def run_delta(store: Store, run: RunRecord) -> Delta:
    return get_delta(store, run.delta_sha256)


def _fact_ids(store: Store, facts: Sequence[Fact | str], delta: Delta) -> list[str]:
    ids = [f.id if isinstance(f, Fact) else get_fact(store, f).id for f in facts]
    if not ids:
        raise LedgerError("a run must be for at least one fact")
    if delta.fact_ids and sorted(delta.fact_ids) != sorted(ids):
        raise LedgerError(f"the {delta.method} delta was computed for facts "
                          f"{', '.join(i[:12] for i in delta.fact_ids)}, not {', '.join(i[:12] for i in ids)}")
    for fact_id in ids:
        if store.scalar("SELECT 1 FROM facts WHERE id = ?", (fact_id,)) is None:
            raise LedgerError(f"fact {fact_id[:12]} is not in workspace {store.path}; add it before its run")
    return ids


def record_run(store: Store, *, facts: Sequence[Fact | str], delta: Delta, computed_on: str,
               method: str | None = None, hparams: Mapping[str, Any] | None = None,
               metrics: Mapping[str, Any] | None = None, previews: Any = None,
               seconds: float = 0.0, environment: Mapping[str, Any] | None = None,
               overrides: Mapping[str, str] | None = None) -> RunRecord:
    """Store one edit run and its delta in one transaction. ``computed_on`` is the state
    fingerprint of the weights the delta was computed against. A trained editor's checkpoint
    (path, SHA-256, fingerprint) goes into the environment whoever computed the delta. A preview
    repeated with the same settings is a run of its own (the reviewer decides on the run
    shown), sharing the stored delta."""
    with store.writing():
        return insert_run(store, facts=facts, delta=delta, computed_on=computed_on, method=method, hparams=hparams,
                          metrics=metrics, previews=previews, seconds=seconds, environment=environment,
                          overrides=overrides)


def insert_run(store: Store, *, facts: Sequence[Fact | str], delta: Delta, computed_on: str,
               method: str | None = None, hparams: Mapping[str, Any] | None = None,
               metrics: Mapping[str, Any] | None = None, previews: Any = None,
               seconds: float = 0.0, environment: Mapping[str, Any] | None = None,
               overrides: Mapping[str, str] | None = None) -> RunRecord:
    """``record_run`` inside the caller's write transaction (a revert and the runs computed on it
    land together: core.ledger.recompute)."""
    environment = dict(environment or {})
    if "editor_checkpoint" not in environment and (used := checkpoint_used(delta)) is not None:
        environment["editor_checkpoint"] = used
    seed = environment.get("seed")
    method, settings = method or delta.method, (dumps(dict(hparams or delta.hparams)), dumps(dict(overrides or {})))
    ids = _fact_ids(store, facts, delta)
    sha, _ = put_delta(store, delta)
    run_id = store.db.execute(
        "INSERT INTO runs (base_id, method, hparams, overrides, seed, environment, metrics, previews, seconds, "
        "delta_sha256, computed_on, author, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (base_model(store).id, method, *settings, None if seed is None else int(seed), dumps(environment),
         dumps(dict(metrics or {})), dumps(previews if previews is not None else {}), float(seconds), sha,
         computed_on, store.author, now())).lastrowid
    store.db.conn.executemany("INSERT INTO run_facts (run_id, position, fact_id) VALUES (?, ?, ?)",
                              [(run_id, i, fact_id) for i, fact_id in enumerate(ids)])
    return get_run(store, run_id)


def outcome_metrics(outcome: Any) -> dict[str, Any]:
    """The outcome's metrics (protocol, pre, post...) plus its full before/after reports."""
    metrics = outcome.metrics() if callable(outcome.metrics) else outcome.metrics
    metrics = dict(metrics)
    for name in ("pre", "post"):
        report = getattr(outcome, name, None)
        if hasattr(report, "to_dict"):
            metrics[f"{name}_report"] = report.to_dict()
    return metrics


def outcome_previews(outcome: Any) -> Any:
    previews = outcome.previews
    if isinstance(previews, Mapping):
        return dict(previews)
    return [p.to_dict() if hasattr(p, "to_dict") else p for p in previews]


def record_outcome(store: Store, outcome: Any, computed_on: str,
                   overrides: Mapping[str, str] | None = None, within: bool = False) -> RunRecord:
    """Store a ``core.workflows.editing.EditOutcome`` as computed: delta, hyperparameters, metrics and
    reports, previews, timing and environment; ``within`` the caller's write transaction."""
    fields = dict(facts=list(outcome.facts), delta=outcome.delta, computed_on=computed_on,
                  method=outcome.method, hparams=outcome.hparams, metrics=outcome_metrics(outcome),
                  previews=outcome_previews(outcome), seconds=outcome.seconds,
                  environment=outcome.environment, overrides=overrides)
    return insert_run(store, **fields) if within else record_run(store, **fields)
