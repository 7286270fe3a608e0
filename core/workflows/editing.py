"""Compute an edit and measure it: the one workflow the CLI, the edit log and the GUI share.

``compute_edit`` measures the facts on the model as it is, computes the method's delta,
measures again with the delta applied (then reverted), and collects before/after
generations for previews. The model is left exactly as it was found.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.edit.deltas import Delta, checkpoint_used, delta_applied
from core.edit.repository import retrieval_paused
from core.facts.fact import Fact
from core.facts.intended import intended_locality
from core.methods import get_method, resolve_hparams
from core.methods.hparams import as_dict
from core.metrics.evaluation import DEFAULT_PROTOCOL, EvaluationReport, Reference, capture_reference, evaluate
from core.metrics.results import FactMetrics, normalise, says_answer
from core.model.generation import SamplingOptions, continuations
from core.model.loading import LoadedModel
from core.util.progress import Progress, ProgressEvent, silent
from core.workflows.batch_locality import BATCH_KIND, without_intended
from core.workflows.verdict import Verdict, edit_verdict

log = logging.getLogger(__name__)

# Metric names reported under "aggregate.pre/post": all in [0, 1], default protocol.
HEADLINE_METRICS = ("reliability", "generality", "locality", "portability")


@dataclass(frozen=True)
class Preview:
    """One prompt's greedy continuation before and after the edit."""

    fact_id: str
    kind: str  # prompt | paraphrase | locality | portability | free
    prompt: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def to_dict(self) -> dict[str, Any]:
        return {"fact_id": self.fact_id, "kind": self.kind, "prompt": self.prompt,
                "before": self.before, "after": self.after, "changed": self.changed}


@dataclass(frozen=True)
class EditOutcome:
    """A computed (not applied) edit with its measurements."""

    facts: tuple[Fact, ...]
    method: str
    hparams: Mapping[str, Any]
    delta: Delta
    pre: EvaluationReport
    post: EvaluationReport
    previews: tuple[Preview, ...]
    seconds: float  # computing the delta only
    environment: Mapping[str, Any] = field(default_factory=dict)
    losses: tuple[float, ...] = ()  # the optimisation's loss per step, as reported live (none: no loss)

    @property
    def verdict(self) -> Verdict:
        """Did the edit take (core.workflows.verdict)? Decided per fact, then for the edit."""
        return report_verdict(self.method, self.pre, self.post, fact_labels(self.facts), self.facts)

    def metrics(self) -> dict[str, Any]:
        return {"protocol": DEFAULT_PROTOCOL, "pre": headline(self.pre), "post": headline(self.post),
                "pre_all": self.pre.summary(), "post_all": self.post.summary(), "verdict": self.verdict.to_dict(),
                "next_tokens": next_tokens(self.facts, self.pre, self.post),  # stored: shown again later
                **({"losses": list(self.losses)} if self.losses else {})}  # stored with the run: redrawn later

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "hparams": dict(self.hparams),
            "fact_ids": [f.id for f in self.facts],
            "delta_sha256": self.delta.sha256,
            "seconds": round(self.seconds, 4),
            "metrics": self.metrics(),
            "pre": self.pre.to_dict(),
            "post": self.post.to_dict(),
            "previews": [p.to_dict() for p in self.previews],
            "environment": dict(self.environment),
        }


def next_tokens(facts: Sequence[Fact], pre: EvaluationReport, post: EvaluationReport, k: int = 5) -> list[dict]:
    """Per fact, before and after: P(new), P(old) and the top ``k`` next tokens at the answer
    position, as plain data a stored run keeps (the app's Next tokens tab)."""
    before, after = ({m.fact_id: m for m in report.facts} for report in (pre, post))

    def probabilities(measured) -> dict | None:
        scores = measured.probability if measured is not None else None
        return None if scores is None else {"p_new": scores.prompt.p_new, "p_old": scores.prompt.p_old}

    def top(measured) -> list:
        return [[t.token, t.probability] for t in list((measured and measured.top_k) or ())[:k]]

    return [{"fact_id": fact.id, "subject": fact.subject, "target_new": fact.target_new,
             "target_true": fact.target_true, "pre": probabilities(before.get(fact.id)),
             "post": probabilities(after.get(fact.id)), "top_pre": top(before.get(fact.id)),
             "top_post": top(after.get(fact.id))} for fact in facts]


