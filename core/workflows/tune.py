"""Tune a method's preset for the user's own model on the user's own facts.

``tune(lm, method, facts)`` splits the facts in two by the SHA-256 of their subject
(about two thirds to tune on, one third held out; a subject is never in both), edits
every tuning fact on its own with each candidate of the method's grid
(``core.methods.tune_grids``), scores each edit teacher-forced against the unedited
model's answers, and picks a winner by ``OBJECTIVE``. The winner and the default
preset are then scored on the held-out facts, which no choice was made on, so the user
sees whether tuning helped beyond the facts it tuned on.

The model is never left edited: every delta is applied only inside ``evaluate`` (which
reverts it) and every method leaves the weights bit-identical, also on cancel.
Saving the winner is ``core.workflows.tune_store``'s job; nothing here writes a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.edit.repository import retrieval_paused
from core.facts.fact import Fact
from core.methods import EditError, get_method
from core.methods.hparams import as_dict
from core.methods.tune_grids import Axis, GridPoint, grid_for, grid_points
from core.metrics.evaluation import EvalOptions, Reference, capture_reference, evaluate
from core.metrics.results import aggregate
from core.model.loading import LoadedModel
from core.util.progress import Progress, silent

log = logging.getLogger(__name__)

MIN_FACTS = 4  # at least ~3 to tune on and 1 to check
RELIABILITY_BAR = 0.95
RELIABILITY_SLACK = 0.05
OBJECTIVE = (f"reliability >= {RELIABILITY_BAR} if any candidate reaches it (else within {RELIABILITY_SLACK} "
             "of the best candidate's), then the highest mean(generality, locality); ties: the higher "
             "reliability, then the candidate closer to the preset")
_OPTIONS = EvalOptions(protocols=("teacher_forced",))


class TuneError(ValueError):
    """The facts or the grid cannot be tuned on; the message says why and what to do."""


@dataclass(frozen=True)
class Scores:
    """Teacher-forced means over independently edited facts (None: no fact has such prompts)."""

    reliability: float
    generality: float | None
    locality: float | None
    facts: int

    @property
    def balance(self) -> float:
        """mean(generality, locality) over those present (reliability if neither is)."""
        present = [v for v in (self.generality, self.locality) if v is not None]
        return sum(present) / len(present) if present else self.reliability

    def to_dict(self) -> dict[str, Any]:
        return {"reliability": self.reliability, "generality": self.generality, "locality": self.locality,
                "facts": self.facts}


@dataclass(frozen=True)
class Candidate:
    index: int
    values: Mapping[str, Any]  # the grid's fields and what this candidate sets them to
    distance: int  # grid steps away from the preset (0: the preset itself)
    scores: Scores | None  # None when the method failed on a fact (see error)
    seconds: float
    error: str | None = None

    @property
    def is_preset(self) -> bool:
        return self.distance == 0

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "values": _jsonable(self.values), "distance": self.distance,
                "scores": self.scores.to_dict() if self.scores else None, "seconds": round(self.seconds, 3),
                "error": self.error}


@dataclass(frozen=True)
class HeldOut:
    """The default preset's and the winner's scores on the facts held out of the search."""

    preset: Scores
    tuned: Scores

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset.to_dict(), "tuned": self.tuned.to_dict()}


@dataclass(frozen=True)
class TuneResult:
    method: str
    model: str
    fingerprint: str
    tune_ids: tuple[str, ...]
    check_ids: tuple[str, ...]
    axes: tuple[Axis, ...]
    candidates: tuple[Candidate, ...]
    winner: int  # index into candidates
    bar: float  # the reliability a candidate needed to be eligible
    hparams: Mapping[str, Any]  # the winner's full hyperparameters (as_dict)
    held_out: HeldOut
    seconds: float

    @property
    def best(self) -> Candidate:
        return self.candidates[self.winner]

    @property
    def improves(self) -> bool:
        """The tuned preset beats the default on the held-out facts by ``OBJECTIVE``, on the figures
        as shown: a tie, or the default itself winning, is no reason to offer it (trial 44:
        held-out figures equal to the default's were saved and offered as the tuned preset)."""
        held = self.held_out
        return not self.best.is_preset and _rank(held.tuned, self.bar) > _rank(held.preset, self.bar)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "model": self.model, "fingerprint": self.fingerprint,
                "objective": OBJECTIVE, "bar": self.bar, "tuning_facts": len(self.tune_ids),
                "held_out_facts": len(self.check_ids), "tune_ids": list(self.tune_ids),
                "check_ids": list(self.check_ids), "grid": [a.to_dict() for a in self.axes],
                "candidates": [c.to_dict() for c in self.candidates], "winner": self.best.to_dict(),
                "hparams": _jsonable(self.hparams), "held_out": self.held_out.to_dict(), "improves": self.improves,
                "seconds": round(self.seconds, 2)}


