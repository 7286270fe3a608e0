"""Commit gates: the review policy that an edit's measured quality must meet before it is
committed. The CLI's ``commit`` refuses runs under the thresholds unless forced (and the
edit log records that it was forced); the app shows the same warnings and commits
"anyway" only as a forced commit.

A run is anything with an ``id`` and the ``metrics`` an ``EditOutcome`` records
(``{"post": {"reliability": …, "locality": …}}``); a metric a run did not measure (no
locality prompts) is not held against it, but the check records it as unmeasured, so a
passed gate never reads as "locality ≥ 0.90" for a run whose locality nobody measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.workflows.together import TogetherFigures
from core.workflows.verdict import DEFAULT_RULES, NOT_MEASURED_WHY, check_text, facts_without, not_measured_text

# Defaults a new user gets: the verdict's own targets, so that "took" and "passes the gate"
# agree (one source of truth); the app remembers the reviewer's own.
DEFAULT_THRESHOLDS: Mapping[str, float] = {"reliability": DEFAULT_RULES.reliability,
                                           "locality": DEFAULT_RULES.locality}
GATED_METRICS = tuple(DEFAULT_THRESHOLDS)


class MeasuredRun(Protocol):
    id: int
    metrics: Mapping[str, Any]


class GateError(ValueError):
    """A threshold is not a number in [0, 1] or names an unknown metric."""


@dataclass(frozen=True)
class GateWarning:
    run_id: int
    metric: str
    value: float
    minimum: float
    together: bool = False  # measured with the commit's other edits in place (core.workflows.together)
    fact: str = ""  # in a run of several facts, the one under the threshold ("Mayotte → Valletta")
    changed: tuple[str, ...] = ()  # together: "The capital of Spain is: Madrid → Doha" (TogetherFigures.changed)

    def __str__(self) -> str:
        return warning_text(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        found = {"run": self.run_id, "metric": self.metric, "value": self.value, "minimum": self.minimum}
        found |= {"changed": list(self.changed)} if self.changed else {}
        return found | ({"together": True} if self.together else {}) | ({"fact": self.fact} if self.fact else {})


TOGETHER_TEXT = "with this commit's edits in place"
NAMED_FACTS = 5  # a batch run's facts under a threshold named in its warnings, the worst first


def warning_text(warning: Mapping[str, Any]) -> str:
    """"locality 0.71 < 0.90", from a stored warning; one that only the commit's edits together
    caused says so."""
    text = f"{warning['metric']} {warning['value']:.2f} < {warning['minimum']:.2f}"
    text += f" ({warning['fact']})" if warning.get("fact") else ""
    text = f"{text} {TOGETHER_TEXT}" if warning.get("together") else text
    changed = warning.get("changed") or ()
    return text + (f": now {'; '.join(changed)}" if changed else "")


@dataclass(frozen=True)
class RecordedGate:
    """A commit's stored gate (``GateCheck.to_dict``) in words, for the CLI's text and History's html."""

    forced: bool
    limits: str  # "reliability >= 0.95, locality >= 0.90"
    warnings: str  # "run 3 reliability 0.80 < 0.95 …; run 4 …"
    unmeasured: str  # "run 3 locality; …": metrics no run measured, so nobody checked them


def recorded_gate(gate: Mapping[str, Any], at_least: str = ">=") -> RecordedGate:
    limits = ", ".join(f"{m} {at_least} {v:.2f}" for m, v in (gate.get("thresholds") or {}).items())
    warnings = "; ".join(f"run {w['run']} {warning_text(w)}" for w in gate.get("warnings") or ())
    unmeasured = "; ".join(f"run {u['run']} {u['metric']}{u.get('some', '')}" for u in gate.get("unmeasured") or ())
    return RecordedGate(bool(gate.get("forced")), limits, warnings, unmeasured)


