"""What the queue and history panes show, read from a workspace in one go.

Qt-free on purpose: the jobs that change the ledger (load, import, preview, commit, revert,
checkout) read these on the worker thread, with their own connection, and hand them to the
GUI thread, which only draws them: parsing every fact and every commit's state costs about
a millisecond a fact, far too long for the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import CommitDetail, CommitRecord, FactRecord, RunRecord, Workspace

CHART_COMMITS = 200  # the drift chart's newest commits

DriftPoint = tuple[int, float | None, float | None, int]  # seq, mean reliability, mean locality, edits


@dataclass(frozen=True)
class QueueView:
    """The fact queue: every fact with the runs (oldest first), or with ``partial`` only the
    facts that changed (no runs); ``undo`` names the review Undo would take back."""

    facts: tuple[FactRecord, ...]
    runs: tuple[RunRecord, ...] = ()
    undo: str | None = None
    partial: bool = False
    undo_blocked: str | None = None  # why that decision cannot be undone (it is committed)
    reverted: Mapping[str, str] = field(default_factory=dict)  # fact id → the revert commit dropping its edit
    decisions: Mapping[str, Any] = field(default_factory=dict)  # fact id → the StatusChange its status stands on
    to_commit: Mapping[str, int] = field(default_factory=dict)  # fact id → the run a commit would take now
    fallen: Mapping[str, tuple[float, float | None]] = field(default_factory=dict)  # fact id → HEAD's, alone


@dataclass(frozen=True)
class HistoryView:
    """The history pane: commits (newest first), tags by commit, the drift chart's points (oldest
    first; by commit id in ``points_by_id``) and the runs the live commit ``live_id`` holds."""

    commits: tuple[CommitRecord, ...]
    tags: Mapping[str, list[str]]
    points: tuple[DriftPoint, ...]
    live_id: str | None = None
    live_runs: frozenset[int] = frozenset()
    points_by_id: Mapping[str, DriftPoint] = field(default_factory=dict)


def mean_post(detail: CommitDetail, metric: str) -> float | None:
    """The mean of ``metric`` over the state's edits, each as last measured in it (a commit that
    landed edits together measured them again: core.ledger.figures)."""
    values = [detail.figures[run.id].metrics.get(metric) if run.id in detail.figures
              else run.metrics.get("post", {}).get(metric) for run in detail.runs]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def undo_label(ws: Workspace) -> str | None:
    """The decision the Undo button would undo: this author's latest one not yet undone."""
    return undo_state(ws)[0]


_UNDO_BLOCKED = {"committed": "“{label}” is committed: revert its edit in History to change it",
                 "reverted": "“{label}” was committed and reverted since: preview {subject} again, or reject it"}


def undo_state(ws: Workspace) -> tuple[str | None, str | None]:
    """(the decision Undo would take back, why it cannot: None, or that its edit was committed).
    Core decides which one (``Workspace.undo_target``); this only words it."""
    target = ws.undo_target()
    if target is None:
        return None, None
    change, blocked = target
    subject = ws.fact(change.fact_id).fact.subject
    label = f"{change.to_status} {subject}"
    return label, _UNDO_BLOCKED[blocked].format(label=label, subject=subject) if blocked else None


def reverted_facts(commits: Sequence[CommitRecord], runs: Sequence[RunRecord]) -> dict[str, str]:
    """Fact id → the short id of the latest revert commit that dropped an edit of it."""
    facts_of = {run.id: run.fact_ids for run in runs}
    reverted: dict[str, str] = {}
    for commit in reversed(commits):  # oldest first: a later revert wins
        for run_id in commit.dropped:
            reverted.update((f, commit.short_id) for f in facts_of.get(run_id, ()))
    return reverted


DECIDED = ("approved", "rejected", "needs-rework")


def current_decisions(changes: Sequence[Any]) -> dict[str, Any]:
    """Fact id → the review decision (a core StatusChange) its status stands on, undone ones
    skipped; pending facts have none."""
    stacks: dict[str, list[Any]] = {}
    for change in changes:  # oldest first
        stack = stacks.setdefault(change.fact_id, [])
        if change.undoes is not None:
            stack[:] = [c for c in stack if c.id != change.undoes]
        else:
            stack.append(change)
    return {fact_id: stack[-1] for fact_id, stack in stacks.items() if stack and stack[-1].to_status in DECIDED}


def read_queue(ws: Workspace) -> QueueView:
    with ws.snapshot():  # the runs, the reverts and what a commit takes, as of one state
        undo, blocked = undo_state(ws)
        runs = tuple(ws.runs())
        to_commit = {fact_id: run.id for run in ws.commit_candidates() for fact_id in run.fact_ids}
        return QueueView(tuple(ws.queue()), runs, undo, undo_blocked=blocked, reverted=reverted_facts(ws.log(), runs),
                         decisions=current_decisions(ws.history()), to_commit=to_commit, fallen=fallen_at_head(ws))


def fallen_at_head(ws: Workspace) -> dict[str, tuple[float, float | None]]:
    """Committed facts whose edit no longer holds on HEAD: reliability measured there with the other
    edits in place (by a commit or a revert) below what the edit measured alone (trial 41: the queue
    showed such a fact as plainly "committed")."""
    fallen = {}
    for run_id, shown in ws.state_figures("HEAD").items():
        if shown.fell("reliability"):
            fallen.update(dict.fromkeys(ws.run(run_id).fact_ids, (shown.metrics["reliability"],
                                                                  shown.own.get("reliability"))))
    return fallen


def read_facts(ws: Workspace, fact_ids: Sequence[str], undo: str | None, undo_blocked: str | None = None,
               decisions: Mapping[str, Any] | None = None) -> QueueView:
    """Only these facts (reviewed, added) with their ``decisions`` (fact id → StatusChange; a
    fact not in it has none): a partial view, quick enough for the GUI thread."""
    return QueueView(tuple(ws.fact(i) for i in fact_ids), (), undo, partial=True, undo_blocked=undo_blocked,
                     decisions=dict(decisions or {}))


def read_facts_and_undo(ws: Workspace, fact_ids: Sequence[str]) -> QueueView:
    """These facts, with the Undo state and their decisions read from the review history."""
    decisions = current_decisions(ws.history())
    return read_facts(ws, fact_ids, *undo_state(ws), {i: decisions[i] for i in fact_ids if i in decisions})


def read_history(ws: Workspace, live_id: str | None, known: Mapping[str, DriftPoint] | None = None,
                 live_runs: frozenset[int] | None = None) -> HistoryView:
    """``known``: drift points already read, by commit id (a commit's state never changes);
    ``live_runs``: the runs of ``live_id``, when already read."""
    commits = ws.log()
    tags: dict[str, list[str]] = {}
    for tag in ws.tags():
        tags.setdefault(tag.commit_id, []).append(tag.name)
    points = {}
    for commit in reversed(commits[:CHART_COMMITS]):
        points[commit.id] = (known or {}).get(commit.id) or _drift_point(ws.show(commit.id))
    if live_runs is None:
        live_runs = frozenset(run.id for run in ws.show(live_id).runs) if live_id else frozenset()
    return HistoryView(tuple(commits), tags, tuple(points.values()), live_id, live_runs, points)


def _drift_point(detail: CommitDetail) -> DriftPoint:
    return (detail.commit.seq, mean_post(detail, "reliability"), mean_post(detail, "locality"), len(detail.runs))
