"""Review decisions as history rows: approve, reject (with a note), needs-rework, and undo.

A decision never rewrites anything: it appends a ``status_history`` row, and a trigger
updates the fact's cached status from it. Undo appends the opposite move, pointing at the
decision it reverses (``undoes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.ledger.db import Store, now
from core.ledger.errors import LedgerError, ReviewError
from core.ledger.queue import committed_fact_ids, find_conflicts, get_fact
from core.ledger.records import DECISIONS, STATUSES, FactRecord, StatusChange
from core.ledger.state import head, state_fact_ids

NOTE_REQUIRED = ("rejected",)


def _change(row: dict[str, Any]) -> StatusChange:
    return StatusChange(row["id"], row["fact_id"], row["author"], row["at"], row["from_status"], row["to_status"],
                        row["note"], row["undoes"], row.get("run_id"))


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


def _fact_runs(store: Store, fact_id: str) -> list[int]:
    """The runs that edit the fact, oldest first."""
    return [r["run_id"] for r in store.all("SELECT run_id FROM run_facts WHERE fact_id = ? ORDER BY run_id",
                                           (fact_id,))]


def _applied_in(store: Store, run_id: int) -> str | None:
    """The commit that applied the run (None: never committed)."""
    return store.scalar("SELECT commit_id FROM commit_runs WHERE run_id = ? AND op = 'apply'", (run_id,))


def _approved_run(store: Store, record: FactRecord, run_id: int | None) -> int | None:
    """The run an approval approves: the one named, else the fact's latest not committed before
    (the one the reviewer has before them); None when there is none (a commit then leaves the
    fact out and says why). A run committed and reverted since is never approved again."""
    if run_id is None:
        return store.scalar("SELECT run_id FROM run_facts WHERE fact_id = ? AND run_id NOT IN "
                            "(SELECT run_id FROM commit_runs WHERE op = 'apply') ORDER BY run_id DESC LIMIT 1",
                            (record.id,))
    runs = _fact_runs(store, record.id)
    if run_id not in runs:
        edits = f"its runs are {', '.join(map(str, runs))}" if runs else "it has no run yet"
        raise ReviewError(f"run {run_id} does not edit fact {record.fact.short_id} ({edits})")
    if (applied := _applied_in(store, run_id)) is not None:
        raise ReviewError(f"run {run_id} was committed in {applied[:12]} and reverted since; "
                          "preview the fact again to approve a new edit of it")
    return run_id


def _approval_run(store: Store, fact_id: str, before: int | None = None) -> int | None:
    """The run of the fact's latest approval (before history row ``before``, if given): as
    recorded, or for an approval recorded before schema 5, the fact's latest run made before it
    (as commits infer)."""
    row = store.one("SELECT at, run_id FROM status_history WHERE fact_id = ? AND id < ? AND to_status = 'approved' "
                    "ORDER BY id DESC LIMIT 1", (fact_id, before if before is not None else 2**62))
    if row is None or row["run_id"] is not None:
        return None if row is None else row["run_id"]
    return store.scalar("SELECT r.id FROM runs r JOIN run_facts rf ON rf.run_id = r.id WHERE rf.fact_id = ? "
                        "AND r.created_at <= ? ORDER BY r.id DESC LIMIT 1", (fact_id, row["at"]))


def _append(store: Store, fact_id: str, from_status: str, to_status: str, note: str,
            undoes: int | None = None, run_id: int | None = None) -> StatusChange:
    cursor = store.db.execute(
        "INSERT INTO status_history (fact_id, author, at, from_status, to_status, note, undoes, run_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (fact_id, store.author, now(), from_status, to_status, note, undoes, run_id))
    return _change(store.one("SELECT * FROM status_history WHERE id = ?", (cursor.lastrowid,)))


def review(store: Store, fact_ref: str, decision: str, note: str = "", run_id: int | None = None) -> StatusChange:
    """Record a decision on one fact; a rejection must say why. An approval records the run
    it approves: ``run_id`` (one of the fact's runs, not committed before), else the fact's latest."""
    return review_many(store, [fact_ref], decision, note, run_id)[0]


def review_many(store: Store, fact_refs: Sequence[str], decision: str, note: str = "",
                run_id: int | None = None) -> list[StatusChange]:
    """The same decision on each fact, in one transaction: all are recorded, or none (a refusal
    names the fact when there are several)."""
    status, note = target_status(decision), (note or "").strip()
    if status in NOTE_REQUIRED and not note:
        raise ReviewError(f"a {status} decision needs a note saying why (--note TEXT)")
    if run_id is not None and status != "approved":
        raise ReviewError(f"a run is chosen only by an approval, not by {decision!r}")
    with store.writing():
        changes = []
        for ref in fact_refs:
            try:
                changes.append(_decide(store, get_fact(store, ref), status, note, run_id))
            except LedgerError as exc:  # an unknown fact, a refused decision: the transaction rolls back
                if len(fact_refs) == 1:
                    raise
                raise ReviewError(f"fact {ref}: {exc}; nothing was recorded") from None
        return changes


def _decide(store: Store, record, status: str, note: str, run_id: int | None) -> StatusChange:
    if record.status == status and (status != "approved" or run_id is None):
        raise ReviewError(f"fact {record.fact.short_id} is already {status}")
    _check_not_committed(store, record)
    approves = None
    if status == "approved":
        _check_approvable(store, record)
        approves = _approved_run(store, record, run_id)
        if record.status == status and approves == _approval_run(store, record.id):
            raise ReviewError(f"fact {record.fact.short_id} is already approved on run {approves}")
    return _append(store, record.id, record.status, status, note, run_id=approves)


def _committed_approval(store: Store, row: dict[str, Any]) -> str | None:
    """The commit that applied the run an approval row approved (None: not an approval, or never
    committed): a committed approval stays settled after a revert (trial 47: Undo turned a
    reverted fact back into a pending one)."""
    if row["to_status"] != "approved":
        return None
    run_id = row.get("run_id") or _approval_run(store, row["fact_id"], before=row["id"] + 1)
    return None if run_id is None else _applied_in(store, run_id)


def undo_target(store: Store) -> tuple[StatusChange, str | None] | None:
    """(the decision Undo takes back, why it cannot: None, "committed" while its edit is in HEAD,
    "reverted" when its edit was committed and reverted since), or None when this author has none
    left. Undo passes over decisions whose edit was committed (locked: trials 44 and 47) to this
    author's latest other one; when every one left is, the latest is named with why."""
    rows = store.all(
        "SELECT * FROM status_history h WHERE author = ? AND from_status IS NOT NULL AND undoes IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM status_history u WHERE u.undoes = h.id) ORDER BY id DESC",
        (store.author,))
    if not rows:
        return None
    in_head = committed_fact_ids(store)  # once: not a walk of HEAD per decision passed over
    settled: set[str] = set()  # facts whose later decision was committed: their earlier ones are past undoing
    for row in rows:
        if row["fact_id"] in settled or row["fact_id"] in in_head or _committed_approval(store, row) is not None:
            settled.add(row["fact_id"])
            continue
        return _change(row), None
    return _change(rows[0]), "committed" if rows[0]["fact_id"] in in_head else "reverted"


def undo(store: Store) -> StatusChange:
    """Reverse this author's latest decision that is not yet undone and whose edit was never
    committed (``undo_target``), as a new history row."""
    with store.writing():
        target = undo_target(store)
        if target is None:
            raise ReviewError(f"{store.author} has no review decision left to undo")
        last, blocked = target
        record = get_fact(store, last.fact_id)
        if blocked == "committed":
            _check_not_committed(store, record)
        if blocked == "reverted":
            raise ReviewError(f"cannot undo decision #{last.id} on fact {record.fact.short_id}: the edit it approved "
                              "was committed and reverted since; preview the fact again, or reject it")
        if record.status != last.to_status:
            raise ReviewError(f"cannot undo decision #{last.id} on fact {record.fact.short_id}: it has since "
                              f"become {record.status}")
        run_id = None
        if last.from_status == "approved":  # back to the approval it replaced, on that approval's run
            _check_approvable(store, record)
            run_id = _approval_run(store, last.fact_id, before=last.id)
        return _append(store, last.fact_id, last.to_status, last.from_status,
                       f"undo of decision #{last.id}", undoes=last.id, run_id=run_id)


def history(store: Store, fact_ref: str | None = None) -> list[StatusChange]:
    if fact_ref is None:
        return [_change(r) for r in store.all("SELECT * FROM status_history ORDER BY id")]
    fact_id = get_fact(store, fact_ref).id
    return [_change(r) for r in store.all("SELECT * FROM status_history WHERE fact_id = ? ORDER BY id", (fact_id,))]


def latest_decisions(store: Store) -> dict[str, StatusChange]:
    """{fact id: its latest history row}: the note and reviewer an export carries."""
    rows = store.all("SELECT * FROM status_history WHERE id IN (SELECT MAX(id) FROM status_history GROUP BY fact_id)")
    return {r["fact_id"]: _change(r) for r in rows}
