"""``Workspace``: the one Python API over a workspace, used by the CLI and the GUI alike.

A workspace is one SQLite file (plus ``<file>.deltas/`` for very large deltas, if any)
recording one base model, the facts proposed for it and every review decision, every
edit run with its delta, and the linear history of commits built from approved runs.
Open one per thread.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.facts.fact import Fact
from core.ledger import (
    commits,
    diff,
    export,
    left_out,
    materialise,
    patches,
    queue,
    refs,
    revert,
    review,
    runs,
    state,
)
from core.ledger.creating import new_store, open_store
from core.ledger.db import DEFAULT_BUSY_SECONDS, Store
from core.ledger.errors import LedgerError, SchemaError
from core.ledger.left_out import LeftOut
from core.ledger.records import (
    BaseModel,
    CommitDetail,
    CommitRecord,
    DiffReport,
    Draft,
    ExportReport,
    FactRecord,
    ImportReport,
    Materialised,
    PatchInfo,
    RunRecord,
    SkippedRow,
    StatusChange,
    TagRecord,
)
from core.ledger.schema import current_version
from core.util.progress import Progress, silent
from core.workflows import together

log = logging.getLogger(__name__)

WORKSPACE_ENV = "FACTSMITH_WORKSPACE"


class Workspace:
    """Open with ``Workspace.open(path)`` or create with ``Workspace.create(path, model_dir)``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, model_dir: str | Path, *, author: str | None = None,
               busy_seconds: float = DEFAULT_BUSY_SECONDS) -> Workspace:
        """A new workspace for the base model in ``model_dir``; refuses an existing file."""
        return cls(new_store(Path(path).expanduser(), model_dir, author, busy_seconds))

    @classmethod
    def open(cls, path: str | Path, *, author: str | None = None, busy_seconds: float = DEFAULT_BUSY_SECONDS,
             read_only: bool = False, verify: bool = True) -> Workspace:
        """Open an existing workspace, migrating an older schema first (after a backup), except
        ``read_only``, which refuses a workspace that needs migrating (reads never convert).
        Checked before anything is written: the file must be a workspace (an empty or foreign
        file is refused and left as it is) and, with ``verify``, pass SQLite's quick_check.
        ``read_only``: every write through this workspace is refused; a read-only file is fine."""
        path = Path(path).expanduser()
        workspace = cls(open_store(path, author, busy_seconds, existing=True, read_only=read_only, verify=verify))
        state.base_model(workspace._store)  # a workspace without a base is not one
        return workspace

    def close(self) -> None:
        self._store.db.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._store.path

    @property
    def author(self) -> str:
        return self._store.author

    @property
    def schema_version(self) -> int:
        return current_version(self._store.db, self.path)

    @property
    def base(self) -> BaseModel:
        return state.base_model(self._store)

    # -- facts and review ----------------------------------------------------------------

    def add_facts(self, facts: Sequence[Fact], *, allow_conflicts: bool = False) -> ImportReport:
        """Add typed facts as pending (one transaction)."""
        return queue.add_facts(self._store, facts, allow_conflicts=allow_conflicts)

    def import_file(self, path: str | Path, format: str | None = None, mapping: Any = None, *,
                    allow_conflicts: bool = False, skip_invalid: bool = False) -> ImportReport:
        """Import a facts file or dataset folder: entirely, or not at all (``skip_invalid``: the
        valid rows, recording the others as skipped)."""
        return queue.import_file(self._store, Path(path), format, mapping, allow_conflicts, skip_invalid)

    def skipped_rows(self, import_id: int) -> list[SkippedRow]:
        """The rows an import skipped (``import_file(..., skip_invalid=True)``), in file order."""
        return queue.skipped_rows(self._store, import_id)

    def fact(self, ref: str) -> FactRecord:
        return queue.get_fact(self._store, ref)

    def queue(self, statuses: Sequence[str] | None = None) -> list[FactRecord]:
        return queue.list_facts(self._store, statuses)

    def review(self, fact_ref: str, decision: str, note: str = "", run_id: int | None = None) -> StatusChange:
        """decision: approve | reject (needs a note) | rework | reset, or a status name. An
        approval approves ``run_id`` (one of the fact's runs), else the fact's latest run."""
        return review.review(self._store, fact_ref, decision, note, run_id)

    def review_many(self, refs: Sequence[str], decision: str, note: str = "", run_id: int | None = None) -> list:
        return review.review_many(self._store, refs, decision, note, run_id)  # the same decision, all or none

    def undo_review(self) -> StatusChange:
        return review.undo(self._store)

    def undo_target(self) -> tuple[StatusChange, str | None] | None:
        """(the decision ``undo_review`` takes back, None or why it cannot), None when none is left."""
        with self._store.reading():
            return review.undo_target(self._store)

    def history(self, fact_ref: str | None = None) -> list[StatusChange]:
        return review.history(self._store, fact_ref)

    def save_draft(self, body: Mapping[str, Any], draft_id: int | None = None) -> Draft:
        return queue.save_draft(self._store, dict(body), draft_id)

    def drafts(self) -> list[Draft]:
        return queue.list_drafts(self._store)

    def delete_draft(self, draft_id: int) -> None:
        queue.delete_draft(self._store, draft_id)

    # -- runs ----------------------------------------------------------------------------

    def record_run(self, **fields: Any) -> RunRecord:
        """Store a run: facts, delta, computed_on, method, hparams, metrics, previews, seconds, environment."""
        return runs.record_run(self._store, **fields)

    def record_outcome(self, outcome: Any, computed_on: str | None = None,
                       overrides: Mapping[str, str] | None = None) -> RunRecord:
        """Store a ``core.workflows.editing.EditOutcome``, by default as computed on HEAD."""
        return runs.record_outcome(self._store, outcome, computed_on or self.head().state_fingerprint, overrides)

    def run(self, run_id: int) -> RunRecord:
        return runs.get_run(self._store, run_id)

    def runs(self, fact_ref: str | None = None) -> list[RunRecord]:
        return runs.list_runs(self._store, fact_ref)

    def delta(self, run_id: int):
        return runs.run_delta(self._store, self.run(run_id))

    def run_edits(self, fact_refs: Sequence[str], method: str, overrides: Mapping[str, str] | None = None, *,
                  batch: bool = False, lm=None, model_dir=None, options=None, preset: str | None = None,
                  progress: Progress | None = None) -> list[RunRecord]:
        """Compute and store edit runs on HEAD's weights: one per fact, or one for all (``batch``).
        ``preset`` names the base hyperparameters (default, tuned or a variant); ``layer=auto``
        in ``overrides`` traces the layer (one trace per relation across the runs).
        A caller's ``lm`` must be the pristine base; it is turned into HEAD in place."""
        from core.workflows.auto_layer import TraceCache
        from core.workflows.edit_choice import compute_chosen_edit

        progress, overrides = progress or silent(), dict(overrides or {})
        facts = [self.fact(ref).fact for ref in fact_refs]
        if not facts:
            raise LedgerError("name at least one fact to run")
        head = self.head()
        lm = self.checkout(head, lm=lm, model_dir=model_dir, options=options, progress=progress.stage(0, 0.2)).lm
        groups = [facts] if batch else [[fact] for fact in facts]
        done, traces = [], TraceCache()
        for i, group in enumerate(groups):
            step = progress.stage(0.2 + 0.8 * i / len(groups), 0.2 + 0.8 * (i + 1) / len(groups))
            outcome = compute_chosen_edit(lm, group, method, overrides, preset, traces, step)
            done.append(self.record_outcome(outcome, head.state_fingerprint, overrides))
        return done

    # -- commits -------------------------------------------------------------------------

    def commit(self, message: str, run_ids: Sequence[int] | None = None,
               thresholds: Mapping[str, float] | None = None, force: bool = False, *,
               lm=None, progress: Progress | None = None,
               measured: together.TogetherFigures | None = None, lm_holds: str | None = None) -> CommitRecord:
        """Commit the given runs, or the latest run of every approved fact not yet committed.
        With ``thresholds`` the commit gate applies: refused under them unless ``force``. With
        ``lm`` (holding HEAD's weights) the runs are first measured together on it, with the edits
        HEAD holds, when they may not land as they were measured (several runs, one computed on
        another state, a HEAD holding edits), and the gate holds those figures too
        (core.workflows.together). ``measured``: figures a refused attempt measured
        (``CommitRefused.together``), reused when HEAD and the runs are still the same.
        ``lm_holds``: the commit ``lm`` holds (its checkout's ``commit.id``), so figures measured on
        it are never stored under a HEAD another process committed since it was loaded."""
        figures = measured
        if figures is None and lm is not None and thresholds is not None:
            figures = self.measure_together(lm, message, run_ids, progress, lm_holds=lm_holds,
                                            thresholds=thresholds)
        return commits.commit(self._store, message, run_ids, thresholds, force, figures)

    def commit_runs(self, message: str, run_ids: Sequence[int] | None = None) -> list[RunRecord]:
        """The runs a commit would land, checked as the commit checks them (LedgerError if not)."""
        with self._store.reading():
            return commits.checked_runs(self._store, message, run_ids)

    def needs_measuring_together(self, message: str, run_ids: Sequence[int] | None = None) -> bool:
        """Whether a commit of ``run_ids`` must be measured together first (see ``commit``)."""
        return self._landing(message, run_ids) is not None

    def _landing(self, message: str, run_ids: Sequence[int] | None) -> tuple[list[RunRecord], list[int], str] | None:
        """(the runs a commit would land, the run ids HEAD holds, HEAD's id), read at once, or None
        when the runs land exactly as they were measured (together.needs_measuring_together)."""
        with self._store.reading():
            runs, held, head_id = self.commit_runs(message, run_ids), self.head_runs(), self.head().id
        measure = together.needs_measuring_together(len(runs), len(self.stale_runs(runs)), len(held))
        return (runs, held, head_id) if measure else None

    def measure_together(self, lm, message: str, run_ids: Sequence[int] | None = None,
                         progress: Progress | None = None, *, lm_holds: str | None = None,
                         thresholds: Mapping[str, float] | None = None) -> together.TogetherFigures | None:
        """The runs a commit of ``run_ids`` would land, and those HEAD holds, measured on ``lm``
        (HEAD's weights) with the new ones in place; None when they land exactly as measured.
        ``lm_holds`` given (the commit ``lm`` holds), LedgerError when HEAD is no longer it;
        ``thresholds``: the gate's, so HEAD as it stands is measured only where it can matter."""
        landing = self._landing(message, run_ids)
        if landing is None:
            return None
        runs, held, head_id = landing[0], [self.run(r) for r in landing[1]], landing[2]
        if lm_holds is not None and lm_holds != head_id:
            raise LedgerError(f"HEAD moved to {head_id[:12]} (another process committed) after the model was "
                              f"loaded at {lm_holds[:12]}: commit again to measure these edits on HEAD")
        items = [(run.id, self.delta(run.id), [self.fact(f).fact for f in run.fact_ids]) for run in runs]
        kept = [(run.id, [self.fact(f).fact for f in run.fact_ids]) for run in held]
        figures = together.measure_together(lm, items, progress, kept, thresholds)  # HEAD checked at commit
        return dataclasses.replace(figures, head=head_id, run_ids=tuple(run.id for run in runs))

    def snapshot(self):
        """A context in which every read sees one state of the log (a commit by another process
        lands before it or after it), for views made of several reads."""
        return self._store.reading()

    def commit_candidates(self) -> list[RunRecord]:
        """The runs ``commit()`` with no run ids would commit: the latest uncommitted run of
        each approved fact not in HEAD, oldest first."""
        with self._store.reading():
            return commits.commit_candidates(self._store)

    def stale_runs(self, runs: Sequence[RunRecord]) -> dict[int, CommitRecord | None]:
        """The runs computed on another state than HEAD: run id → the newest commit holding
        the state it was computed on (None: no commit does). Commit applies them in order."""
        with self._store.reading():
            return commits.stale_runs(self._store, runs)

    def approved_without_run(self) -> list[str]:
        """Approved facts not in HEAD with no uncommitted run: ``commit()`` leaves them out."""
        with self._store.reading():
            return commits.approved_without_run(self._store)

    def left_out(self) -> list[LeftOut]:
        """Approved facts not in HEAD that ``commit()`` leaves out, each with the run its
        approval stands on (None: no uncommitted run) and the facts of it that block it."""
        with self._store.reading():
            return left_out.left_out(self._store)

    def run_commits(self, run_id: int) -> tuple[CommitRecord | None, CommitRecord | None]:
        """That run's own history: (the commit that applied it, the revert that dropped it since)."""
        with self._store.reading():
            return state.run_commits(self._store, run_id)

    def reverted_facts(self) -> dict[str, CommitRecord]:
        """Facts whose edit a revert took out of HEAD: fact id → that revert commit."""
        with self._store.reading():
            return state.reverted_facts(self._store)

    def head(self) -> CommitRecord:
        return state.head(self._store)

    def resolve(self, ref: str) -> CommitRecord:
        return refs.resolve(self._store, ref)

    def log(self, ref: str = "HEAD", limit: int | None = None) -> list[CommitRecord]:
        return commits.log_commits(self._store, ref, limit)

    def show(self, ref: str = "HEAD") -> CommitDetail:
        return commits.show(self._store, ref)

    def state_figures(self, ref: str = "HEAD") -> dict:
        """By run id: the gated figures each edit of the commit's state measures there (core.ledger.figures)."""
        from core.ledger.figures import state_figures
        from core.ledger.runs import runs_by_id

        with self._store.reading():
            commit = refs.resolve(self._store, ref)
            found = runs_by_id(self._store, state.state_runs(self._store, commit))
            return state_figures(self._store, commit, list(found.values()))

    def head_runs(self) -> list[int]:
        """The run ids HEAD's state holds, in the order they are replayed."""
        with self._store.reading():
            return state.state_runs(self._store, state.head(self._store))

    def diff(self, a: str, b: str) -> DiffReport:
        return diff.diff(self._store, a, b)

    def tag(self, name: str, ref: str = "HEAD") -> TagRecord:
        return refs.create_tag(self._store, name, ref)

    def tags(self) -> list[TagRecord]:
        return refs.list_tags(self._store)

    def checkout(self, ref: str | CommitRecord = "HEAD", out: str | Path | None = None, *, lm=None, model_dir=None,
                 options=None, progress: Progress | None = None, loaded_fresh: bool = False) -> Materialised:
        """Build a commit's weights from the base (in memory, and into ``out`` as a Hugging Face folder).
        ``loaded_fresh``: the ``lm`` passed was just loaded from the base folder, untouched, so the
        result's fingerprint is recorded as a checkout that loads the base itself records it."""
        return materialise.materialise(self._store, ref, lm=lm, model_dir=model_dir, options=options,
                                       progress=progress, out=out, loaded_fresh=loaded_fresh)

    def save_loaded(self, lm, ref: str | CommitRecord, out: str | Path,
                    progress: Progress | None = None) -> Materialised:
        """Write ``lm``, which holds ``ref``'s state, into ``out`` as that commit's checkout, with no
        rebuild; VerificationError when its weights are not the ones recorded for the commit."""
        return materialise.save_loaded(self._store, lm, ref, out, progress)

    def advance(self, lm, commit: CommitRecord, progress: Progress | None = None) -> Materialised:
        """Move ``lm``, which holds ``commit``'s parent state, to ``commit`` by adding its edits:
        the start checked against the recorded weights and the result fingerprinted
        (core.ledger.materialise.advance); VerificationError when either differs."""
        return materialise.advance(self._store, lm, commit, progress).materialised(commit)

    def revert(self, targets: Sequence[str], message: str, *, lm=None, model_dir=None, options=None,
               progress: Progress | None = None) -> Materialised:
        """A new commit without the targets' edits (commits, fact ids or run:N), rebuilt and verified."""
        return revert.revert(self._store, targets, message, lm=lm, model_dir=model_dir, options=options,
                             progress=progress)

    def recompute(self, run_ids: Sequence[int], message: str, *, lm=None, model_dir=None, options=None,
                  progress: Progress | None = None):
        """Take the committed runs out with a revert and compute each again on the new HEAD, with
        the hyperparameters it was computed with: new uncommitted runs the next commit lands
        (core.ledger.recompute). For the edits a revert kept that were computed with a reverted one."""
        from core.ledger.recompute import recompute

        return recompute(self, self._store, run_ids, message, lm=lm, model_dir=model_dir, options=options,
                         progress=progress)

    def built_on_dropped(self, ref: str | CommitRecord = "HEAD") -> dict[int, tuple[int, ...]]:
        """For a revert commit: the runs it keeps that were computed on a state holding runs it
        dropped (run id → those runs): replayed as stored, candidates to compute again."""
        commit = ref if isinstance(ref, CommitRecord) else self.resolve(ref)
        return revert.built_on_dropped(self._store, commit)

    # -- export --------------------------------------------------------------------------

    def export(self, out: str | Path, format: str = "jsonl",
               statuses: Sequence[str] | None = ("approved",), include_reverted: bool = False) -> ExportReport:
        return export.export_facts(self._store, out, format, statuses, include_reverted)

    def export_patch(self, out: str | Path, from_ref: str = "ROOT", to_ref: str = "HEAD") -> PatchInfo:
        return patches.export_patch(self._store, out, from_ref, to_ref)

    # -- integrity -----------------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems found (none in a healthy workspace): SQLite's checks, and every commit's
        runs and state fingerprint."""
        from core.ledger.integrity import check_workspace

        return check_workspace(self._store)


def open_workspace(path: str | Path | None = None, **kwargs: Any) -> Workspace:
    """``path``, else FACTSMITH_WORKSPACE."""
    chosen = path or os.environ.get(WORKSPACE_ENV)
    if not chosen:
        raise LedgerError(f"no workspace given: pass --workspace PATH or set {WORKSPACE_ENV} "
                          "(--workspace default: the model's default workspace, the one the app opens)")
    return Workspace.open(chosen, **kwargs)


__all__ = ["WORKSPACE_ENV", "SchemaError", "Workspace", "open_workspace"]