def report_verdict(method: str, pre: EvaluationReport, post: EvaluationReport,
                   labels: Mapping[str, str] | None = None, facts: Sequence[Fact] = ()) -> Verdict:
    """The verdict from two reports on the same facts (matched by fact id); with ``facts``, what
    the model said first beside each fact's old answer (``said_before``)."""
    earlier, by_id = {m.fact_id: m for m in pre.facts}, {f.id: f for f in facts}
    inputs = [verdict_inputs(earlier.get(m.fact_id), m, by_id.get(m.fact_id)) for m in post.facts]
    return edit_verdict(method, [m.fact_id for m in post.facts], [before for before, _ in inputs],
                        [after for _, after in inputs], labels=labels)


def verdict_inputs(pre: FactMetrics | None, post: FactMetrics, fact: Fact | None) -> tuple[dict, dict]:
    """(pre, post) of one fact's edit as its verdict reads them: the summaries, with what the model
    said first beside the old answer (``said_before``) and the paraphrases that strayed."""
    before = {} if pre is None else pre_summary(pre, fact.target_true if fact is not None else None)
    return before, post_summary(post, pre, fact)


NAMED_STRAYS = 2  # paraphrases named whose answer the edit turned into a third one


def post_summary(measured: FactMetrics, before: FactMetrics | None, fact: Fact | None) -> dict[str, Any]:
    """A fact's post-edit figures as its verdict reads them, with ``strayed``: paraphrases whose
    greedy answer is now neither the new nor the old answer, and was not so before (trial 47:
    "France's capital is" Paris → Libreville after an edit to Lyon, called only "partial")."""
    summary = measured.summary()
    if fact is None or measured.generation is None:
        return summary
    earlier = {a.prompt: a.generated for a in (before.generation.generality if before and before.generation else ())}
    answers = [a for a in (fact.target_new, fact.target_true) if a]
    strays = [[a.prompt, said] for a in measured.generation.generality
              if (said := named(a.generated)) and earlier.get(a.prompt) != a.generated
              and not any(_is(said, answer) for answer in answers)]
    return summary | ({"strayed": strays[:NAMED_STRAYS]} if strays else {})


def pre_summary(measured: FactMetrics, old_answer: str | None) -> dict[str, Any]:
    """A fact's pre-edit figures as its verdict reads them: its summary, and ``said_before``'s."""
    return measured.summary() | said_before(measured, old_answer)


def said_before(measured: FactMetrics, old_answer: str | None) -> dict[str, str]:
    """{"old_answer", "said_first"}: the fact's old answer and what the unedited model answered on
    its prompt (its greedy answer, else its most likely next token) when that is not the old
    answer (trial 47: Japan's currency edited "Yen → Euro" while the model answered "Dollar",
    said nowhere); else {}."""
    generated = measured.generation.reliability.generated if measured.generation is not None else ""
    top = (measured.top_k or ())[:1]
    said = named(generated or (top[0].token if top else ""))
    if not old_answer or not said or _is(said, old_answer):
        return {}
    return {"old_answer": old_answer.strip(), "said_first": said}


_ARTICLES = ("the ", "a ", "an ")


def named(text: str) -> str:
    """A greedy answer as a name ("Libreville"), a leading article dropped; "" when it does not
    start as one: decoded only as long as the new answer, "the" or "an" may be all there is of
    "the Yen" (review 48), and is no answer to hold against the fact."""
    said = text.strip().rstrip(".,;")
    while said.lower().startswith(_ARTICLES):
        said = said.split(" ", 1)[1].lstrip()
    return said if said[:1].isupper() or said[:1].isdigit() else ""


def _is(said: str, answer: str) -> bool:
    """The answer said, or the start of it (a decode cut short)."""
    return says_answer(said, answer) or normalise(answer).startswith(normalise(said))


def fact_labels(facts: Sequence[Fact]) -> dict[str, str]:
    """Fact id → "Australia → Sydney", how a verdict of several facts names each."""
    return {fact.id: f"{fact.subject} → {fact.target_new}" for fact in facts}


