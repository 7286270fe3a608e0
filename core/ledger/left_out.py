"""Why a commit leaves an approved fact out, when it has a run.

A run edits all its facts or none, so an approval on a run shared with other facts (a
batch preview) commits only when every other fact of that run can go with it: approved,
not already in HEAD, and not taken by another run of the same commit. Otherwise the fact
is left out although it has a run, and "no run: preview it" would be the wrong advice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.ledger.commits import RunChoice, not_picked, pick_runs
from core.ledger.db import Store
from core.ledger.runs import get_run
from core.ledger.state import head, state_fact_ids


@dataclass(frozen=True)
class Blocker:
    """A fact that keeps a shared run out of the commit, and why."""

    fact_id: str
    reason: str  # a status (pending, rejected, needs-rework), "in HEAD", "goes with run N", or RunChoice.refusal's

    def to_dict(self) -> dict[str, str]:
        return {"fact_id": self.fact_id, "reason": self.reason}


@dataclass(frozen=True)
class LeftOut:
    """An approved fact the commit leaves out: ``run_id`` None when it has no uncommitted
    run; else the run its approval stands on and the facts of it that block it (the fact
    itself too, when that run was made before its edit was reverted)."""

    fact_id: str
    run_id: int | None = None
    blockers: tuple[Blocker, ...] = ()

    def to_dict(self) -> dict:
        return {"fact_id": self.fact_id, "run_id": self.run_id, "blockers": [b.to_dict() for b in self.blockers]}


def _uncommitted_runs(store: Store) -> dict[str, list[int]]:
    """fact id → its runs never committed, newest first."""
    rows = store.all("SELECT rf.run_id, rf.fact_id FROM run_facts rf WHERE rf.run_id NOT IN "
                     "(SELECT run_id FROM commit_runs WHERE op = 'apply') ORDER BY rf.run_id DESC")
    by_fact: dict[str, list[int]] = {}
    for row in rows:
        by_fact.setdefault(row["fact_id"], []).append(row["run_id"])
    return by_fact


def left_out(store: Store) -> list[LeftOut]:
    """Approved facts not in HEAD that ``commit()`` leaves out, in queue order. A fact whose own
    reason is all there is (its edit was reverted after the run was made) is its own blocker."""
    in_state, choice = state_fact_ids(store, head(store)), RunChoice(store)
    picked = pick_runs(store, in_state, choice)  # one choice for what is taken and what is held back
    missing = not_picked(store, in_state, picked)
    if not missing:
        return []
    taken = {f: run.id for run in picked for f in run.fact_ids}
    runs = _uncommitted_runs(store)
    status = {r["id"]: r["status"] for r in store.all("SELECT id, status FROM facts")}

    def why(run, fact_id: str) -> str | None:
        """Why ``fact_id`` keeps ``run`` out of the commit (None: it does not)."""
        if fact_id in in_state:
            return "in HEAD"
        if fact_id in taken and taken[fact_id] != run.id:
            return f"goes with run {taken[fact_id]}"
        if status.get(fact_id) != "approved":
            return status.get(fact_id, "unknown")
        return choice.refusal(run, fact_id)

    out = []
    for fact_id in missing:
        own = runs.get(fact_id, [])
        run_id = choice.decided.get(fact_id) if choice.decided.get(fact_id) in own else (own[0] if own else None)
        if run_id is None:
            out.append(LeftOut(fact_id))
            continue
        run = get_run(store, run_id)
        reasons = ((f, why(run, f)) for f in run.fact_ids)
        out.append(LeftOut(fact_id, run_id, tuple(Blocker(f, reason) for f, reason in reasons if reason)))
    return out


UNDECIDED = ("pending", "rejected", "needs-rework")  # a blocker the reviewer can approve


def explain(item: LeftOut, name: Callable[[str], str]) -> str:
    """Why the fact was left out and what to do, its facts named by ``name`` (CLI and app alike)."""
    if item.run_id is None:
        return f"{name(item.fact_id)}: approved, but no uncommitted run: preview it, then commit"
    own = [b.reason for b in item.blockers if b.fact_id == item.fact_id]
    others = [b for b in item.blockers if b.fact_id != item.fact_id]
    if own or not others:  # its own run is too old whatever the others do
        why = own[0] if own else f"run {item.run_id} cannot be committed now"
        return f"{name(item.fact_id)}: {why}: preview it again, then commit"
    listed = "; ".join(f"{name(b.fact_id)} ({b.reason})" for b in others)
    approvable = any(b.reason in UNDECIDED for b in others)
    todo = "approve those too, or preview this fact on its own" if approvable else "preview this fact on its own"
    return (f"{name(item.fact_id)}: approved on run {item.run_id}, which also edits {listed}. A run commits "
            f"whole: {todo}")
