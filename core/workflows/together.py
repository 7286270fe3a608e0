"""Edits committed together, measured together.

Each run was measured alone, on the state it was computed on; a commit lands its runs at
once, and one edit can undo another (trial 36: a MEND edit of France's capital turned a
committed FT-M edit of Australia's into "Mosul", while the commit record still showed 1.00
for it). So before a commit of several runs, of a run computed on another state than HEAD,
or onto a HEAD that already holds edits, the commit's facts and HEAD's are measured again,
teacher-forced, on HEAD with every run of the commit in place; the commit gate holds those
figures against its thresholds (``core.workflows.gates.check_runs``) and records the ones
that fell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from core.edit.deltas import Delta, delta_applied
from core.facts.fact import Fact, Probe
from core.facts.intended import intended_locality
from core.metrics.evaluation import Reference, capture_reference, evaluate
from core.metrics.protocols import greedy_answers
from core.metrics.results import EvaluationReport, aggregate
from core.model.loading import LoadedModel
from core.util.progress import Progress, silent
from core.workflows.batch_locality import without_intended

TOGETHER_METRICS = ("reliability", "locality")  # the gated ones


@contextmanager
def deltas_applied(model, deltas: Sequence[Delta]) -> Iterator[None]:
    """Every delta applied in order; reverted in the reverse order, exactly, whatever happens."""
    with ExitStack() as stack:
        for delta in deltas:
            stack.enter_context(delta_applied(model, delta))
        yield


def needs_measuring_together(run_count: int, stale_count: int, held_count: int = 0) -> bool:
    """One run computed on HEAD, on a HEAD holding no other edit, lands exactly as it was
    measured; anything else may not (it may also undo an edit HEAD holds)."""
    return run_count > 1 or stale_count > 0 or (run_count > 0 and held_count > 0)


@dataclass(frozen=True)
class TogetherFigures:
    """{run id: {metric: mean over the run's facts}}: ``together`` on HEAD with the commit's edits
    in place, for its runs and HEAD's; ``on_head`` for HEAD's runs as HEAD stands, so what was
    already so (an edit forced past the gate earlier) is not blamed on this commit: only for the
    held runs that fall together (a run missing from it is blamed on this commit)."""

    together: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    on_head: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    head: str = ""  # the commit they were measured on ("": not said), so a later commit can reuse them
    run_ids: tuple[int, ...] = ()  # the runs whose commit was measured, in order
    # {run id: ("The capital of Spain is: Madrid → Doha", …)}: for a run whose locality falls
    # together, the locality prompts whose greedy answer the commit's edits change (trial 47)
    changed: Mapping[int, tuple[str, ...]] = field(default_factory=dict)


def measure_together(lm: LoadedModel, runs: Sequence[tuple[int, Delta, Sequence[Fact]]],
                     progress: Progress | None = None,
                     held: Sequence[tuple[int, Sequence[Fact]]] = (),
                     thresholds: Mapping[str, float] | None = None) -> TogetherFigures:
    """``lm`` holds the commit's parent state (HEAD); ``runs``: (run id, its delta, its facts) in
    commit order; ``held``: (run id, its facts) for the edits HEAD already holds. Locality is
    against HEAD's own answers and leaves out the prompts another of these facts edits on purpose
    (core.workflows.batch_locality); the model ends as it was found. ``on_head`` is measured for
    the held runs that fall under ``thresholds`` together (all that fall under 1.0 without them):
    only those can need it, and a large HEAD was otherwise evaluated twice (50 s at 999 edits)."""
    progress = progress or silent()
    groups = [(run_id, run_facts) for run_id, _, run_facts in runs] + list(held)
    facts = _distinct(f for _, run_facts in groups for f in run_facts)
    if not facts:
        return TogetherFigures()
    intended, deltas = intended_locality(facts), [delta for _, delta, _ in runs]
    reference = capture_reference(lm, facts, progress=progress.stage(0.0, 0.2))
    with deltas_applied(lm.model, deltas):  # once: the answers that changed are read in the same pass
        measured = measure_in_place(lm, groups, reference, intended, progress.stage(0.2, 0.7))
        together = measured.together
        falling = [run_id for run_id in sorted(together, key=lambda r: together[r].get("locality", 1.0))
                   if _falls({"locality": together[run_id].get("locality", 1.0)}, thresholds)]
        changed = name_changes(lm, measured, groups, falling[:NAMED_RUNS])
    fallen = [(run_id, run_facts) for run_id, run_facts in held
              if _falls(together.get(run_id) or {}, thresholds)]
    held_facts = _distinct(f for _, run_facts in fallen for f in run_facts)
    head = without_intended(evaluate(lm, held_facts, protocols=("teacher_forced",),
                                     progress=progress.stage(0.7, 1.0)), intended) if held_facts else None
    return TogetherFigures(together, _per_run(head, fallen) if head else {}, changed=changed)


@dataclass(frozen=True)
class InPlace:
    """Runs measured on a model holding their edits, against a ``reference`` of the answers before."""

    together: Mapping[int, Mapping[str, float]]  # per run, its gated metrics (intended prompts left out)
    report: EvaluationReport  # every fact's scores, the intended prompts still in (indices as in the facts)
    reference: Reference
    intended: Mapping[str, frozenset[int]]


def measure_in_place(lm: LoadedModel, groups: Sequence[tuple[int, Sequence[Fact]]], reference: Reference,
                     intended: Mapping[str, frozenset[int]], progress: Progress | None = None) -> InPlace:
    """Each run's reliability and locality on ``lm`` as it stands (its edits in place), locality
    against ``reference`` (captured before the edits), the prompts another fact edits on purpose
    left out."""
    facts = _distinct(f for _, run_facts in groups for f in run_facts)
    report = evaluate(lm, facts, reference=reference, protocols=("teacher_forced",), progress=progress)
    return InPlace(_per_run(without_intended(report, intended), groups), report, reference, intended)


NAMED_RUNS = 10  # runs whose changed locality answers are looked for (each a few greedy decodes)
NAMED_PROBES = 3  # changed locality answers named per run


def name_changes(lm: LoadedModel, measured: InPlace, groups: Sequence[tuple[int, Sequence[Fact]]],
                 run_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Per run of ``run_ids``, "prompt: before → after" for its locality prompts whose greedy answer
    (as long as its answer) changed: before from the reference, after decoded on ``lm`` as it stands."""
    wanted = set(run_ids)
    moved = _moved_probes(measured.report, [(r, f) for r, f in groups if r in wanted], measured.intended)
    pairs = list(dict.fromkeys((p.prompt, p.answer) for found in moved.values() for _, _, p in found))
    after = dict(zip(pairs, greedy_answers(lm, pairs, silent()), strict=True)) if pairs else {}
    texts = {}
    for run_id, found in moved.items():
        said = [(p.prompt, _answer(measured.reference.get(fact).locality_generations[i]),
                 _answer(after[p.prompt, p.answer])) for fact, i, p in found]
        texts[run_id] = tuple(dict.fromkeys(f"{prompt}: {old} → {new}" for prompt, old, new in said if old != new))
    return {run_id: said for run_id, said in texts.items() if said}


def _answer(text: str) -> str:
    return text.strip().rstrip(".,;")  # "Doha." for a two-token answer: the sentence's end goes


def _moved_probes(report: EvaluationReport, groups: Sequence[tuple[int, Sequence[Fact]]],
                  intended: Mapping[str, frozenset[int]]) -> dict[int, list[tuple[Fact, int, Probe]]]:
    """Per run, its locality prompts whose teacher-forced answer moved (agreement under 1), the
    ones another fact edits on purpose left out; the first ``NAMED_PROBES``."""
    by_fact = {m.fact_id: m for m in report.facts}
    found = {}
    for run_id, run_facts in groups:
        moved = [(f, i, f.locality[i]) for f in run_facts if (scores := by_fact[f.id].teacher_forced) is not None
                 for i, agreement in enumerate(scores.locality)
                 if agreement < 1.0 and i not in intended.get(f.id, frozenset())]
        if moved:
            found[run_id] = list({(f.id, p): (f, i, p) for f, i, p in moved}.values())[:NAMED_PROBES]
    return found


def measure_state(lm: LoadedModel, runs: Sequence[tuple[int, Sequence[Fact]]],
                  progress: Progress | None = None) -> dict[int, dict[str, float]]:
    """Each run's reliability on ``lm`` as it stands, its edits in the weights (a revert's rebuilt
    state). Locality is not measured here: against the state itself it would read 1.0 whatever the
    edits did, so the figures measured before stand for it."""
    # the edit prompts alone: paraphrases and locality prompts would be scored (and the locality
    # answers captured first) for nothing, at 1,000 kept edits most of the time
    bare = [(run_id, [dataclasses.replace(f, paraphrases=(), locality=(), portability=()) for f in run_facts])
            for run_id, run_facts in runs]
    facts = _distinct(f for _, run_facts in bare for f in run_facts)
    if not facts:
        return {}
    report = evaluate(lm, facts, protocols=("teacher_forced",), progress=progress)
    return {run_id: {"reliability": figures["reliability"]} for run_id, figures in _per_run(report, bare).items()
            if "reliability" in figures}


def _falls(figures: Mapping[str, float], thresholds: Mapping[str, float] | None) -> bool:
    """Whether a held run's figures together fall under a threshold (any below 1.0 when none are given)."""
    limits = thresholds or dict.fromkeys(TOGETHER_METRICS, 1.0)
    return any(value < limits[metric] for metric, value in figures.items() if metric in limits)


def _distinct(facts) -> list[Fact]:
    return list({fact.id: fact for fact in facts}.values())


def _per_run(report: EvaluationReport, groups: Sequence[tuple[int, Sequence[Fact]]]) -> dict[int, dict[str, float]]:
    """Each run's gated metrics, averaged over its facts as a run's own figures are (``aggregate``)."""
    by_fact = {m.fact_id: m for m in report.facts}
    found = {}
    for run_id, run_facts in groups:
        means = aggregate(dataclasses.replace(report, facts=tuple(by_fact[f.id] for f in run_facts)))
        found[run_id] = {metric: means[metric] for metric in TOGETHER_METRICS if metric in means}
    return found
