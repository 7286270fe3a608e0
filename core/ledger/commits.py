"""Commits: approved runs applied on top of the parent, append-only, in one transaction each."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence

from core.ledger.db import Store, dumps, now
from core.ledger.decided import decided_run_id
from core.ledger.errors import CommitRefused, LedgerError
from core.ledger.figures import state_figures, store_figures
from core.ledger.queue import fact_records
from core.ledger.records import CommitDetail, CommitRecord, RunRecord
from core.ledger.refs import resolve, tags_of
from core.ledger.runs import get_run, runs_by_id
from core.ledger.state import (
    base_model,
    commit_from_row,
    delta_hashes,
    ever_committed,
    head,
    newest_commit_with_state,
    reverted_facts,
    state_fact_ids,
    state_fingerprint,
    state_runs,
)
from core.workflows.gates import GateCheck, check_runs
from core.workflows.together import TogetherFigures

log = logging.getLogger(__name__)


def insert_commit(store: Store, parent: CommitRecord | None, kind: str, message: str,
                  applied: Sequence[int] = (), dropped: Sequence[int] = (),
                  gate: GateCheck | None = None) -> CommitRecord:
    """Append a commit inside the caller's write transaction; ``parent`` must be HEAD."""
    base = base_model(store)
    before = state_runs(store, parent) if parent else []
    after = [r for r in before if r not in set(dropped)] + list(applied)
    state = state_fingerprint(base.fingerprint, delta_hashes(store, after))
    created_at, parent_id = now(), parent.id if parent else None
    body = {"parent": parent_id, "base": base.fingerprint, "kind": kind, "author": store.author,
            "message": message, "created_at": created_at, "state": state, "applied": list(applied),
            "dropped": list(dropped)}
    if gate is not None:  # the gate is part of what the commit id vouches for
        body["gate"] = gate.to_dict()
    commit_id = hashlib.sha256(dumps(body).encode()).hexdigest()
    store.db.execute(
        "INSERT INTO commits (id, seq, parent_id, base_id, kind, author, message, created_at, state_fingerprint, "
        "n_applied, n_dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (commit_id, parent.seq + 1 if parent else 0, parent_id, base.id, kind, store.author, message, created_at,
         state, len(applied), len(dropped)))
    ops = [(r, "apply") for r in applied] + [(r, "drop") for r in dropped]
    store.db.conn.executemany("INSERT INTO commit_runs (commit_id, position, run_id, op) VALUES (?, ?, ?, ?)",
                              [(commit_id, i, run, op) for i, (run, op) in enumerate(ops)])
    if gate is not None:
        record = gate.to_dict()
        store.db.execute("INSERT INTO commit_gates (commit_id, thresholds, warnings, forced) VALUES (?, ?, ?, ?)",
                         (commit_id, dumps(record["thresholds"]), dumps(record["warnings"]), int(gate.forced)))
        if gate.together:
            store_figures(store, commit_id, parent, after, gate.together)
    return commit_from_row(store, store.one("SELECT * FROM commits WHERE id = ?", (commit_id,)))


def _fact_status(store: Store, fact_id: str) -> str:
    return store.scalar("SELECT status FROM facts WHERE id = ?", (fact_id,))


def _approvals(store: Store) -> dict[str, dict]:
    """Each approved fact's approval: its latest history row (time and recorded run)."""
    rows = store.all("SELECT h.fact_id, h.at, h.run_id FROM status_history h JOIN facts f ON f.id = h.fact_id "
                     "WHERE f.status = 'approved' AND h.id = (SELECT MAX(id) FROM status_history "
                     "WHERE fact_id = h.fact_id)")
    return {r["fact_id"]: r for r in rows}


def _decided_runs(store: Store, approvals: dict[str, dict]) -> dict[str, int]:
    """Per approved fact, the run its approval approves (``decided_run_id``). Facts with none
    (approved elsewhere) are absent."""
    runs: dict[str, list[tuple[int, str]]] = {}
    for row in store.all("SELECT rf.fact_id, r.id, r.created_at FROM runs r JOIN run_facts rf ON rf.run_id = r.id "
                         "JOIN facts f ON f.id = rf.fact_id WHERE f.status = 'approved' ORDER BY r.id"):
        runs.setdefault(row["fact_id"], []).append((row["id"], row["created_at"]))
    decided = {fact_id: decided_run_id(row["run_id"], row["at"], runs.get(fact_id, ()))
               for fact_id, row in approvals.items()}
    return {fact_id: run_id for fact_id, run_id in decided.items() if run_id is not None}


