"""Evaluation results: frozen, JSON-ready, and labelled by the protocol that produced them.

Flat metric names (``FactMetrics.summary`` and ``aggregate``):
- ``reliability``, ``generality``, ``locality``, ``portability``: teacher-forced token
  accuracy, the default protocol (EasyEdit); locality compares with pre-edit argmaxes.
- ``probability.*``: ROME/CounterFact comparison of mean per-token NLL. ``reliability``
  and ``generality`` are the success rates of P(new) > P(old), ``locality`` that of
  P(answer) > P(new) on locality prompts; ``*_magnitude`` the mean probability gaps;
  ``p_new`` / ``p_old`` the probabilities (e^-NLL) after the edit prompt.
- ``generation.*``: exact match of a greedy decode as long as the expected answer
  (locality: the pre-edit decode).
- ``fluency`` (×100, higher is better) and ``ppl_r`` (lower is better).
A fact contributes the mean over its own prompts; ``aggregate`` averages over the facts
that have the metric, so a name is absent when no fact has such prompts.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.model.generation import TokenProbability

DEFAULT_PROTOCOL = "teacher_forced"


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def normalise(text: str) -> str:
    """Casefolded, single-spaced, without surrounding punctuation: for exact match."""
    return re.sub(r"\s+", " ", text).strip().strip(".,;:!?\"'()").strip().casefold()


def says_answer(continuation: str, answer: str) -> bool:
    """Whether a continuation (a preview's greedy text, longer than the answer) begins with the
    answer, compared as exact match compares."""
    wanted = normalise(answer)
    said = re.sub(r"\s+", " ", continuation).strip().lstrip(".,;:!?\"'()").strip().casefold()
    return bool(wanted) and said.startswith(wanted) and (len(said) == len(wanted) or not said[len(wanted)].isalnum())


def to_jsonable(obj: Any) -> Any:
    """Dataclasses (with their ``derived()`` values), tuples and floats made JSON-safe."""
    if dataclasses.is_dataclass(obj):
        out = {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        derived = getattr(obj, "derived", None)
        return out | {k: to_jsonable(v) for k, v in derived().items()} if derived else out
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no inf/nan
    return obj


@dataclass(frozen=True)
class TeacherForcedScores:
    """Token accuracy per prompt; locality is agreement with the pre-edit argmaxes."""

    reliability: float
    generality: tuple[float, ...] = ()
    locality: tuple[float, ...] = ()
    portability: tuple[float, ...] = ()

    def summary(self) -> dict[str, float | None]:
        return {"reliability": self.reliability, "generality": _mean(self.generality),
                "locality": _mean(self.locality), "portability": _mean(self.portability)}


@dataclass(frozen=True)
class TargetProbabilities:
    """Mean per-token NLL of " "+target_new and " "+target_true after one prompt."""

    prompt: str
    nll_new: float
    nll_old: float | None = None

    @property
    def p_new(self) -> float:
        return math.exp(-self.nll_new)

    @property
    def p_old(self) -> float | None:
        return None if self.nll_old is None else math.exp(-self.nll_old)

    @property
    def success(self) -> bool | None:
        return None if self.nll_old is None else self.nll_new < self.nll_old

    @property
    def magnitude(self) -> float | None:
        return None if self.p_old is None else self.p_new - self.p_old

    def derived(self) -> dict[str, Any]:
        return {"p_new": self.p_new, "p_old": self.p_old, "success": self.success, "magnitude": self.magnitude}


@dataclass(frozen=True)
class NeighbourProbabilities:
    """A locality prompt: its own answer should stay more likely than target_new."""

    prompt: str
    nll_answer: float
    nll_new: float

    @property
    def success(self) -> bool:
        return self.nll_answer < self.nll_new

    @property
    def magnitude(self) -> float:
        return math.exp(-self.nll_answer) - math.exp(-self.nll_new)

    def derived(self) -> dict[str, Any]:
        return {"success": self.success, "magnitude": self.magnitude}


@dataclass(frozen=True)
class ProbabilityScores:
    prompt: TargetProbabilities
    paraphrases: tuple[TargetProbabilities, ...] = ()
    neighbours: tuple[NeighbourProbabilities, ...] = ()

    def summary(self) -> dict[str, float | None]:
        rephrased = [p for p in self.paraphrases if p.success is not None]
        return {
            "probability.reliability": None if self.prompt.success is None else float(self.prompt.success),
            "probability.generality": _mean(float(p.success) for p in rephrased),
            "probability.locality": _mean(float(n.success) for n in self.neighbours),
            "probability.reliability_magnitude": self.prompt.magnitude,
            "probability.generality_magnitude": _mean(p.magnitude for p in rephrased),
            "probability.locality_magnitude": _mean(n.magnitude for n in self.neighbours),
            "probability.p_new": self.prompt.p_new,
            "probability.p_old": self.prompt.p_old,
        }


@dataclass(frozen=True)
class GeneratedAnswer:
    """A greedy decode as long as the expected answer, and whether it matches it."""

    prompt: str
    expected: str
    generated: str

    @property
    def match(self) -> bool:
        return normalise(self.generated) == normalise(self.expected)

    def derived(self) -> dict[str, Any]:
        return {"match": self.match}


@dataclass(frozen=True)
class GenerationScores:
    """Exact match; for locality ``expected`` is the pre-edit model's own decode."""

    reliability: GeneratedAnswer
    generality: tuple[GeneratedAnswer, ...] = ()
    locality: tuple[GeneratedAnswer, ...] = ()
    portability: tuple[GeneratedAnswer, ...] = ()

    def summary(self) -> dict[str, float | None]:
        def rate(answers: Sequence[GeneratedAnswer]) -> float | None:
            return _mean(float(a.match) for a in answers)

        return {"generation.reliability": float(self.reliability.match),
                "generation.generality": rate(self.generality),
                "generation.locality": rate(self.locality),
                "generation.portability": rate(self.portability)}


@dataclass(frozen=True)
class FluencyScores:
    """``text``: the edited model's free greedy text from the prompt (prompt included).
    ``continuation``: its text after prompt + " " + target_new; ``ppl_r`` scores that
    continuation under the unedited model (ICE App. D.1)."""

    text: str
    fluency: float
    continuation: str = ""
    ppl_r: float | None = None
    diversity: float | None = None  # fluency / its ceiling for this length (core.metrics.fluency.diversity)

    def summary(self) -> dict[str, float | None]:
        return {"fluency": self.fluency, "ppl_r": self.ppl_r, "fluency.diversity": self.diversity}


@dataclass(frozen=True)
class FactMetrics:
    """Every requested protocol's scores for one fact; None where not requested."""

    fact_id: str
    teacher_forced: TeacherForcedScores | None = None
    probability: ProbabilityScores | None = None
    generation: GenerationScores | None = None
    fluency: FluencyScores | None = None
    top_k: tuple[TokenProbability, ...] | None = None  # next tokens after the edit prompt

    def summary(self) -> dict[str, float]:
        """Flat metric name -> value for the metrics this fact has (see module doc)."""
        out: dict[str, float | None] = {}
        for part in (self.teacher_forced, self.probability, self.generation, self.fluency):
            if part is not None:
                out.update(part.summary())
        return {k: float(v) for k, v in out.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self) | {"summary": self.summary()}


@dataclass(frozen=True)
class EvaluationReport:
    """All facts' metrics from one ``evaluate`` call."""

    facts: tuple[FactMetrics, ...]
    protocols: tuple[str, ...]
    seconds: float = 0.0

    def summary(self) -> dict[str, float]:
        return aggregate([self])

    def to_dict(self) -> dict[str, Any]:
        return {"protocols": list(self.protocols), "default_protocol": DEFAULT_PROTOCOL,
                "seconds": self.seconds, "summary": self.summary(),
                "facts": [f.to_dict() for f in self.facts]}


def aggregate(reports: EvaluationReport | Iterable[EvaluationReport]) -> dict[str, float]:
    """Metric name -> mean over all facts of all reports that have that metric."""
    if isinstance(reports, EvaluationReport):
        reports = [reports]
    per_name: dict[str, list[float]] = {}
    for report in reports:
        for fact in report.facts:
            for name, value in fact.summary().items():
                per_name.setdefault(name, []).append(value)
    return {name: sum(vals) / len(vals) for name, vals in per_name.items()}