def _rank(scores: Scores, bar: float) -> tuple[bool, float, float]:
    """``OBJECTIVE``'s order on the figures as shown (two decimals, in the CLI's table and the
    window's box): a difference no one can see is none."""
    shown = Scores(*(None if v is None else round(v, 2) for v in (scores.reliability, scores.generality,
                                                                  scores.locality)), scores.facts)
    return shown.reliability >= bar - 1e-9, round(shown.balance, 9), shown.reliability


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _split_key(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)


def candidate_count(lm: LoadedModel, method_name: str) -> int:
    """How many hyperparameter sets ``tune`` tries for this model (its grid around the preset)."""
    method = get_method(method_name)
    return len(grid_points(method.preset(lm), grid_for(method.name), lm.info.layers))


def split_facts(facts: Sequence[Fact]) -> tuple[tuple[Fact, ...], tuple[Fact, ...]]:
    """(tuning part, held-out part): the third of the subjects with the lowest SHA-256 is held
    out (rounded, at least one, never all), so the split is the same in any order and a subject
    is never in both parts. With a single subject the facts themselves (by id) are split."""
    if len(facts) < MIN_FACTS:
        raise TuneError(f"tuning needs at least {MIN_FACTS} facts (got {len(facts)}): some to tune on and "
                        "some held out to check the result; add more facts")
    by_subject = len({f.subject for f in facts}) >= 2
    key = {f.id: _split_key(f.subject if by_subject else f.id) for f in facts}
    groups = sorted(set(key.values()))
    held_keys = set(groups[: min(len(groups) - 1, max(1, round(len(groups) / 3)))])
    held = {f.id for f in facts if key[f.id] in held_keys}
    return tuple(f for f in facts if f.id not in held), tuple(f for f in facts if f.id in held)


def _score(lm: LoadedModel, method, hp, facts: Sequence[Fact], reference: Reference, progress: Progress,
           label: str) -> Scores:
    """Each fact edited on its own from the model as it is; means of the teacher-forced metrics."""
    reports = []
    for j, fact in enumerate(facts):
        progress.check()
        step = progress.stage(j / len(facts), (j + 1) / len(facts), prefix=f"{label}, fact {j + 1} of {len(facts)}: ")
        step.report(0.0, 1.0, "editing")
        with retrieval_paused(lm.model):  # as compute_edit: no RECIPE prefix under the edit's captures
            delta = method.compute(lm, [fact], hp, step.stage(0.0, 0.9))
        reports.append(evaluate(lm, [fact], edit=delta, reference=reference, options=_OPTIONS,
                                progress=step.stage(0.9, 1.0)))
    means = aggregate(reports)
    return Scores(means.get("reliability", 0.0), means.get("generality"), means.get("locality"), len(facts))


