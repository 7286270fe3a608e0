"""Commits as rows, and the state they stand for: the ordered runs applied to the base.

History is linear (``parent_id`` is UNIQUE), so a commit's state is every commit up to
its ``seq`` folded in order: ``apply`` rows append a run, ``drop`` rows (reverts) remove
one. The state fingerprint names that state without loading a model:
sha256 of the base fingerprint and the delta hashes, in order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from core.ledger.db import Store
from core.ledger.errors import LedgerError
from core.ledger.records import BaseModel, CommitRecord
from core.workflows.gates import unmeasured_in


def state_fingerprint(base_fingerprint: str, delta_hashes: list[str]) -> str:
    digest = hashlib.sha256(f"factsmith-state\n{base_fingerprint}\n".encode())
    for sha in delta_hashes:
        digest.update(f"{sha}\n".encode())
    return digest.hexdigest()


def base_model(store: Store) -> BaseModel:
    row = store.one("SELECT * FROM base_models ORDER BY id LIMIT 1")
    if row is None:
        raise LedgerError(f"workspace {store.path} has no base model; create it with `workspace init`")
    return BaseModel(**row)


def newest_commit_with_state(store: Store, state_fingerprint: str) -> CommitRecord | None:
    """The newest commit whose state is ``state_fingerprint`` (None: no commit ever held it)."""
    row = store.one("SELECT * FROM commits WHERE state_fingerprint = ? ORDER BY seq DESC LIMIT 1",
                    (state_fingerprint,))
    return commit_from_row(store, row) if row else None


def commit_from_row(store: Store, row: dict[str, Any]) -> CommitRecord:
    ops = store.all("SELECT run_id, op FROM commit_runs WHERE commit_id = ? ORDER BY position", (row["id"],))
    return CommitRecord(
        id=row["id"], seq=row["seq"], parent_id=row["parent_id"], kind=row["kind"], author=row["author"],
        message=row["message"], created_at=row["created_at"], state_fingerprint=row["state_fingerprint"],
        applied=tuple(o["run_id"] for o in ops if o["op"] == "apply"),
        dropped=tuple(o["run_id"] for o in ops if o["op"] == "drop"),
        gate=_gate(store, row["id"]),
    )


def _gate(store: Store, commit_id: str) -> dict[str, Any] | None:
    row = store.one("SELECT thresholds, warnings, forced FROM commit_gates WHERE commit_id = ?", (commit_id,))
    if row is None:
        return None
    thresholds = json.loads(row["thresholds"])
    return {"thresholds": thresholds, "warnings": json.loads(row["warnings"]), "forced": bool(row["forced"]),
            "unmeasured": _unmeasured(store, commit_id, thresholds)}


def _unmeasured(store: Store, commit_id: str, thresholds: dict[str, float]) -> list[dict[str, Any]]:
    """The gated metrics the commit's applied runs did not measure (no locality prompts): read from
    the runs, so older commits say it too; the gate neither passed nor failed them."""
    rows = store.all("SELECT r.id, r.metrics FROM commit_runs cr JOIN runs r ON r.id = cr.run_id "
                     "WHERE cr.commit_id = ? AND cr.op = 'apply' ORDER BY cr.position", (commit_id,))
    return [{"run": row["id"], "metric": metric} | ({"some": some} if some else {}) for row in rows
            for metric, some in unmeasured_in(json.loads(row["metrics"]), thresholds)]


def head(store: Store) -> CommitRecord:
    row = store.one("SELECT * FROM commits ORDER BY seq DESC LIMIT 1")
    if row is None:
        raise LedgerError(f"workspace {store.path} has no commits; create it with `workspace init`")
    return commit_from_row(store, row)


def commit_at_seq(store: Store, seq: int) -> CommitRecord | None:
    row = store.one("SELECT * FROM commits WHERE seq = ?", (seq,))
    return None if row is None else commit_from_row(store, row)


def state_runs(store: Store, commit: CommitRecord) -> list[int]:
    """The run ids applied in ``commit``'s state, in the order they are replayed."""
    ops = store.all(
        "SELECT cr.run_id, cr.op FROM commits c JOIN commit_runs cr ON cr.commit_id = c.id "
        "WHERE c.seq <= ? ORDER BY c.seq, cr.position", (commit.seq,))
    order: dict[int, None] = {}  # an ordered set
    for op in ops:
        if op["op"] == "apply":
            order[op["run_id"]] = None
        else:
            order.pop(op["run_id"], None)
    return list(order)


def delta_hashes(store: Store, run_ids: list[int]) -> list[str]:
    """The delta sha256 of each run, in the given order."""
    rows = store.all("SELECT id, delta_sha256 FROM runs WHERE id IN (SELECT run_id FROM commit_runs)")
    by_id = {r["id"]: r["delta_sha256"] for r in rows}
    missing = [i for i in run_ids if i not in by_id]
    for i in missing:  # runs not committed yet (a commit being prepared)
        by_id[i] = store.scalar("SELECT delta_sha256 FROM runs WHERE id = ?", (i,))
    return [by_id[i] for i in run_ids]


def state_fact_ids(store: Store, commit: CommitRecord) -> dict[str, int]:
    """{fact id: run id} of every fact whose edit is in the commit's state."""
    runs = set(state_runs(store, commit))
    # by run, so a fact edited in two live runs maps to its latest, whatever order SQLite reads them in
    rows = store.all("SELECT run_id, fact_id FROM run_facts WHERE run_id IN (SELECT run_id FROM commit_runs) "
                     "ORDER BY run_id")
    return {r["fact_id"]: r["run_id"] for r in rows if r["run_id"] in runs}


def ever_committed(store: Store) -> set[int]:
    return {r["run_id"] for r in store.all("SELECT DISTINCT run_id FROM commit_runs WHERE op = 'apply'")}


def run_commits(store: Store, run_id: int) -> tuple[CommitRecord | None, CommitRecord | None]:
    """That run's own history: the commit that applied it, and the later revert that dropped it
    (None, None: never committed; (X, None): committed in X and not reverted since)."""
    rows = store.all("SELECT c.*, cr.op FROM commits c JOIN commit_runs cr ON cr.commit_id = c.id "
                     "WHERE cr.run_id = ? ORDER BY c.seq, cr.position", (run_id,))
    applied = dropped = None
    for row in rows:
        op = row.pop("op")
        if op == "apply":
            applied, dropped = commit_from_row(store, row), None
        elif applied is not None:
            dropped = commit_from_row(store, row)
    return applied, dropped


def is_reverted(record: Any, reverted: Mapping[str, Any]) -> bool:
    """An approved fact whose committed edit a revert took out (``reverted_facts``) and that is not
    in HEAD: what the window shows as "reverted". A fact rejected after its revert is just rejected."""
    return record.status == "approved" and not record.committed and record.id in reverted


def reverted_facts(store: Store) -> dict[str, CommitRecord]:
    """Facts whose edit is not in HEAD because a revert dropped it: fact id → the latest revert
    that dropped an edit of it (a fact committed again since is not reverted)."""
    in_head = state_fact_ids(store, head(store))
    rows = store.all("SELECT c.*, rf.fact_id FROM commits c JOIN commit_runs cr ON cr.commit_id = c.id "
                     "JOIN run_facts rf ON rf.run_id = cr.run_id WHERE cr.op = 'drop' ORDER BY c.seq")
    out: dict[str, CommitRecord] = {}
    for row in rows:
        fact_id = row.pop("fact_id")
        if fact_id not in in_head:
            out[fact_id] = commit_from_row(store, row)
    return out
