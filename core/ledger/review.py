"""Review decisions as history rows: approve, reject (with a note), needs-rework, and undo.

A decision never rewrites anything: it appends a ``status_history`` row, and a trigger
updates the fact's cached status from it. Undo appends the opposite move, pointing at the
decision it reverses (``undoes``).
"""

from __future__ import annotations

from typing import Any

from core.ledger.db import Store, now
from core.ledger.errors import ReviewError
from core.ledger.queue import committed_fact_ids, find_conflicts, get_fact
from core.ledger.records import DECISIONS, STATUSES, FactRecord, StatusChange
from core.ledger.state import head, state_fact_ids

NOTE_REQUIRED = ("rejected",)


def _change(row: dict[str, Any]) -> StatusChange:
    return StatusChange(row["id"], row["fact_id"], row["author"], row["at"], row["from_status"], row["to_status"],
                        row["note"], row["undoes"])


def target_status(decision: str) -> str:
    if decision in DECISIONS:
        return DECISIONS[decision]
    if decision in STATUSES:
        return decision
    raise ReviewError(f"unknown decision {decision!r}; use one of {', '.join(DECISIONS)}")


def _check_not_committed(store: Store, record: FactRecord) -> None:
    if record.committed:
        run = state_fact_ids(store, head(store))[record.id]
        raise ReviewError(f"fact {record.fact.short_id} is part of HEAD (run {run}); revert its edit first, "
                          "then change its review")


def _check_approvable(store: Store, record: FactRecord) -> None:
    conflicts = find_conflicts(store, [(record.fact, None)], committed_fact_ids(store))
    if conflicts:
        c = conflicts[0]
        state = "committed" if c.committed else c.other_status
        raise ReviewError(f"cannot approve fact {record.fact.short_id}: {state} fact {c.other_id[:12]} already "
                          f"answers {record.fact.prompt!r} with {c.other_target!r}; reject or revert it first")


def _append(store: Store, fact_id: str, from_status: str, to_status: str, note: str,
            undoes: int | None = None) -> StatusChange:
    cursor = store.db.execute(
        "INSERT INTO status_history (fact_id, author, at, from_status, to_status, note, undoes) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", (fact_id, store.author, now(), from_status, to_status, note, undoes))
    return _change(store.one("SELECT * FROM status_history WHERE id = ?", (cursor.lastrowid,)))


def review(store: Store, fact_ref: str, decision: str, note: str = "") -> StatusChange:
    """Record a decision on one fact; a rejection must say why."""
    status, note = target_status(decision), (note or "").strip()
    if status in NOTE_REQUIRED and not note:
        raise ReviewError(f"a {status} decision needs a note saying why (--note TEXT)")
    with store.writing():
        record = get_fact(store, fact_ref)
        if record.status == status:
            raise ReviewError(f"fact {record.fact.short_id} is already {status}")
        _check_not_committed(store, record)
        if status == "approved":
            _check_approvable(store, record)
        return _append(store, record.id, record.status, status, note)


def undo(store: Store) -> StatusChange:
    """Reverse this author's latest decision that is not yet undone, as a new history row."""
    with store.writing():
        row = store.one(
            "SELECT * FROM status_history h WHERE author = ? AND from_status IS NOT NULL AND undoes IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM status_history u WHERE u.undoes = h.id) ORDER BY id DESC LIMIT 1",
            (store.author,))
        if row is None:
            raise ReviewError(f"{store.author} has no review decision left to undo")
        last = _change(row)
        record = get_fact(store, last.fact_id)
        if record.status != last.to_status:
            raise ReviewError(f"cannot undo decision #{last.id} on fact {record.fact.short_id}: it has since "
                              f"become {record.status}")
        _check_not_committed(store, record)
        if last.from_status == "approved":
            _check_approvable(store, record)
        return _append(store, last.fact_id, last.to_status, last.from_status,
                       f"undo of decision #{last.id}", undoes=last.id)


def history(store: Store, fact_ref: str | None = None) -> list[StatusChange]:
    if fact_ref is None:
        return [_change(r) for r in store.all("SELECT * FROM status_history ORDER BY id")]
    fact_id = get_fact(store, fact_ref).id
    return [_change(r) for r in store.all("SELECT * FROM status_history WHERE fact_id = ? ORDER BY id", (fact_id,))]


def latest_decisions(store: Store) -> dict[str, StatusChange]:
    """{fact id: its latest history row}: the note and reviewer an export carries."""
    rows = store.all("SELECT * FROM status_history WHERE id IN (SELECT MAX(id) FROM status_history GROUP BY fact_id)")
    return {r["fact_id"]: _change(r) for r in rows}