def headline(report: EvaluationReport) -> dict[str, float]:
    summary = report.summary()
    return {name: summary[name] for name in HEADLINE_METRICS if name in summary}


def environment(lm: LoadedModel, hparams: Any, delta: Delta | None = None) -> dict[str, Any]:
    """What a run was computed with; ``editor_checkpoint`` when a trained editor made the delta."""
    from importlib.metadata import version

    libs = {name: version(name) for name in ("torch", "transformers", "safetensors")}
    env = {"libraries": libs, "device": lm.info.device, "dtype": lm.info.dtype,
           "seed": getattr(hparams, "seed", None), "model_fingerprint": lm.info.fingerprint}
    if (used := checkpoint_used(delta)) is not None:
        env["editor_checkpoint"] = used
    return env


def preview_prompts(facts: Sequence[Fact], free_prompts: Sequence[str] = ()) -> list[tuple[str, str, str]]:
    """(fact_id, kind, prompt) for every prompt a reviewer compares before and after; a locality
    prompt another fact of the batch edits is of kind BATCH_KIND (core.workflows.batch_locality)."""
    rows, intended = [], intended_locality(facts)
    for fact in facts:
        rows.append((fact.id, "prompt", fact.prompt))
        rows += [(fact.id, "paraphrase", p) for p in fact.paraphrases]
        ours = intended.get(fact.id, frozenset())
        rows += [(fact.id, BATCH_KIND if i in ours else "locality", q.prompt) for i, q in enumerate(fact.locality)]
        rows += [(fact.id, "portability", q.prompt) for q in fact.portability]
    rows += [("", "free", p) for p in free_prompts]
    return rows


def _generate(lm: LoadedModel, rows: list[tuple[str, str, str]], tokens: int) -> list[str]:
    return continuations(lm, [prompt for _, _, prompt in rows], SamplingOptions(max_new_tokens=tokens))


def compute_edit(
    lm: LoadedModel,
    facts: Sequence[Fact],
    method_name: str,
    overrides: Mapping[str, Any] | None = None,
    hparams: Any | None = None,
    progress: Progress | None = None,
    reference: Reference | None = None,
    free_prompts: Sequence[str] = (),
    preview_tokens: int = 12,
) -> EditOutcome:
    """Measure, edit, measure again; returns the delta unapplied and the model unchanged."""
    progress = progress or silent()
    facts = tuple(facts)
    method = get_method(method_name)
    hp = resolve_hparams(lm, method_name, overrides, hparams)
    reference = reference or capture_reference(lm, facts, progress=progress.stage(0.0, 0.05))
    intended = intended_locality(facts)  # what the batch changes on purpose is no side effect
    pre = without_intended(evaluate(lm, facts, reference=reference, progress=progress.stage(0.05, 0.15)), intended)
    rows = preview_prompts(facts, free_prompts) if preview_tokens else []
    before = _generate(lm, rows, preview_tokens)
    progress.check()
    started, losses = time.perf_counter(), []
    watched = progress.stage(0.15, 0.85).watched(lambda e: _keep_loss(e, losses))
    with retrieval_paused(lm.model):  # a RECIPE prompt would shift the positions edits capture at
        delta = method.compute(lm, facts, hp, watched)
    seconds = time.perf_counter() - started
    post = without_intended(evaluate(lm, facts, edit=delta, reference=reference,
                                     progress=progress.stage(0.85, 0.97)), intended)
    with delta_applied(lm.model, delta):
        after = _generate(lm, rows, preview_tokens)
    previews = tuple(Preview(fid, kind, prompt, b, a) for (fid, kind, prompt), b, a in zip(rows, before, after))
    progress.report(1.0, 1.0, f"{method.name}: edit computed")
    return EditOutcome(facts, method.name, as_dict(hp), delta, pre, post, previews, seconds,
                       environment(lm, hp, delta), tuple(losses))


def _keep_loss(event: ProgressEvent, losses: list[float]) -> None:
    if event.values and event.values.get("loss") is not None:
        losses.append(round(float(event.values["loss"]), 6))
