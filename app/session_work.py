"""What the session's model jobs do on the worker thread: load, check out and advance
the live model, then read the queue and history the panes show. Qt-free, like core."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from app.ledger_views import DriftPoint, HistoryView, QueueView, read_history, read_queue
from core import (
    CommitRecord,
    EditOutcome,
    LedgerError,
    LoadedModel,
    LoadOptions,
    Progress,
    RunRecord,
    VerificationError,
    Workspace,
    default_workspace_path,
    folder_fingerprint,
    load_model,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveState:
    """What a model job hands back: the model, its workspace and the commit it holds, with
    the queue and history as they are afterwards (read on the worker)."""

    lm: LoadedModel
    workspace: Path
    commit: CommitRecord
    queue: QueueView | None = None
    history: HistoryView | None = None
    new_runs: tuple[RunRecord, ...] = ()  # runs the job computed (recompute)


@dataclass(frozen=True)
class PreviewResult:
    outcome: EditOutcome
    run: RunRecord
    queue: QueueView | None = None


def with_views(state: LiveState, ws: Workspace, known: Mapping[str, DriftPoint] | None) -> LiveState:
    """The state with the queue and history read from ``ws`` (call on the worker)."""
    return replace(state, queue=read_queue(ws), history=read_history(ws, state.commit.id, known))


def load_with_workspace(path: Path, options: LoadOptions, workspace: Path | None, progress: Progress,
                         checkouts: Mapping[str, str] | None = None,
                         known: Mapping[str, DriftPoint] | None = None) -> LiveState:
    """Load a base model, open (or create) its workspace and replay the edits of the commit the
    live model held last time (``checkouts``: workspace → commit id; HEAD when none) onto it."""
    lm = load_model(path, options, progress.stage(0.0, 0.6))
    if workspace is None or (workspace.is_file() and not _same_base(workspace, lm)):
        workspace = default_workspace_path(lm.info.name, lm.info.fingerprint)
    ws = Workspace.open(workspace) if workspace.is_file() else Workspace.create(workspace, path)
    with ws:
        ref = _remembered(ws, checkouts)
        built = ws.checkout(ref, lm=lm, progress=progress.stage(0.6, 1.0), loaded_fresh=True)  # recorded: a
        return with_views(LiveState(built.lm, workspace, built.commit), ws, known)  # later commit advances from it


def _remembered(ws: Workspace, checkouts: Mapping[str, str] | None) -> str:
    """The commit checked out last time in this workspace, if it still resolves; else HEAD."""
    ref = (checkouts or {}).get(str(ws.path))
    if not ref:
        return "HEAD"
    try:
        return ws.resolve(ref).id
    except LedgerError:
        log.warning("the checked-out commit %s is gone from %s; the live model is at HEAD", ref, ws.path)
        return "HEAD"


def _same_base(workspace: Path, lm: LoadedModel) -> bool:
    with Workspace.open(workspace) as ws:
        return ws.base.fingerprint == lm.info.fingerprint


def moved_to(ws: Workspace, lm: LoadedModel | None, holds: str, commit: CommitRecord, options: LoadOptions,
              progress: Progress) -> LoadedModel:
    """``lm`` (holding commit ``holds``) with the commit's edits added and checked; built from the
    base instead when there is none, it holds another commit than the new one's parent (another
    process committed meanwhile) or its weights are not those recorded for it."""
    if lm is not None and commit.parent_id == holds:
        try:
            return ws.advance(lm, commit, progress).lm
        except VerificationError as exc:
            log.warning("rebuilding commit %s from the base: %s", commit.short_id, exc)
    folder_fingerprint(Path(ws.base.path), rehash=True)  # as checkout_fresh: the folder may have changed
    return ws.checkout(commit, options=options, progress=progress).lm


def checkout_fresh(workspace: Path, ref: str, options: LoadOptions, progress: Progress,
                    checkouts: Mapping[str, str] | None = None,
                    known: Mapping[str, DriftPoint] | None = None) -> LiveState:
    """A commit's weights built on a freshly loaded base model. The base folder is rehashed
    in full first: the fingerprint decides whether these are the workspace's base weights,
    and a cached one could miss a file changed in place. ``checkouts`` (with ref None): the
    commit the workspace's live model held last time."""
    with Workspace.open(workspace) as ws:
        ref = ref or _remembered(ws, checkouts)
        folder_fingerprint(Path(ws.base.path), rehash=True)
        built = ws.checkout(ref, options=options, progress=progress)
        return with_views(LiveState(built.lm, workspace, built.commit), ws, known)
