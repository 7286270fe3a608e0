"""Committed edits computed again on the state a revert leaves (issue 16).

A revert replays the edits it keeps exactly as stored, but an edit computed on weights that
held the reverted one was fitted to them; the revert report names such edits
(``revert.built_on_dropped``). Recomputing takes them out with one more revert and computes
each again on the new HEAD, with the method and the very hyperparameters it was computed
with. The new runs are ordinary previews of facts still approved, so the next commit lands
them (``commits.RunChoice``: a run made after its fact's edit was reverted), measured
together with HEAD's edits by the commit gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.ledger.errors import LedgerError
from core.ledger.records import Materialised, RunRecord
from core.ledger.runs import record_outcome
from core.util.atomic import file_sha256
from core.util.progress import Progress, silent


@dataclass(frozen=True)
class Recomputed:
    revert: Materialised  # the revert commit that took the old edits out, with its weights (``.lm``)
    runs: tuple[RunRecord, ...]  # one new, uncommitted run per old one, in the same order

    def to_dict(self) -> dict[str, Any]:
        return {"revert": self.revert.to_dict(), "dropped": list(self.revert.commit.dropped),
                "runs": [run.to_dict() for run in self.runs]}


def recompute(ws, store, run_ids: Sequence[int], message: str, *, lm=None, model_dir=None, options=None,
              progress: Progress | None = None) -> Recomputed:
    """Revert the committed runs ``run_ids`` (``message``) and compute each again on the state
    left; ``ws`` is the Workspace, ``store`` its Store. Every edit is computed before anything is written, so a
    failure (a method that cannot run any more, a cancel) leaves the log as it was."""
    from core.ledger import revert

    progress = progress or silent()
    old = _committed_runs(ws, run_ids)
    for run in old:  # before the rebuild: a retrained editor is refused at once
        _check_same_editor(run, _editor_file_now(run))
    prepared = revert.rebuilt_without(store, [f"run:{run.id}" for run in old], message, lm=lm, model_dir=model_dir,
                                      options=options, progress=progress.stage(0.0, 0.3))
    outcomes = []
    for i, run in enumerate(old):
        step = progress.stage(0.3 + 0.7 * i / len(old), 0.3 + 0.7 * (i + 1) / len(old))
        outcomes.append(_computed_again(ws, prepared.built.lm, run, step))
    new: list[RunRecord] = []  # recorded in the revert's own transaction: both land, or neither

    def record() -> None:
        new.extend(record_outcome(store, outcome, prepared.state, run.overrides, within=True)
                   for outcome, run in zip(outcomes, old, strict=True))

    landed = revert.land(store, prepared, then=record)
    return Recomputed(landed, tuple(new))


def _committed_runs(ws, run_ids: Sequence[int]) -> list[RunRecord]:
    """The runs, each one HEAD holds; LedgerError naming those it does not."""
    if not run_ids:
        raise LedgerError("name at least one committed run to compute again (run:N)")
    held = set(ws.head_runs())
    old = [ws.run(run_id) for run_id in dict.fromkeys(run_ids)]
    missing = [run.id for run in old if run.id not in held]
    if missing:
        raise LedgerError(f"run{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} not in HEAD: only "
                          "an edit HEAD holds is computed again (preview the fact for a new edit)")
    return old


def _computed_again(ws, lm, run: RunRecord, progress: Progress):
    """The run's edit computed on ``lm`` with the method and hyperparameters it was computed with;
    a layer it traced (``layer=auto``) is traced again, on this state."""
    import dataclasses

    from core.methods import get_method
    from core.methods.hparams import with_overrides
    from core.workflows.auto_layer import auto_layer_hparams, auto_requested
    from core.workflows.editing import compute_edit

    facts = [ws.fact(fact_id).fact for fact_id in run.fact_ids]
    hparams = with_overrides(get_method(run.method).preset(lm), dict(run.hparams))
    chosen: dict[str, Any] = {"recomputed_from": run.id}
    if "preset" in run.environment:
        chosen["preset"] = run.environment["preset"]
    if auto_requested(run.overrides):  # traced on the state that held the reverted edit
        hparams, choice = auto_layer_hparams(lm, run.method, hparams, facts, progress=progress.stage(0.0, 0.2))
        chosen["auto_layer"], progress = choice.to_dict(), progress.stage(0.2, 1.0)
    outcome = compute_edit(lm, facts, run.method, hparams=hparams, progress=progress)
    _check_same_editor(run, outcome.environment.get("editor_checkpoint"))
    return dataclasses.replace(outcome, environment={**outcome.environment, **chosen})


def _editor_file_now(run: RunRecord) -> dict[str, str] | None:
    """The editor checkpoint the run used, as its file stands now ({path, sha256}; None: no editor,
    or the file is gone, which computing then reports)."""
    path = (run.environment.get("editor_checkpoint") or {}).get("path")
    if not path or not Path(path).is_file():
        return None
    return {"path": path, "sha256": file_sha256(path)}  # as the editor recorded it (core.methods.trained)


def _check_same_editor(run: RunRecord, used: Mapping[str, Any] | None) -> None:
    """A trained editor retrained since is another editor: not "the same settings"."""
    before = (run.environment.get("editor_checkpoint") or {}).get("sha256")
    now = (used or {}).get("sha256")
    if before and now and before != now:
        raise LedgerError(f"run {run.id} was made with the editor checkpoint {before[:12]}, but "
                          f"{(used or {}).get('path')} now holds {now[:12]} (trained again since): preview its fact "
                          "to edit with the new editor")