class RunChoice:
    """What a commit without run ids may take for each approved fact (``pick_runs``): the run
    the reviewer approved (``_decided_runs``; a later preview does not replace it). When that run
    was committed already and reverted since, the fact's newest run made after the revert is taken,
    as "preview again to re-apply" says, and never one made before it. A fact approved with no run
    before it, or on a run that also edits a fact not approved (it can never be committed), gets
    its newest run."""

    def __init__(self, store: Store) -> None:
        rows = store.all(
            "SELECT r.id FROM runs r WHERE r.id NOT IN (SELECT run_id FROM commit_runs WHERE op = 'apply') "
            "AND NOT EXISTS (SELECT 1 FROM run_facts rf JOIN facts f ON f.id = rf.fact_id "
            "WHERE rf.run_id = r.id AND f.status != 'approved') ORDER BY r.id DESC")
        self.committable = [row["id"] for row in rows]  # newest first
        self._committable = set(self.committable)
        self.decided = _decided_runs(store, _approvals(store))
        self.used = {row["run_id"] for row in store.all("SELECT run_id FROM commit_runs WHERE op = 'apply'")}
        self.reverted = reverted_facts(store)

    def refusal(self, run: RunRecord, fact_id: str) -> str | None:
        """Why ``run`` may not carry the approved ``fact_id`` (None: it may)."""
        chosen = self.decided.get(fact_id)
        if chosen is None or (chosen not in self.used and chosen not in self._committable):
            return None  # approved elsewhere, or on a run that also edits an unapproved fact: the newest
        if chosen in self.used:  # committed, then reverted: only a preview made after that revert
            revert = self.reverted.get(fact_id)
            if revert is not None and run.created_at >= revert.created_at:  # recompute: the same transaction
                return None
            where = revert.short_id if revert else "a later commit"
            return f"its edit was reverted in {where} after run {run.id} was made"
        return None if run.id == chosen else f"approved on run {chosen}"


def pick_runs(store: Store, in_state: dict[str, int], choice: RunChoice | None = None) -> list[RunRecord]:
    """For each approved fact not yet in the state, the run ``RunChoice`` allows; newest first
    where several do, one run per fact."""
    choice = choice or RunChoice(store)
    picked: list[RunRecord] = []
    covered: set[str] = set(in_state)
    facts_of: dict[int, set[str]] = {}
    for row in store.all("SELECT run_id, fact_id FROM run_facts"):  # one query, not a run read per run
        facts_of.setdefault(row["run_id"], set()).add(row["fact_id"])
    for run_id in choice.committable:
        facts = facts_of.get(run_id, set())
        if covered & facts:
            continue  # a fact already in the state, or taken by a newer run: the run is never read
        run = get_run(store, run_id)
        if all(choice.refusal(run, f) is None for f in facts):
            picked.append(run)
            covered |= facts
    return sorted(picked, key=lambda r: r.id)


def commit_candidates(store: Store) -> list[RunRecord]:
    return pick_runs(store, state_fact_ids(store, head(store)))


def stale_runs(store: Store, runs: Sequence[RunRecord]) -> dict[int, CommitRecord | None]:
    """The runs computed on another state than HEAD's (commit applies them in order all the
    same): run id → the newest commit holding the state it was computed on (None: none)."""
    parent, stale = head(store), {}
    for run in runs:
        if run.computed_on != parent.state_fingerprint:
            stale[run.id] = newest_commit_with_state(store, run.computed_on)
    return stale


def approved_without_run(store: Store) -> list[str]:
    """Approved facts not in HEAD that no uncommitted run edits: a commit leaves them out."""
    in_state = state_fact_ids(store, head(store))
    return not_picked(store, in_state, pick_runs(store, in_state))


def not_picked(store: Store, in_state: Mapping[str, int], picked: Sequence[RunRecord]) -> list[str]:
    """Approved facts, in queue order, neither in the state nor edited by a ``picked`` run."""
    covered = {f for run in picked for f in run.fact_ids}
    rows = store.all("SELECT id FROM facts WHERE status = 'approved' ORDER BY rowid")
    return [r["id"] for r in rows if r["id"] not in in_state and r["id"] not in covered]


def _check_runs(store: Store, runs: list[RunRecord], in_state: dict[str, int], committed: set[int]) -> None:
    seen: set[str] = set()
    for run in runs:
        if run.id in committed:
            raise LedgerError(f"run {run.id} was already committed; run the fact again to commit a new edit")
        for fact_id in run.fact_ids:
            status = _fact_status(store, fact_id)
            if status != "approved":
                raise LedgerError(f"run {run.id}: fact {fact_id[:12]} is {status}, not approved")
            if fact_id in in_state:
                raise LedgerError(f"run {run.id}: fact {fact_id[:12]} is already in HEAD (run {in_state[fact_id]}); "
                                  "revert that edit first")
            if fact_id in seen:
                raise LedgerError(f"run {run.id}: fact {fact_id[:12]} is edited by two runs of this commit")
            seen.add(fact_id)


