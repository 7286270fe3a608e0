"""The app's state and its long actions: one live model, one workspace, one job lane.

``Session`` is a thin adapter over core: every long action is a job on the serial
``JobLane`` that calls the core API (loading, ``Workspace``, ``compute_edit``), and its
result is applied on the GUI thread. Jobs open their own ``Workspace`` connection on the
worker thread, and those that change the ledger also read there what the queue and history
panes show (``app.ledger_views``), so the GUI thread only draws. It keeps ``self.ws`` for
quick reads, reviews and drafts.

The live model always holds the weights of ``live_commit`` (HEAD unless the reviewer
checked out another commit); previews are computed against it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.jobs import Job, JobLane
from app.ledger_views import (
    DECIDED,
    DriftPoint,
    HistoryView,
    QueueView,
    read_facts,
    read_facts_and_undo,
    read_history,
    read_queue,
)
from app.session_work import LiveState, PreviewResult, checkout_fresh, load_with_workspace, moved_to, with_views
from app.settings import AppSettings
from core import (
    CommitRecord,
    Fact,
    InstanceLock,
    LoadedModel,
    LoadOptions,
    PatchTrust,
    Progress,
    TraceCache,
    TrainOptions,
    VerificationError,
    Workspace,
    WorkspaceInUseError,
    apply_patch,
    compute_chosen_edit,
    folder_fingerprint,
    lock_workspace,
    train_editor,
)

log = logging.getLogger(__name__)


class Session(QObject):
    model_changed = Signal(object)  # LoadedModel | None
    workspace_changed = Signal(object)  # Workspace | None
    # each with the view read after the change; None: read it yourself
    facts_changed = Signal(object)  # QueueView | None
    runs_changed = Signal(object)  # QueueView | None
    history_changed = Signal(object)  # HistoryView | None
    live_changed = Signal(object)  # CommitRecord the live model holds
    workspace_in_use = Signal(object)  # WorkspaceInUseError: another running Factsmith has it open

    def __init__(self, lane: JobLane, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lane, self.settings = lane, settings
        self.lm: LoadedModel | None = None
        self.model_path: Path | None = None
        self.options = LoadOptions()
        self.ws: Workspace | None = None
        self.live_commit: CommitRecord | None = None
        self.history: HistoryView | None = None  # as last read
        self.closed = False
        self.lock: InstanceLock | None = None  # our claim on the open workspace (None: another program's)
        self.trace_cache = TraceCache()  # layer "auto": one traced layer per (model, relation)

    # -- model and workspace -------------------------------------------------------------

    @property
    def workspace_path(self) -> Path | None:
        return self.ws.path if self.ws else None

    def load_model(self, path: Path, options: LoadOptions | None = None, workspace: Path | None = None) -> Job:
        """Load a base model; its workspace (``workspace``, else its default one) comes with it."""
        path, options = Path(path), options or self.options
        chosen = workspace or self.workspace_path
        self.model_path, self.options = path, options
        checkouts, known = self.settings.checkouts(), self._known_points()
        job = self.lane.submit(f"Loading {path.name}", lambda progress: load_with_workspace(
            path, options, chosen, progress, checkouts, known))
        job.succeeded.connect(self._set_live)
        job.succeeded.connect(lambda _: self.settings.add_recent_model(path))
        return job

    def open_workspace(self, path: Path) -> Job:
        """Switch to another workspace: its base model is loaded and its HEAD replayed."""
        path, options, checkouts = Path(path), self.options, self.settings.checkouts()
        job = self.lane.submit(f"Opening {path.name}",
                               lambda progress: checkout_fresh(path, "", options, progress, checkouts, {}))
        job.succeeded.connect(self._set_live)
        return job

    def create_workspace(self, path: Path) -> Job:
        """A new workspace on the loaded model's base folder, then switch to it."""
        if self.lm is None:
            raise RuntimeError("load a model before creating a workspace for it")
        model_dir, options = Path(self.lm.info.path), self.options

        def create(progress: Progress) -> LiveState:
            Workspace.create(path, model_dir).close()
            return checkout_fresh(path, "HEAD", options, progress, known={})

        job = self.lane.submit(f"Creating {Path(path).name}", create)
        job.succeeded.connect(self._set_live)
        return job

    def close(self) -> None:
        """The window is closing: let go of the workspace connection, its lock and the model."""
        if self.ws is not None:
            self.ws.close()
        self._unlock()
        self.ws, self.lm, self.live_commit, self.history = None, None, None, None
        self.closed = True

    def eject(self) -> None:
        """Drop the live model (frees its memory); the workspace stays open."""
        self.lm, self.live_commit = None, None
        self.model_changed.emit(None)

    def _set_live(self, state: LiveState) -> None:
        if self.closed:
            return
        self.lm, self.live_commit = state.lm, state.commit
        self.model_path = Path(state.lm.info.path)
        if self.ws is None or self.ws.path != state.workspace:
            if self.ws is not None:
                self.ws.close()
            self._unlock()
            self.ws = Workspace.open(state.workspace)
            self._lock(state.workspace)
            self.settings.add_recent_workspace(state.workspace)
            self.workspace_changed.emit(self.ws)
        self.history = state.history
        self._remember_live(state)
        self.model_changed.emit(state.lm)
        self.live_changed.emit(state.commit)
        self.facts_changed.emit(state.queue)
        self.history_changed.emit(state.history)

    def _lock(self, path: Path) -> None:
        """Claim the workspace; when another running Factsmith has it, say so (the window asks)."""
        try:
            self.lock = lock_workspace(path, "the Factsmith window")
        except WorkspaceInUseError as exc:
            self.workspace_in_use.emit(exc)
        except OSError as exc:  # an unwritable folder or a full disk: the lock is advisory, go on without it
            log.warning("could not write the workspace lock beside %s: %s", path, exc)

    def _unlock(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _remember_live(self, state: LiveState) -> None:
        """Which commit the live model holds, for the next start (nothing kept when it is HEAD)."""
        at_head = self.head().id == state.commit.id
        self.settings.set_checkout(state.workspace, None if at_head else state.commit.id)

    def head(self) -> CommitRecord:
        """HEAD as the history pane last read it (no query), else from the workspace."""
        if self.history is not None and self.history.commits:
            return self.history.commits[0]
        return self.ws.head()

    def read_history(self) -> HistoryView:
        """The history read here, on the GUI thread (a tag): quick, as the drift points and the
        live commit's runs already read are reused."""
        live, known = self.live_commit.id if self.live_commit is not None else None, self.history
        same = known is not None and known.live_id == live
        self.history = read_history(self.ws, live, known.points_by_id if known else None,
                                    known.live_runs if same else None)
        return self.history

    def live_runs(self) -> frozenset[int]:
        """The runs the live model holds."""
        live = self.live_commit
        if live is None or self.ws is None:
            return frozenset()
        if self.history is None or self.history.live_id != live.id:
            self.read_history()
        return self.history.live_runs

    def _known_points(self) -> dict[str, DriftPoint]:
        """The drift points already read, for a job (a copy: the worker must not share ours)."""
        return dict(self.history.points_by_id) if self.history is not None else {}

    def submit(self, name: str, fn: Callable[[Progress, Workspace], Any]) -> Job:
        """A job that gets its own workspace connection on the worker thread."""
        path = self.workspace_path
        if path is None:
            raise RuntimeError("no workspace is open")

        def run(progress: Progress) -> Any:
            with Workspace.open(path) as ws:
                return fn(progress, ws)

        return self.lane.submit(name, run)

    def train_editor(self, method: str, facts: Sequence[Fact], val: Sequence[Fact], options: TrainOptions,
                     out: Path) -> Job:
        """Train (or, with ``options.resume``, continue) a method's editor for the live model."""
        lm = self.lm
        if lm is None:
            raise RuntimeError("load a model first: an editor is trained for one model")
        return self.lane.submit(f"Training the {method} editor", lambda progress: train_editor(
            lm, method, facts, val, options, out, progress=progress))

    # -- queue, preview, commit, history -------------------------------------------------

    def import_file(self, path: Path, format: str | None = None, mapping: dict[str, str] | None = None,
                    skip_invalid: bool = False) -> Job:
        views: list[QueueView] = []  # the queue as read on the worker, once it is done

        def run(_progress: Progress, ws: Workspace):
            report = ws.import_file(path, format, mapping, skip_invalid=skip_invalid)
            views.append(read_queue(ws))
            return report

        job = self.submit(f"Importing {Path(path).name}", run)
        job.succeeded.connect(lambda _: self.facts_changed.emit(views[-1]))
        return job

    def preview(self, fact_ids: Sequence[str], method: str, overrides: dict[str, str],
                free_prompts: Sequence[str] = ()) -> Job:
        """Compute (not apply) an edit of the facts on the live model and record it as a run."""
        lm, commit = self._live()
        facts = [self.ws.fact(ref).fact for ref in fact_ids]
        prompts = tuple(p for p in free_prompts if p.strip())

        def run(progress: Progress, ws: Workspace) -> PreviewResult:
            outcome = compute_chosen_edit(lm, facts, method, overrides, cache=self.trace_cache, progress=progress,
                                          free_prompts=prompts)  # layer "auto" traces first
            recorded = ws.record_outcome(outcome, commit.state_fingerprint, overrides)
            return PreviewResult(outcome, recorded, read_queue(ws))

        job = self.submit(f"Previewing {method}", run)
        job.succeeded.connect(lambda result: self.runs_changed.emit(result.queue))
        return job

    def _live(self) -> tuple[LoadedModel, CommitRecord]:
        if self.lm is None or self.live_commit is None or self.ws is None:
            raise RuntimeError("load a model first")
        return self.lm, self.live_commit

    def commit(self, message: str, run_ids: Sequence[int] | None = None,
               thresholds: Mapping[str, float] | None = None, force: bool = False, measured=None) -> Job:
        """Commit approved runs through the commit gate (core policy); the live model moves to the new
        HEAD. ``measured``: what a refused attempt measured (``CommitRefused.together``), reused by
        "Commit anyway" rather than measured again (core refuses it if HEAD moved since)."""
        lm, live = self._live()
        options, known = self.options, self._known_points()

        def run(progress: Progress, ws: Workspace) -> LiveState:
            parent = ws.head()
            on = lm if live.id == parent.id else None  # the live model holds HEAD: edits are measured there
            if on is None and measured is None:  # else HEAD built afresh (the live model moves to the new commit)
                on = checkout_fresh(ws.path, parent.id, options, progress.stage(0.0, 0.5)).lm
            commit = ws.commit(message, run_ids, thresholds=thresholds, force=force, lm=on,
                               progress=progress.stage(0.5, 0.8), measured=measured, lm_holds=parent.id)
            moved = moved_to(ws, on, parent.id, commit, options, progress.stage(0.8, 1.0))
            return with_views(LiveState(moved, ws.path, commit), ws, known)

        job = self.submit("Committing", run)
        job.succeeded.connect(self._after_history_change)
        return job

    def revert(self, targets: Sequence[str], message: str) -> Job:
        options, known = self.options, self._known_points()

        def run(progress: Progress, ws: Workspace) -> LiveState:
            built = ws.revert(targets, message, options=options, progress=progress)
            return with_views(LiveState(built.lm, ws.path, built.commit), ws, known)

        job = self.submit("Reverting", run)
        job.succeeded.connect(self._after_history_change)
        return job

    def recompute(self, run_ids: Sequence[int], message: str) -> Job:
        """Take committed runs out with a revert (``message``) and compute each again on the new
        HEAD with the settings it had (core's recompute); the live model follows the revert."""
        options, known = self.options, self._known_points()

        def run(progress: Progress, ws: Workspace) -> LiveState:
            done = ws.recompute(run_ids, message, options=options, progress=progress)
            return with_views(LiveState(done.revert.lm, ws.path, done.revert.commit, new_runs=done.runs), ws, known)

        job = self.submit("Computing the edits again", run)
        job.succeeded.connect(self._after_history_change)
        return job

    def checkout(self, ref: str) -> Job:
        """Put a commit's weights into the live model (rebuilt from the base)."""
        options, known = self.options, self._known_points()
        job = self.submit(f"Checking out {ref[:12]}",
                          lambda progress, ws: checkout_fresh(ws.path, ref, options, progress, known=known))
        job.succeeded.connect(self._after_history_change)
        return job

    def save_commit(self, ref: str, out: Path) -> Job:
        """Write a commit's weights as a model folder; the live model stays. The commit the live
        model holds is written from it (a second copy of a large model may not fit); any other is
        rebuilt from the base."""
        options, lm, live = self.options, self.lm, self.live_commit

        def write(progress: Progress, ws: Workspace):
            if lm is not None and live is not None and ws.resolve(ref).id == live.id:
                try:
                    return replace(ws.save_loaded(lm, live, out, progress), lm=None)
                except VerificationError as exc:  # e.g. a job queued before this one moved the model
                    log.warning("writing %s from the loaded model: %s; building it from the base", ref[:12], exc)
            written = ws.checkout(ref, out, options=options, progress=progress)
            return replace(written, lm=None)  # the folder is the result: free the built copy

        return self.submit(f"Writing {ref[:12]} to {Path(out).name}", write)

    def _after_history_change(self, state: LiveState) -> None:
        self._set_live(state)  # its queue view holds the runs too: no second runs_changed

    def export(self, out: Path, format: str, statuses: Sequence[str] | None) -> Job:
        return self.submit("Exporting", lambda _p, ws: ws.export(out, format, statuses))

    def export_patch(self, out: Path, from_ref: str, to_ref: str) -> Job:
        return self.submit("Exporting patch", lambda _p, ws: ws.export_patch(out, from_ref, to_ref))

    def apply_patch(self, choice: dict) -> Job:
        """Replay a patch onto a model folder into a new folder (no workspace needed)."""
        trust = PatchTrust(allow_unsigned=choice["allow_unsigned"], allow_untrusted=choice["allow_untrusted"])
        options = self.options

        def run(progress: Progress):
            if choice["verify_weights"]:
                folder_fingerprint(choice["model"], rehash=True)
            return apply_patch(choice["patch"], choice["model"], choice["out"], options, progress, trust,
                               verify_weights=choice["verify_weights"])

        return self.lane.submit(f"Applying {choice['patch'].name}", run)

    def review(self, fact_ids: Sequence[str], decision: str, note: str = "", run_id: int | None = None) -> list:
        """Only the reviewed rows change; Undo now takes back the last of these decisions. An
        approval approves ``run_id`` (one fact), else each fact's latest run; the decisions
        recorded (core ``StatusChange``s, each with the run it approves)."""
        changes = []
        try:
            for fact_id in fact_ids:
                changes.append(self.ws.review(fact_id, decision, note, run_id))
        finally:  # a refusal part-way: the decisions already recorded still show in the queue
            if changes:
                decided = [c.fact_id for c in changes]
                view = read_facts(self.ws, decided, None, decisions={c.fact_id: c for c in changes
                                                                     if c.to_status in DECIDED})
                self.facts_changed.emit(replace(view, undo=f"{changes[-1].to_status} {view.facts[-1].fact.subject}"))
        return changes

    def undo_review(self) -> None:
        change = self.ws.undo_review()
        self.facts_changed.emit(read_facts_and_undo(self.ws, [change.fact_id]))