@dataclass(frozen=True)
class GateCheck:
    """The outcome of checking some runs against thresholds."""

    thresholds: Mapping[str, float]
    warnings: tuple[GateWarning, ...] = ()
    forced: bool = False
    # {run id: {metric: value}} measured with the commit's edits in place, for every run of the
    # new state (core.workflows.together); empty when the runs land exactly as they were measured
    together: Mapping[int, Mapping[str, float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.warnings

    def for_run(self, run_id: int) -> list[GateWarning]:
        return [w for w in self.warnings if w.run_id == run_id]

    def describe(self, max_runs: int | None = None) -> str:
        """The warnings run by run; with ``max_runs``, that many, then how many more (a box must fit)."""
        runs = sorted({w.run_id for w in self.warnings})
        parts = [f"run {r}: " + ", ".join(str(w) for w in self.for_run(r)) for r in runs[:max_runs]]
        more = len(runs) - len(parts)
        return "; ".join(parts) + (f"; … and {more} more runs" if more else "")

    def to_dict(self) -> dict[str, Any]:
        # what is stored and hashed into the commit id; unmeasured metrics are read from the runs
        # the together figures are stored beside the commit (core.ledger.figures), not hashed into its id
        return {"thresholds": dict(self.thresholds), "forced": self.forced,
                "warnings": [w.to_dict() for w in self.warnings]}


def checked_thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    """``thresholds`` (default: DEFAULT_THRESHOLDS) validated."""
    chosen = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
    for metric, value in chosen.items():
        if metric not in GATED_METRICS:
            raise GateError(f"no commit threshold for {metric!r}; thresholds exist for {', '.join(GATED_METRICS)}")
        if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise GateError(f"the {metric} threshold must be a number from 0 to 1, not {value!r}")
    return {m: float(v) for m, v in chosen.items()}


def run_warnings(run: MeasuredRun, thresholds: Mapping[str, float]) -> list[GateWarning]:
    """The run's measured post-edit metrics that fall under their thresholds; in a run of several
    facts (a batch), each fact's own (trial 45: one fact's locality 0.75 hid in a mean of 0.92),
    the worst ``NAMED_FACTS`` by name, then how many more."""
    facts = _fact_figures(run)
    if len(facts) <= 1:
        return mean_warnings(run, thresholds)
    found = []
    for metric, minimum in thresholds.items():
        under = sorted((value, label) for label, figures in facts
                       if (value := figures.get(metric)) is not None and value < minimum)
        found += [GateWarning(run.id, metric, value, float(minimum), fact=label)
                  for value, label in under[:NAMED_FACTS]]
        if len(under) > NAMED_FACTS:  # the best of the rest: every one of them is under it
            more = len(under) - NAMED_FACTS
            found.append(GateWarning(run.id, metric, under[-1][0], float(minimum), fact=f"and {more} more facts"))
    return found


def mean_warnings(run: MeasuredRun, thresholds: Mapping[str, float]) -> list[GateWarning]:
    """The run's mean figures under their thresholds: what a run's figures measured together with
    other edits (means too) are compared with."""
    post = (run.metrics or {}).get("post") or {}
    return [GateWarning(run.id, metric, float(value), float(minimum)) for metric, minimum in thresholds.items()
            if (value := post.get(metric)) is not None and value < minimum]


def _fact_figures(run: MeasuredRun) -> list[tuple[str, dict[str, float]]]:
    """(label, {metric: value}) per fact from the run's stored verdict (teacher-forced values)."""
    facts = ((run.metrics or {}).get("verdict") or {}).get("facts") or ()
    return [(fact.get("label") or fact.get("fact_id", "")[:12],
             {c["metric"]: float(c["value"]) for c in fact.get("checks", ()) if c.get("value") is not None})
            for fact in facts]


def unmeasured_metrics(run: MeasuredRun, thresholds: Mapping[str, float]) -> list[str]:
    """The gated metrics the run did not measure (no locality prompts), for the whole run or for
    some of its facts ("locality for 1 of 3 facts"): not checked, not passed."""
    return [metric + some for metric, some in unmeasured_in(run.metrics or {}, thresholds)]


def unmeasured_in(metrics: Mapping[str, Any], gated: Iterable[str]) -> list[tuple[str, str]]:
    """(metric, "" or " for K of N facts") per gated metric a run's stored ``metrics`` did not
    measure: a batch's mean hides the one fact that had no locality prompts (trial 45), so its
    verdict's facts are counted too."""
    post = metrics.get("post") or {}
    facts = (metrics.get("verdict") or {}).get("facts") or ()
    found = []
    for metric in gated:
        missing = facts_without(facts, metric)
        if post.get(metric) is None:
            found.append((metric, ""))
        elif missing and len(facts) > 1:
            found.append((metric, f" for {missing} of {len(facts)} facts"))
    return found


def unmeasured_text(metrics: Sequence[str]) -> str:
    """How the app and the CLI say that a gated metric went unchecked ("locality for 1 of 3
    facts" reads "locality not measured for 1 of 3 facts (no locality prompts)")."""
    parts = (m.partition(" ") for m in metrics)
    return ", ".join(not_measured_text(metric, f" {some}" if some else "") for metric, _, some in parts)


def verdict_failures(run: MeasuredRun, gated: Sequence[str]) -> list[str]:
    """The verdict's failing checks on metrics the gate does not check (generality, fluency), and
    on gated ones whose greedy text missed though the teacher-forced value passed: said beside a
    commit, never blocking it."""
    seen: list[str] = []
    for fact in ((run.metrics or {}).get("verdict") or {}).get("facts", ()):
        for check in fact.get("checks", ()):
            # a gated metric the gate passed on its teacher-forced value, but whose greedy text missed
            missed_generating = check.get("generated") is not None and check["value"] >= check["bound"]
            if check.get("held") is False and (check["metric"] not in gated or missed_generating):
                text = f"{check_text(check)} (verdict)"
                seen += [] if text in seen else [text]
    return seen


def verdict_unmeasured(run: MeasuredRun, gated: Sequence[str]) -> list[str]:
    """The verdict's checks nobody could measure on metrics the gate does not check (generality
    with no paraphrases): said beside a commit, so "ok" never stands for "not checked"."""
    facts = ((run.metrics or {}).get("verdict") or {}).get("facts", ())
    missing = {c["metric"] for f in facts for c in f.get("checks", ()) if c.get("held") is None}
    return [not_measured_text(m) for m in NOT_MEASURED_WHY if m in missing and m not in gated]


def check_runs(runs: Sequence[MeasuredRun], thresholds: Mapping[str, float] | None = None,
               force: bool = False, together: TogetherFigures | None = None,
               held: Sequence[MeasuredRun] = ()) -> GateCheck:
    """Every run checked; ``forced`` is recorded only when there was something to force.
    ``together`` (``core.workflows.together``): the runs' figures on HEAD with all of them in
    place, and ``held``'s, the runs HEAD already holds; a metric that passed on a run's own
    figures (for a held run: on HEAD as it stands) but falls with the commit's edits is a
    warning too."""
    limits = checked_thresholds(thresholds)
    figures = together or TogetherFigures()
    warnings: list[GateWarning] = []
    for run in runs:  # together figures are means: compared with the run's means, not its facts'
        below = {w.metric for w in mean_warnings(run, limits)}
        warnings += run_warnings(run, limits) + _together_warnings(run, limits, figures, below)
    for run in held:  # gated when committed; what already fell on HEAD is not this commit's doing
        on_head = figures.on_head.get(run.id) or {}
        fallen = {m for m, v in on_head.items() if m in limits and v < limits[m]}
        fallen |= {w.metric for w in mean_warnings(run, limits)}
        warnings += _together_warnings(run, limits, figures, fallen)
    return GateCheck(limits, tuple(warnings), forced=bool(force and warnings), together=dict(figures.together))


def _together_warnings(run: MeasuredRun, limits: Mapping[str, float], figures: TogetherFigures,
                       flagged: set[str]) -> list[GateWarning]:
    """The metrics that passed on the run's own figures but fall with the commit's edits in place,
    a locality with the answers that changed; what the run did not measure is not held against it."""
    measured = (run.metrics or {}).get("post") or {}
    changed = tuple(figures.changed.get(run.id) or ())
    return [GateWarning(run.id, metric, float(value), limits[metric], together=True,
                        changed=changed if metric == "locality" else ())
            for metric, value in (figures.together.get(run.id) or {}).items()
            if metric in limits and metric in measured and metric not in flagged and value < limits[metric]]
