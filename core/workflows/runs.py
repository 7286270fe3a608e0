"""Edit many facts in one of three modes and report pre/post metrics per fact.

- independent: each fact is edited from the base model; the model is restored between.
- sequential: edits accumulate; every fact is measured right after its edit and all are
  measured again at the end (retention). With a batch size N, each step edits N facts
  at once (consecutive batches, COMEBA-HK's and AlphaEdit's setting).
- batch: one delta carries all facts at once (MEMIT's setting; any method can be asked);
  each fact is measured before and with that delta applied.
The report's schema is documented in docs/edit-report.md.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.edit.deltas import AppliedDelta, apply_delta, delta_applied, revert_delta
from core.edit.repository import retrieval_paused
from core.facts.fact import Fact
from core.facts.intended import EditedPrompts, intended_locality
from core.methods import get_method, resolve_hparams
from core.methods.hparams import as_dict
from core.metrics.evaluation import DEFAULT_PROTOCOL, EvaluationReport, capture_reference, evaluate, rescore_ppl_r
from core.model.loading import LoadedModel
from core.util.progress import Progress, silent
from core.workflows.batch_locality import without_intended
from core.workflows.editing import HEADLINE_METRICS, compute_edit, fact_labels, headline, verdict_inputs
from core.workflows.verdict import VERDICTS, edit_verdict, fact_verdict

log = logging.getLogger(__name__)

MODES = ("independent", "sequential", "batch")


@dataclass(frozen=True)
class FactRecord:
    fact: Fact
    pre: EvaluationReport
    post: EvaluationReport
    seconds: float
    delta_sha256: str

    def verdict_inputs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return verdict_inputs(self.pre.facts[0], self.post.facts[0], self.fact)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fact_id": self.fact.id,
            "subject": self.fact.subject,
            "prompt": self.fact.prompt,
            "target_new": self.fact.target_new,
            "target_true": self.fact.target_true,
            "pre": self.pre.facts[0].summary(),
            "post": self.post.facts[0].summary(),
            "seconds": round(self.seconds, 4),
            "delta_sha256": self.delta_sha256,
            "verdict": fact_verdict(self.fact.id, *self.verdict_inputs()).to_dict(),
        }


def _mean_headline(reports: Sequence[EvaluationReport]) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for report in reports:
        for name, value in headline(report).items():
            values.setdefault(name, []).append(value)
    return {name: sum(v) / len(v) for name, v in values.items()}


def _fluency_means(reports: Sequence[EvaluationReport]) -> dict[str, float]:
    """Mean fluency and PPL_r (and PPL_r's median: a few runaway ratios dominate its mean)."""
    found = [m.fluency for r in reports for m in r.facts if m.fluency is not None]
    ratios = sorted(f.ppl_r for f in found if f.ppl_r is not None)
    out = {"fluency": sum(f.fluency for f in found) / len(found)} if found else {}
    if ratios:
        out.update(ppl_r=sum(ratios) / len(ratios), ppl_r_median=ratios[len(ratios) // 2])
    return out


def _overall_verdict(method: str, records: Sequence[FactRecord]) -> dict[str, Any]:
    """The run's verdict over every edit, the counts per verdict, and the advice."""
    inputs = [r.verdict_inputs() for r in records]
    verdict = edit_verdict(method, [r.fact.id for r in records], [pre for pre, _ in inputs],
                           [post for _, post in inputs], labels=fact_labels([r.fact for r in records]))
    counts = {v: sum(f.verdict == v for f in verdict.facts) for v in VERDICTS}
    return {"verdict": verdict.verdict, "summary": verdict.summary, "counts": counts, "advice": list(verdict.advice),
            "advice_templates": list(verdict.advice_templates)}


def build_report(lm: LoadedModel, method: str, hparams: Mapping[str, Any], mode: str,
                 records: Sequence[FactRecord], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    seconds = [r.seconds for r in records]
    return {
        "model": {"name": lm.info.name, "path": lm.info.path, "fingerprint": lm.info.fingerprint,
                  "device": lm.info.device, "dtype": lm.info.dtype},
        "method": method,
        "mode": mode,
        "hparams": dict(hparams),
        "protocol": DEFAULT_PROTOCOL,
        "aggregate": {"pre": _mean_headline([r.pre for r in records]),
                      "post": _mean_headline([r.post for r in records])},
        "fluency": {"protocol": "fluency", "pre": _fluency_means([r.pre for r in records]),
                    "post": _fluency_means([r.post for r in records])},
        "seconds_per_edit": sum(seconds) / len(seconds) if seconds else 0.0,
        "verdict": _overall_verdict(method, records),
        "edits": [r.to_dict() for r in records],
        **dict(extra or {}),
    }


def run_independent(lm: LoadedModel, facts: Sequence[Fact], method: str,
                    overrides: Mapping[str, Any] | None = None, hparams: Any | None = None,
                    progress: Progress | None = None,
                    while_applied: Callable[[LoadedModel], None] | None = None) -> dict[str, Any]:
    """Each fact edited from the model as it came. ``while_applied(lm)`` (one fact only) runs with
    the very delta the report describes in place (e.g. to save it; review 46: the CLI computed the
    edit a second time to save, which a non-deterministic method may not repeat)."""
    if while_applied is not None and len(facts) != 1:
        raise ValueError("saving the edited model in independent mode needs exactly one fact")
    progress = progress or silent()
    hp = resolve_hparams(lm, method, overrides, hparams)
    records = []
    for i, fact in enumerate(facts):
        progress.report(i, len(facts), f"editing {i + 1}/{len(facts)}: {fact.subject}")
        stage = progress.stage(i / len(facts), (i + 1) / len(facts))
        outcome = compute_edit(lm, [fact], method, hparams=hp, progress=stage, preview_tokens=0)
        records.append(FactRecord(fact, outcome.pre, outcome.post, outcome.seconds, outcome.delta.sha256))
        if while_applied is not None:
            with delta_applied(lm.model, outcome.delta):
                while_applied(lm)
    return build_report(lm, get_method(method).name, as_dict(hp), "independent", records)


def run_sequential(lm: LoadedModel, facts: Sequence[Fact], method: str,
                   overrides: Mapping[str, Any] | None = None, hparams: Any | None = None,
                   progress: Progress | None = None,
                   while_applied: Callable[[LoadedModel], None] | None = None, batch_size: int = 1) -> dict[str, Any]:
    """Edits pile up, ``batch_size`` facts per step (consecutive batches: one delta per step,
    each computed on the model the earlier steps left); ``while_applied(lm)`` runs with all
    of them in place (e.g. to save). The model is restored to its starting weights before
    returning, whatever happens. A locality prompt another fact edits on purpose is left out
    of a fact's locality once that fact is edited (core.workflows.batch_locality)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, not {batch_size}")
    progress = progress or silent()
    hp, edit_method = resolve_hparams(lm, method, overrides, hparams), get_method(method)
    reference = capture_reference(lm, facts)
    pre = [evaluate(lm, [f], reference=reference) for f in facts]
    receipts: list[AppliedDelta] = []
    records: list[FactRecord] = []
    edited = EditedPrompts()  # what the facts edited so far edit on purpose, grown step by step
    try:
        for start in range(0, len(facts), batch_size):
            stage = progress.stage(start / len(facts), min(start + batch_size, len(facts)) / len(facts))
            records += _sequential_step(lm, facts, start, batch_size, edit_method, hp, (reference, pre, edited),
                                        receipts, stage)
        final = without_intended(evaluate(lm, list(facts), reference=reference), intended_locality(facts))
        if while_applied is not None:
            while_applied(lm)
    finally:
        for receipt in reversed(receipts):
            revert_delta(lm.model, receipt)
    # PPL_r scores each edit's continuation under the unedited model: now it is back.
    records = [dataclasses.replace(r, pre=rescore_ppl_r(lm, r.pre, [r.fact]), post=rescore_ppl_r(lm, r.post, [r.fact]))
               for r in records]
    extra = {"retention": _retention(final),
             "sequential": {"batch_size": batch_size, "steps": len(receipts)}}
    return build_report(lm, edit_method.name, as_dict(hp), "sequential", records, extra)


def _sequential_step(lm: LoadedModel, facts: Sequence[Fact], start: int, size: int, edit_method, hp,
                     measures: tuple[Any, Sequence[EvaluationReport], EditedPrompts], receipts: list[AppliedDelta],
                     progress: Progress) -> list[FactRecord]:
    """One step: its facts edited on the model as the earlier steps left it (the delta applied
    and its receipt kept), then measured; a prompt a fact edited so far edits on purpose is left
    out, a later fact's still counts (it has not been edited yet). ``measures``: the pre-edit
    reference, each fact's pre-edit report, the index of the facts edited so far."""
    reference, pre, edited = measures
    step = list(facts[start:start + size])
    progress.report(0, 1, f"editing {start + 1}-{start + len(step)}/{len(facts)}: {step[0].subject}")
    started = time.perf_counter()
    with retrieval_paused(lm.model):  # as compute_edit: no RECIPE prefix under the edit's captures
        delta = edit_method.compute(lm, step, hp, progress)
    seconds = (time.perf_counter() - started) / len(step)
    receipts.append(apply_delta(lm.model, delta))
    edited.add(step)
    intended = {fact.id: found for fact in step if (found := edited.indices(fact))}
    post = without_intended(evaluate(lm, step, reference=reference), intended)
    return [FactRecord(f, without_intended(pre[start + j], intended), _one_fact(post, j), seconds, delta.sha256)
            for j, f in enumerate(step)]


def _retention(final: EvaluationReport) -> dict[str, Any]:
    """Every fact re-measured after all edits."""
    retention = {name: value for name, value in final.summary().items() if name in HEADLINE_METRICS}
    per_fact = [{"fact_id": m.fact_id, **{k: v for k, v in m.summary().items() if k in HEADLINE_METRICS}}
                for m in final.facts]
    return {"protocol": DEFAULT_PROTOCOL, "after_all_edits": retention, "per_fact": per_fact}


def _one_fact(report: EvaluationReport, index: int) -> EvaluationReport:
    return EvaluationReport((report.facts[index],), report.protocols, report.seconds)


def run_batch(lm: LoadedModel, facts: Sequence[Fact], method: str, overrides: Mapping[str, Any] | None = None,
              hparams: Any | None = None, progress: Progress | None = None,
              while_applied: Callable[[LoadedModel], None] | None = None) -> dict[str, Any]:
    """One delta for all facts; ``while_applied(lm)`` runs with it in place (e.g. to save).
    Per-fact ``seconds`` is the batch's time shared equally."""
    hp = resolve_hparams(lm, method, overrides, hparams)
    outcome = compute_edit(lm, facts, method, hparams=hp, progress=progress, preview_tokens=0)
    share = outcome.seconds / len(facts)
    records = [FactRecord(f, _one_fact(outcome.pre, i), _one_fact(outcome.post, i), share, outcome.delta.sha256)
               for i, f in enumerate(outcome.facts)]
    if while_applied is not None:
        with delta_applied(lm.model, outcome.delta):
            while_applied(lm)
    extra = {"batch": {"facts": len(facts), "seconds": round(outcome.seconds, 4),
                       "delta_sha256": outcome.delta.sha256, "params": outcome.delta.params}}
    return build_report(lm, get_method(method).name, as_dict(hp), "batch", records, extra)
