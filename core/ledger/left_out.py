"""Why a commit leaves an approved fact out, when it has a run.

A run edits all its facts or none, so an approval on a run shared with other facts (a
batch preview) commits only when every other fact of that run can go with it: approved,
not already in HEAD, and not taken by another run of the same commit. Otherwise the fact
is left out although it has a run, and "no run: preview it" would be the wrong advice.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.ledger.commits import approved_without_run, commit_candidates, decided_run_ids
from core.ledger.db import Store
from core.ledger.state import head, state_fact_ids


@dataclass(frozen=True)
class Blocker:
    """A fact that keeps a shared run out of the commit, and why."""

    fact_id: str
    reason: str  # "pending", "rejected", "in HEAD" or "committed by run N"

    def to_dict(self) -> dict[str, str]:
        return {"fact_id": self.fact_id, "reason": self.reason}


@dataclass(frozen=True)
class LeftOut:
    """An approved fact the commit leaves out: ``run_id`` None when it has no uncommitted
    run; else the run its approval stands on and the other facts of it that block it."""

    fact_id: str
    run_id: int | None = None
    blockers: tuple[Blocker, ...] = ()

    def to_dict(self) -> dict:
        return {"fact_id": self.fact_id, "run_id": self.run_id, "blockers": [b.to_dict() for b in self.blockers]}


def _uncommitted_runs(store: Store) -> dict[str, list[tuple[int, tuple[str, ...]]]]:
    """fact id → its runs never committed, newest first, each with all the run's facts."""
    rows = store.all("SELECT rf.run_id, rf.fact_id FROM run_facts rf WHERE rf.run_id NOT IN "
                     "(SELECT run_id FROM commit_runs WHERE op = 'apply') ORDER BY rf.run_id DESC, rf.position")
    facts_of: dict[int, list[str]] = {}
    for row in rows:
        facts_of.setdefault(row["run_id"], []).append(row["fact_id"])
    by_fact: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
    for run_id, facts in facts_of.items():
        for fact_id in facts:
            by_fact.setdefault(fact_id, []).append((run_id, tuple(facts)))
    return by_fact


def left_out(store: Store) -> list[LeftOut]:
    """Approved facts not in HEAD that ``commit()`` leaves out, in queue order."""
    missing = approved_without_run(store)
    if not missing:
        return []
    in_state = state_fact_ids(store, head(store))
    taken = {f: run.id for run in commit_candidates(store) for f in run.fact_ids}
    decided = decided_run_ids(store)
    runs = _uncommitted_runs(store)
    status = {r["id"]: r["status"] for r in store.all("SELECT id, status FROM facts")}

    def why(other: str) -> str:
        if other in in_state:
            return "in HEAD"
        if other in taken:
            return f"committed by run {taken[other]}"
        return status.get(other, "unknown")

    out = []
    for fact_id in missing:
        own = runs.get(fact_id, [])
        run = next((r for r in own if r[0] == decided.get(fact_id)), own[0] if own else None)
        if run is None:
            out.append(LeftOut(fact_id))
            continue
        blockers = tuple(Blocker(f, why(f)) for f in run[1] if f != fact_id and why(f) != "approved")
        out.append(LeftOut(fact_id, run[0], blockers))
    return out