def _run_candidate(lm: LoadedModel, method, base, point: GridPoint, index: int, total: int,
                   facts: Sequence[Fact], reference: Reference, progress: Progress) -> Candidate:
    started = time.perf_counter()
    hp = dataclasses.replace(base, **point.values)
    try:
        scores = _score(lm, method, hp, facts, reference, progress, f"candidate {index + 1} of {total}")
    except EditError as exc:
        log.info("tune: candidate %d (%s) failed: %s", index + 1, point.values, exc)
        return Candidate(index, point.values, point.distance, None, time.perf_counter() - started, str(exc))
    log.info("tune: candidate %d/%d %s: %s", index + 1, total, point.values, scores)
    return Candidate(index, point.values, point.distance, scores, time.perf_counter() - started)


def choose(candidates: Sequence[Candidate]) -> tuple[int, float]:
    """(index of the winner, the reliability bar it had to clear), by ``OBJECTIVE``."""
    scored = [c for c in candidates if c.scores is not None]
    if not scored:
        raise TuneError("every candidate failed to edit; see the log (-v) for the method's errors")
    best = max(c.scores.reliability for c in scored)
    bar = RELIABILITY_BAR if best >= RELIABILITY_BAR else max(0.0, best - RELIABILITY_SLACK)
    eligible = [c for c in scored if c.scores.reliability >= bar - 1e-9]
    winner = max(eligible, key=lambda c: (round(c.scores.balance, 9), round(c.scores.reliability, 9),
                                          -c.distance, -c.index))
    return winner.index, bar


def tune(lm: LoadedModel, method_name: str, facts: Sequence[Fact], progress: Progress | None = None,
         axes: Sequence[Axis] | None = None, base: Any | None = None, budget: int | None = None) -> TuneResult:
    """Search ``axes`` (default: the method's grid) around ``base`` (default: its preset for
    this model) on the tuning part of ``facts`` (the first ``budget`` of them, if given)."""
    progress, started = progress or silent(), time.perf_counter()
    method = get_method(method_name)
    axes = tuple(axes if axes is not None else grid_for(method.name))
    base = base if base is not None else method.preset(lm)
    facts = tuple(facts)[:budget] if budget else tuple(facts)
    if budget and len(facts) < MIN_FACTS:
        raise TuneError(f"--budget {budget} leaves {len(facts)} facts; tuning needs at least {MIN_FACTS}")
    tune_part, check_part = split_facts(facts)
    points = grid_points(base, axes, lm.info.layers)
    reference = capture_reference(lm, facts, progress=progress.stage(0.0, 0.02))
    units = len(points) * len(tune_part) + 2 * len(check_part)  # edits to compute, for progress
    done, candidates = 0, []
    for i, point in enumerate(points):
        share = len(tune_part) / units
        stage = progress.stage(0.02 + 0.98 * done, 0.02 + 0.98 * (done + share))
        candidates.append(_run_candidate(lm, method, base, point, i, len(points), tune_part, reference, stage))
        done += share
    winner, bar = choose(candidates)
    held_out = _held_out(lm, method, base, candidates[winner], check_part, reference,
                         progress.stage(0.02 + 0.98 * done, 1.0))
    hp = dataclasses.replace(base, **candidates[winner].values)
    progress.report(1.0, 1.0, f"{method.name}: tuned on {len(tune_part)} facts, checked on {len(check_part)}")
    return TuneResult(method.name, lm.info.name, lm.info.fingerprint, tuple(f.id for f in tune_part),
                      tuple(f.id for f in check_part), axes, tuple(candidates), winner, bar, as_dict(hp),
                      held_out, time.perf_counter() - started)


def _held_out(lm: LoadedModel, method, base, winner: Candidate, facts: Sequence[Fact], reference: Reference,
              progress: Progress) -> HeldOut:
    """The preset's and the winner's scores on the held-out facts (once if the winner is the preset)."""
    preset = _score(lm, method, base, facts, reference, progress.stage(0.0, 0.5), "held out, default preset")
    if winner.is_preset:
        return HeldOut(preset, preset)
    tuned_hp = dataclasses.replace(base, **winner.values)
    return HeldOut(preset, _score(lm, method, tuned_hp, facts, reference, progress.stage(0.5, 1.0),
                                  "held out, tuned preset"))