def commit(store: Store, message: str, run_ids: Sequence[int] | None = None,
           thresholds: Mapping[str, float] | None = None, force: bool = False,
           together: TogetherFigures | None = None) -> CommitRecord:
    """Commit the given runs, or by default the latest run of every approved, uncommitted fact.

    With ``thresholds`` the commit gate applies (``core.workflows.gates``): runs under a
    threshold are refused unless ``force``, and the commit records the gate either way;
    ``together`` holds the figures measured on HEAD with all the runs in place."""
    with store.writing():
        parent = head(store)
        _check_measured_on(together, parent)
        runs = checked_runs(store, message, run_ids)
        _check_measured_for(together, runs)
        held = _in_order(store, state_runs(store, parent)) if together is not None else []
        gate = None if thresholds is None else check_runs(runs, thresholds, force, together, held)
        if gate is not None and not gate.passed and not force:
            raise CommitRefused(_refusal(gate, [r.id for r in runs]), gate, together)
        stale = list(stale_runs(store, runs))
        if stale:
            log.info("runs %s were computed on another state than HEAD; they are applied in order", stale)
        return insert_commit(store, parent, "commit", message.strip(), applied=[r.id for r in runs], gate=gate)


def _refusal(gate, run_ids: list[int]) -> str:
    """Why the gate refused, and the ways on: better edits, only the runs that pass (trial 44:
    ``--run N`` was only in ``--help``), or a forced commit. The runs that pass are named only
    when they alone would pass: a fall measured with the edits together, or of an edit already
    in HEAD, says nothing about a commit of fewer."""
    passing = [i for i in run_ids if not gate.for_run(i)]
    alone = all(w.run_id in run_ids and not w.together for w in gate.warnings)
    only = (f", commit only the runs that pass ({' '.join(f'--run {i}' for i in passing)})"
            if alone and 0 < len(passing) < len(run_ids) else "")
    return (f"commit refused: under the commit thresholds ({gate.describe()}); improve or reject these edits{only}, "
            "or commit anyway with --force (the commit records that it was forced)")


def _check_measured_on(together: TogetherFigures | None, parent: CommitRecord) -> None:
    """Figures measured on another HEAD (or on one nobody named) say nothing about this commit."""
    if together is None:
        return
    if not together.head:
        raise LedgerError("internal: figures measured together must name the commit they were measured on")
    if together.head != parent.id:
        raise LedgerError(f"these edits were measured together on commit {together.head[:12]}, but HEAD is now "
                          f"{parent.short_id}: commit again to measure them on it")


def _check_measured_for(together: TogetherFigures | None, runs: Sequence[RunRecord]) -> None:
    """Nor do figures measured for other runs."""
    if together is not None and together.run_ids != tuple(run.id for run in runs):
        raise LedgerError(f"the figures were measured for runs {list(together.run_ids)}, not for the runs "
                          f"{[run.id for run in runs]} this commit lands: commit again to measure those")


def checked_runs(store: Store, message: str, run_ids: Sequence[int] | None = None) -> list[RunRecord]:
    """The runs a commit of ``run_ids`` (default: the approved facts' latest) would land, after
    every check the commit makes before its gate; raises LedgerError with the reason otherwise."""
    if not (message or "").strip():
        raise LedgerError("a commit needs a message (-m TEXT)")
    in_state, committed = state_fact_ids(store, head(store)), ever_committed(store)
    runs = [get_run(store, r) for r in run_ids] if run_ids else pick_runs(store, in_state)
    if not runs:
        approved = store.scalar("SELECT COUNT(*) FROM facts WHERE status = 'approved'")
        raise LedgerError(f"nothing to commit: none of the {approved} approved facts has an uncommitted run "
                          "(compute one with `factsmith run ID --method NAME`)")
    _check_runs(store, runs, in_state, committed)
    return runs


def log_commits(store: Store, ref: str = "HEAD", limit: int | None = None) -> list[CommitRecord]:
    """From ``ref`` back to the root, newest first."""
    with store.reading():
        start = resolve(store, ref)
        sql = "SELECT * FROM commits WHERE seq <= ? ORDER BY seq DESC" + (" LIMIT ?" if limit else "")
        rows = store.all(sql, (start.seq, limit) if limit else (start.seq,))
        return [commit_from_row(store, r) for r in rows]


def show(store: Store, ref: str) -> CommitDetail:
    with store.reading():
        commit = resolve(store, ref)
        runs = tuple(_in_order(store, state_runs(store, commit)))  # in bulk: History reads it on the GUI thread
        facts = tuple(fact_records(store, [f for run in runs for f in run.fact_ids]))
        return CommitDetail(commit, runs, facts, tags_of(store, commit.id), state_figures(store, commit, runs))


def _in_order(store: Store, run_ids: Sequence[int]) -> list:
    """The runs of ``run_ids`` in that order, read in two queries rather than two per run."""
    found = runs_by_id(store, run_ids)
    return [found[run_id] for run_id in run_ids]
