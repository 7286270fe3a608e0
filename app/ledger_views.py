"""What the queue and history panes show, read from a workspace in one go.

Qt-free on purpose: the jobs that change the ledger (load, import, preview, commit, revert,
checkout) read these on the worker thread, with their own connection, and hand them to the
GUI thread, which only draws them: parsing every fact and every commit's state costs about
a millisecond a fact, far too long for the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
    values = [run.metrics.get("post", {}).get(metric) for run in detail.runs]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def undo_label(ws: Workspace) -> str | None:
    """The decision the Undo button would undo: this author's latest one not yet undone."""
    changes = ws.history()
    undone = {c.undoes for c in changes if c.undoes is not None}
    mine = [c for c in changes if c.author == ws.author and c.from_status is not None
            and c.undoes is None and c.id not in undone]
    if not mine:
        return None
    return f"{mine[-1].to_status} {ws.fact(mine[-1].fact_id).fact.subject}"


def read_queue(ws: Workspace) -> QueueView:
    return QueueView(tuple(ws.queue()), tuple(ws.runs()), undo_label(ws))


def read_facts(ws: Workspace, fact_ids: Sequence[str], undo: str | None) -> QueueView:
    """Only these facts (reviewed, added): a partial view, quick enough for the GUI thread."""
    return QueueView(tuple(ws.fact(i) for i in fact_ids), (), undo, partial=True)


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
