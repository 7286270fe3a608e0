"""Whole-workspace checks: SQLite's own, then the ledger's invariants, row by row."""

from __future__ import annotations

from core.ledger.db import Store
from core.ledger.errors import LedgerError
from core.ledger.state import base_model, commit_from_row, delta_hashes, state_fingerprint, state_runs


def _sqlite_problems(store: Store) -> list[str]:
    problems = [r[0] for r in store.db.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
    for table, rowid, parent, _ in store.db.execute("PRAGMA foreign_key_check").fetchall():
        problems.append(f"{table} row {rowid} refers to a missing {parent} row")
    return problems


def _commit_problems(store: Store) -> list[str]:
    problems = []
    base = base_model(store)
    for row in store.all("SELECT * FROM commits ORDER BY seq"):
        commit = commit_from_row(store, row)
        if (len(commit.applied), len(commit.dropped)) != (row["n_applied"], row["n_dropped"]):
            problems.append(f"commit {commit.short_id} lists {len(commit.applied)} applied and {len(commit.dropped)} "
                            f"dropped runs, but records {row['n_applied']} and {row['n_dropped']}")
        hashes = delta_hashes(store, state_runs(store, commit))
        if state_fingerprint(base.fingerprint, hashes) != commit.state_fingerprint:
            problems.append(f"commit {commit.short_id}: its state fingerprint does not match its deltas")
    return problems


def _import_problems(store: Store) -> list[str]:
    rows = store.all("SELECT i.id, i.source, i.added, COUNT(f.id) AS found FROM imports i "
                     "LEFT JOIN facts f ON f.import_id = i.id GROUP BY i.id")
    return [f"import {r['id']} ({r['source']}) recorded {r['added']} facts, {r['found']} are stored"
            for r in rows if r["added"] != r["found"]]


def _delta_problems(store: Store) -> tuple[list[str], dict[str, int]]:
    """Every stored delta read back and checked against its hash (review 46: a flipped byte or a
    lost delta file passed the check, then every checkout failed); with the runs that use it."""
    from core.ledger.deltastore import get_delta

    runs: dict[str, list[int]] = {}
    for row in store.all("SELECT id, delta_sha256 FROM runs ORDER BY id"):
        runs.setdefault(row["delta_sha256"], []).append(row["id"])
    problems, updates = [], {}  # updates: weight updates per readable delta, for _truncated_batches
    for row in store.all("SELECT sha256 FROM deltas ORDER BY rowid"):
        try:
            updates[row["sha256"]] = len(get_delta(store, row["sha256"]).weight_updates)
        except LedgerError as exc:
            used = runs.get(row["sha256"], [])
            by = f" (run{'s' if len(used) > 1 else ''} {', '.join(map(str, used))})" if used else ""
            problems.append(f"{exc}{by}")
    return problems, updates


def _truncated_batches(store: Store, updates: dict[str, int]) -> list[str]:
    """ROME runs of several facts stored before each fact's update had a slot of its own in the
    delta file (trial 45): only the last fact's update was kept, so the run edits that fact alone."""
    rows = store.all("SELECT r.id, r.delta_sha256, COUNT(f.fact_id) AS facts FROM runs r JOIN run_facts f "
                     "ON f.run_id = r.id WHERE r.method = 'rome' GROUP BY r.id HAVING facts > 1")
    problems = []
    for row in (r for r in rows if r["delta_sha256"] in updates):  # ROME writes one rank-one update per fact
        kept = updates[row["delta_sha256"]]
        if kept < row["facts"]:
            problems.append(f"run {row['id']} (rome, {row['facts']} facts) holds {kept} fact's update: stored by an "
                            "earlier version, it edits only its last fact; preview its facts again")
    return problems


def check_workspace(store: Store) -> list[str]:
    with store.reading():
        problems = _sqlite_problems(store)
        if not problems:
            deltas, updates = _delta_problems(store)
            problems += _commit_problems(store) + _import_problems(store) + deltas + _truncated_batches(store, updates)
    return problems
