"""Revert: a new commit without some edits, rebuilt from the base and verified.

Edits do not commute, so the remaining deltas are replayed on fresh base weights in their
original order (never subtracted). The rebuilt weights are fingerprinted and checked
against the fingerprint recorded for that same state (same deltas, same order, same
dtype and device) if it was ever built before, e.g. by an earlier commit of exactly those
edits, and recorded otherwise. The commit is written only after the rebuild succeeded,
and only if HEAD has not moved meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from core.ledger.commits import insert_commit
from core.ledger.db import Store
from core.ledger.deltastore import get_deltas
from core.ledger.errors import LedgerError, RefError
from core.ledger.figures import store_figures
from core.ledger.materialise import Built, build
from core.ledger.queue import get_fact
from core.ledger.records import CommitRecord, Materialised
from core.ledger.refs import resolve
from core.ledger.runs import get_run, runs_facts
from core.ledger.state import (
    base_model,
    delta_hashes,
    head,
    newest_commit_with_state,
    state_fact_ids,
    state_fingerprint,
    state_runs,
)
from core.util.progress import Progress, silent
from core.util.timing import phase
from core.workflows.together import measure_state


def _as_commit(store: Store, target: str) -> CommitRecord | None:
    try:
        return resolve(store, target)
    except RefError:
        return None


def _as_fact_run(store: Store, target: str, facts_in_head: dict[str, int]) -> tuple[int, str] | None:
    """(the run that holds the fact's edit in HEAD, the fact id), or None: not a fact."""
    try:
        fact = get_fact(store, target)
    except LedgerError:
        return None
    if fact.id not in facts_in_head:
        raise LedgerError(f"fact {fact.fact.short_id} is not part of HEAD: nothing of it to revert")
    return facts_in_head[fact.id], fact.id


Named = list[tuple[int, str | None]]  # (run, the fact id when the target named a fact of it)


def _target_runs(store: Store, target: str, in_head: list[int], facts_in_head: dict[str, int]) -> Named:
    """Runs a target names: ``run:N``, ``fact:ID``, a commit reference (its edits), or a fact id."""
    kind, _, value = target.partition(":") if ":" in target else ("", "", target)
    if kind == "run":
        if not value.isdigit() or int(value) not in in_head:
            raise LedgerError(f"{target}: no such run in HEAD (its runs are {', '.join(map(str, in_head)) or 'none'})")
        return [(int(value), None)]
    if kind == "fact":
        found = _as_fact_run(store, value, facts_in_head)
        if found is None:
            raise LedgerError(f"{target}: no such fact in workspace {store.path}")
        return [found]
    commit, found = _as_commit(store, value), _as_fact_run(store, value, facts_in_head)
    if commit is not None and found is not None:
        raise LedgerError(f"{target!r} names both commit {commit.short_id} and a fact; write commit:... or fact:...")
    if found is not None:
        return [found]
    if commit is None:
        raise LedgerError(f"{target!r} is not a commit reference, a fact id, or run:N")
    runs = [r for r in commit.applied if r in in_head]
    if not runs:
        raise LedgerError(f"commit {commit.short_id} has no edit left in HEAD to revert")
    return [(r, None) for r in runs]


def resolve_targets(store: Store, parent: CommitRecord, targets: Sequence[str]) -> list[int]:
    in_head = state_runs(store, parent)
    facts_in_head = state_fact_ids(store, parent)
    drop: dict[int, None] = {}
    by_fact: dict[int, set[str]] = {}  # runs named only through some of their facts
    whole: set[int] = set()
    for target in targets:
        commit_prefix = target.removeprefix("commit:")
        for run, fact_id in _target_runs(store, commit_prefix if target.startswith("commit:") else target,
                                         in_head, facts_in_head):
            drop[run] = None
            if fact_id is None:
                whole.add(run)
            else:
                by_fact.setdefault(run, set()).add(fact_id)
    if not drop:
        raise LedgerError("name at least one edit to revert (a commit, a fact id, or run:N)")
    named = set().union(*by_fact.values()) if by_fact else set()
    _refuse_part_of_a_run(store, [r for r in by_fact if r not in whole], named)
    return list(drop)


def _refuse_part_of_a_run(store: Store, runs: Sequence[int], named: set[str]) -> None:
    """A fact edited in one run with others cannot be reverted alone: the run's one delta holds
    them all (review 46: reverting one fact of a batch silently dropped the rest). ``named``:
    every fact the targets name, whichever run each was resolved to."""
    for run, facts in runs_facts(store, list(runs)).items():
        others = [f for f in facts if f.id not in named]
        if others:
            said = ", ".join(f"{f.short_id} ({f.subject} → {f.target_new})" for f in others[:5])
            said += f" and {len(others) - 5} more" if len(others) > 5 else ""
            raise LedgerError(f"run {run} edited {len(facts)} facts together in one delta, so reverting some of them "
                              f"drops them all; also in it: {said}. Name run:{run} to drop the whole run, then "
                              "preview again the facts to keep")


def revert(store: Store, targets: Sequence[str], message: str, *, lm=None, model_dir=None, options=None,
           progress: Progress | None = None) -> Materialised:
    """Commit HEAD without the targets' edits; returns the rebuilt, verified weights."""
    return land(store, rebuilt_without(store, targets, message, lm=lm, model_dir=model_dir, options=options,
                                       progress=progress))


@dataclass(frozen=True)
class Rebuilt:
    """A revert prepared, nothing written yet: HEAD's weights without ``drop``, built and checked."""

    parent: CommitRecord
    drop: tuple[int, ...]
    state: str  # the state fingerprint the revert commit will have
    message: str
    built: Built
    # the kept runs' reliability measured on the rebuilt state
    measured: Mapping[int, Mapping[str, float]] = field(default_factory=dict)


def rebuilt_without(store: Store, targets: Sequence[str], message: str, *, lm=None, model_dir=None, options=None,
                    progress: Progress | None = None) -> Rebuilt:
    """HEAD's state without the targets' edits, rebuilt from the base; ``land`` commits it."""
    message = (message or "").strip()
    if not message:
        raise LedgerError("a revert needs a message (-m TEXT)")
    progress = progress or silent()
    with store.reading():
        parent = head(store)
        drop = resolve_targets(store, parent, targets)
        remaining = [r for r in state_runs(store, parent) if r not in set(drop)]
        hashes = delta_hashes(store, remaining)
        deltas = get_deltas(store, hashes)
        expected = state_fingerprint(base_model(store).fingerprint, hashes)
        remeasure = _kept_facts(store, remaining)
    built = build(store, expected, _label(parent, drop), deltas, lm, model_dir, options,
                  progress.stage(0.0, 0.8 if remeasure else 1.0))
    with phase("revert: kept edits measured again"):
        measured = measure_state(built.lm, remeasure, progress.stage(0.8, 1.0)) if remeasure else {}
    return Rebuilt(parent, tuple(drop), expected, message, built, measured)


def _kept_facts(store: Store, runs: Sequence[int]) -> list[tuple[int, list]]:
    """(run id, its facts) of each kept run, to measure on the rebuilt state. Every revert measures:
    one that keeps edits made after a dropped one builds a state that never stood (trial 40: a kept
    ROME edit computed with a reverted FT-M edit in place broke a GRACE edit committed before both,
    while History showed its old 1.00), and so may one that drops part of a commit, or follows an
    earlier revert; reliability alone costs ~2 ms an edit (bench/log_scale.py)."""
    facts = runs_facts(store, runs)
    return [(run_id, facts[run_id]) for run_id in runs]


def land(store: Store, prepared: Rebuilt, then: Callable[[], None] | None = None) -> Materialised:
    """The revert commit of ``prepared``, unless HEAD moved since it was prepared; ``then`` writes
    more in the same transaction (all or nothing)."""
    parent, label = prepared.parent, _label(prepared.parent, prepared.drop)
    with store.writing():
        now_head = head(store)
        if now_head.id != parent.id:
            raise LedgerError(f"HEAD moved to {now_head.short_id} ({now_head.author}) while reverting; run it again")
        commit = insert_commit(store, parent, "revert", prepared.message, dropped=list(prepared.drop))
        if commit.state_fingerprint != prepared.state:
            raise LedgerError(f"internal: the revert commit's state is not the one rebuilt ({label})")
        if prepared.measured:  # compared with what the revert commit shows without them (set-asides applied)
            store_figures(store, commit.id, commit, list(prepared.measured), prepared.measured)
        if then is not None:
            then()
    return prepared.built.materialised(commit)


def _label(parent: CommitRecord, drop: Sequence[int]) -> str:
    return f"revert of {len(drop)} edit(s) from {parent.short_id}"


def built_on_dropped(store: Store, commit: CommitRecord) -> dict[int, tuple[int, ...]]:
    """For a revert ``commit``: each run it keeps that was computed on a state holding runs it
    dropped → those runs. Their deltas are replayed as stored, fitted to weights that had the
    dropped edits in them, so a reviewer may want them computed again on the new state. A run
    whose state no commit ever held (computed on an uncommitted model) cannot be told: left out."""
    dropped = set(commit.dropped)
    if not dropped:
        return {}
    with store.reading():
        held_by_state: dict[str, set[int]] = {}  # kept runs computed on one state share its lookup
        out: dict[int, tuple[int, ...]] = {}
        for run_id in state_runs(store, commit):
            on = get_run(store, run_id).computed_on
            if on not in held_by_state:
                source = newest_commit_with_state(store, on)
                held_by_state[on] = dropped & set(state_runs(store, source)) if source else set()
            if held_by_state[on]:
                out[run_id] = tuple(sorted(held_by_state[on]))
        return out
