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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.ledger.errors import LedgerError
from core.ledger.records import Materialised, RunRecord
from core.util.progress import Progress, silent


@dataclass(frozen=True)
class Recomputed:
    revert: Materialised  # the revert commit that took the old edits out, with its weights (``.lm``)
    runs: tuple[RunRecord, ...]  # one new, uncommitted run per old one, in the same order

    def to_dict(self) -> dict[str, Any]:
        return {"revert": self.revert.to_dict(), "dropped": list(self.revert.commit.dropped),
                "runs": [run.to_dict() for run in self.runs]}


def recompute(ws, run_ids: Sequence[int], message: str, *, lm=None, model_dir=None, options=None,
              progress: Progress | None = None) -> Recomputed:
    """Revert the committed runs ``run_ids`` (``message``) and compute each again on the new HEAD;
    ``ws`` is the Workspace. LedgerError before anything changes when a run is not in HEAD."""
    progress = progress or silent()
    if not run_ids:
        raise LedgerError("name at least one committed run to compute again (run:N)")
    held = set(ws.head_runs())
    old = [ws.run(run_id) for run_id in dict.fromkeys(run_ids)]
    missing = [run.id for run in old if run.id not in held]
    if missing:
        raise LedgerError(f"run{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} not in HEAD: only "
                          "an edit HEAD holds is computed again (preview the fact for a new edit)")
    built = ws.revert([f"run:{run.id}" for run in old], message, lm=lm, model_dir=model_dir, options=options,
                      progress=progress.stage(0.0, 0.3))
    new = []
    for i, run in enumerate(old):
        step = progress.stage(0.3 + 0.7 * i / len(old), 0.3 + 0.7 * (i + 1) / len(old))
        new.append(_computed_again(ws, built, run, step))
    return Recomputed(built, tuple(new))


def _computed_again(ws, built: Materialised, run: RunRecord, progress: Progress) -> RunRecord:
    from core.methods import get_method
    from core.methods.hparams import with_overrides
    from core.workflows.editing import compute_edit

    facts = [ws.fact(fact_id).fact for fact_id in run.fact_ids]
    hparams = with_overrides(get_method(run.method).preset(built.lm), dict(run.hparams))
    outcome = compute_edit(built.lm, facts, run.method, hparams=hparams, progress=progress)
    return ws.record_outcome(outcome, built.commit.state_fingerprint, run.overrides)
