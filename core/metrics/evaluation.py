"""Evaluate edits under the protocols of methods.md §2, each result labelled by protocol.

Protocols (``PROTOCOLS``):
- ``teacher_forced`` (default, EasyEdit): token accuracy of prompt + " " + target;
  locality compares post-edit argmax tokens with the pre-edit ones.
- ``probability`` (ROME/CounterFact): mean per-token NLL of target_new vs target_true.
- ``generation``: exact match of a greedy decode as long as the expected answer.
- ``fluency``: n-gram entropy of the edited model's greedy text, and ICE's PPL_r of its
  continuation after prompt + target, scored by the unedited model.
- ``top_k``: the most likely next tokens after the edit prompt.

Typical use, with the model in its unedited state::

    report = evaluate(lm, facts, edit=delta)        # applies and reverts the delta itself
    aggregate([report])["reliability"]

``lm`` is the reference (pre-edit) model and ``edit`` puts it into the edited state
(a ``Delta``, or a zero-argument context-manager factory for hook-based edits). Without
``edit`` the model is scored as it stands; pass a ``Reference`` captured before an
in-place edit so locality has its pre-edit answers (PPL_r is then None until
``rescore_ppl_r`` scores the stored continuations once the weights are back).
See ``core.metrics.results`` for metric names.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from core.edit.deltas import Delta, delta_applied
from core.facts.fact import Fact
from core.metrics import protocols as proto
from core.metrics.results import (
    DEFAULT_PROTOCOL,
    EvaluationReport,
    FactMetrics,
    aggregate,
    to_jsonable,
)
from core.model.generation import max_positions, top_next_tokens
from core.model.loading import LoadedModel
from core.util.progress import Progress, silent

__all__ = [
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "ContextTooLongError",
    "EvalOptions",
    "EvaluationReport",
    "FactMetrics",
    "Reference",
    "ReferenceFact",
    "aggregate",
    "capture_reference",
    "check_context",
    "context_checker",
    "context_problem",
    "evaluate",
    "rescore_ppl_r",
]

log = logging.getLogger(__name__)

PROTOCOLS = ("teacher_forced", "probability", "generation", "fluency", "top_k")
EditedState = Callable[[], AbstractContextManager[Any]]


@dataclass(frozen=True)
class EvalOptions:
    protocols: tuple[str, ...] = PROTOCOLS
    batch_size: int = 32  # sequences per forward pass
    fluency_tokens: int = 100  # greedy tokens for fluency and PPL_r (ROME's 100; capped by the context)
    top_k: int = 5


@dataclass(frozen=True)
class ReferenceFact:
    """What the unedited model answers on one fact's locality prompts."""

    fact_id: str
    locality_argmax: tuple[tuple[int, ...], ...]  # teacher-forced argmax over each answer
    locality_generations: tuple[str, ...]  # greedy decode as long as each answer


@dataclass(frozen=True)
class Reference:
    """A pre-edit snapshot of the model's locality behaviour, captured before editing."""

    facts: tuple[ReferenceFact, ...]

    @functools.cached_property
    def _by_id(self) -> dict[str, ReferenceFact]:
        return {ref.fact_id: ref for ref in self.facts}

    def get(self, fact: Fact) -> ReferenceFact:
        if fact.id not in self._by_id:
            raise ValueError(f"the reference has no snapshot of fact {fact.short_id}; capture it before editing")
        return self._by_id[fact.id]

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        return cls(tuple(ReferenceFact(r["fact_id"], tuple(tuple(a) for a in r["locality_argmax"]),
                                       tuple(r["locality_generations"])) for r in data["facts"]))


def capture_reference(lm: LoadedModel, facts: Sequence[Fact], batch_size: int = 32,
                      progress: Progress | None = None) -> Reference:
    """Snapshot the model's locality answers; call while it is still unedited."""
    progress = progress or silent()
    check_context(lm, facts)
    pairs = list(dict.fromkeys((q.prompt, q.answer) for f in facts for q in f.locality))
    table = proto.score_table(lm, pairs, batch_size, progress.stage(0.0, 0.5))
    texts = dict(zip(pairs, proto.greedy_answers(lm, pairs, progress.stage(0.5, 1.0)), strict=True))
    return Reference(tuple(
        ReferenceFact(f.id, tuple(table[q.prompt, q.answer].argmax_ids for q in f.locality),
                      tuple(texts[q.prompt, q.answer] for q in f.locality))
        for f in facts
    ))


class ContextTooLongError(ValueError):
    """A prompt with its answer does not fit the model's context; names the fact and field."""


def _probes(fact: Fact) -> list[tuple[str, str, str]]:
    """Every (field with its answer, prompt, answer) a fact is scored with, as the protocols pair them
    (core.metrics.protocols.scored_pairs): the old answer too (trial 39: a prompt that fit with its
    new answer overflowed with a longer old one, deep in the model), and the new answer after each
    locality prompt (the probability protocol's)."""
    asked = [("prompt", fact.prompt), *((f"paraphrases[{i}]", p) for i, p in enumerate(fact.paraphrases))]
    rows = [(f"{field} with its answer", prompt, fact.target_new) for field, prompt in asked]
    if fact.target_true:
        rows += [(f"{field} with its old answer", prompt, fact.target_true) for field, prompt in asked]
    rows += [(f"locality[{i}] with its answer", q.prompt, q.answer) for i, q in enumerate(fact.locality)]
    rows += [(f"locality[{i}] with the new answer", q.prompt, fact.target_new) for i, q in enumerate(fact.locality)]
    return rows + [(f"portability[{i}] with its answer", q.prompt, q.answer) for i, q in enumerate(fact.portability)]


_SPECIAL_MARGIN = 8  # BOS, a separator, sentencepiece's "▁" before the prompt and the answer


def _bytes(text: str) -> int:
    """UTF-8 length after NFKC, which some tokenizers apply first and which can lengthen text."""
    import unicodedata

    return len(unicodedata.normalize("NFKC", text).encode())


def check_context(lm: LoadedModel, facts: Sequence[Fact]) -> None:
    """Refuse, before any scoring, a prompt + answer longer than the model's context (the
    embedding lookup would fail deep inside the model), naming the request and field."""
    limit = max_positions(lm.model.config)
    for number, fact in enumerate(facts, 1):
        if (problem := context_problem(lm.tokenizer, limit, fact)) is not None:
            raise ContextTooLongError(f"request {number} ({fact.subject}): {problem}")


def context_checker(lm: LoadedModel) -> Callable[[Fact], str | None]:
    """``context_problem`` for ``lm`` with a tokenizer of its own, for another thread than the
    one editing (a fast tokenizer refuses two threads at once: "Already borrowed")."""
    import copy

    tokenizer, limit = copy.deepcopy(lm.tokenizer), max_positions(lm.model.config)
    return lambda fact: context_problem(tokenizer, limit, fact)


def context_problem(tokenizer, limit: int | None, fact: Fact) -> str | None:
    """What of ``fact`` does not fit a context of ``limit`` tokens ("prompt with its answer is 7124
    tokens, …"), or None. The fact editor asks it as the reviewer types, with its own tokenizer."""
    from core.model.tokens import encode_pair

    if limit is None:
        return None
    for field_name, prompt, answer in _probes(fact):
        if _bytes(prompt) + _bytes(answer) + _SPECIAL_MARGIN <= limit:
            continue  # no tokenizer makes more tokens than bytes, give or take its special tokens
        length = len(encode_pair(tokenizer, prompt, answer).ids)
        if length > limit:
            return (f"{field_name} is {length} tokens, but the model's context holds {limit}; "
                    "shorten that prompt or leave it out")
    return None


def _edited_state(lm: LoadedModel, edit: Delta | EditedState | None) -> EditedState:
    if edit is None:
        return nullcontext
    if isinstance(edit, Delta):
        return lambda: delta_applied(lm.model, edit)
    return edit


def _check_protocols(names: Sequence[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocol(s) {', '.join(unknown)}; known: {', '.join(PROTOCOLS)}")
    return tuple(names)


def _edited_scores(lm: LoadedModel, facts: Sequence[Fact], ref: Reference, options: EvalOptions,
                   progress: Progress) -> tuple[list[dict[str, Any]], list[str]]:
    """Everything measured on the edited model: per-fact parts, and PPL_r continuations."""
    wanted = set(options.protocols)
    parts: list[dict[str, Any]] = [{} for _ in facts]
    if wanted & {"teacher_forced", "probability"}:
        pairs = proto.scored_pairs(facts, "probability" in wanted)
        table = proto.score_table(lm, pairs, options.batch_size, progress.stage(0.0, 0.4))
        for part, f in zip(parts, facts, strict=True):
            if "teacher_forced" in wanted:
                part["teacher_forced"] = proto.teacher_forced(f, table, ref.get(f).locality_argmax)
            if "probability" in wanted:
                part["probability"] = proto.probability(f, table)
    if "generation" in wanted:
        pairs = proto.generation_pairs(facts)
        answers = dict(zip(pairs, proto.greedy_answers(lm, pairs, progress.stage(0.4, 0.7)), strict=True))
        for part, f in zip(parts, facts, strict=True):
            part["generation"] = proto.generation(f, answers, ref.get(f).locality_generations)
    if "top_k" in wanted:
        for part, f in zip(parts, facts, strict=True):
            progress.check()
            part["top_k"] = tuple(top_next_tokens(lm, f.prompt, options.top_k))
    forced: list[str] = []
    if "fluency" in wanted:
        progress.check()
        texts, forced = proto.edited_texts(lm, facts, options.fluency_tokens)
        for part, text in zip(parts, texts, strict=True):
            part["fluency_text"] = text
    return parts, forced


def rescore_ppl_r(lm: LoadedModel, report: EvaluationReport, facts: Sequence[Fact],
                  batch_size: int = 32) -> EvaluationReport:
    """The report with PPL_r filled in from its stored continuations, scored by ``lm`` as it
    is now: for edits measured in place (sequential runs), called once they are reverted."""
    by_id = {f.id: f for f in facts}
    missing = [m for m in report.facts if m.fluency is not None and m.fluency.ppl_r is None and m.fluency.continuation]
    if not missing:
        return report
    ratios = proto.ppl_ratios(lm, [by_id[m.fact_id] for m in missing], [m.fluency.continuation for m in missing],
                              batch_size, silent())
    new = {m.fact_id: dataclasses.replace(m, fluency=dataclasses.replace(m.fluency, ppl_r=r))
           for m, r in zip(missing, ratios, strict=True)}
    return dataclasses.replace(report, facts=tuple(new.get(m.fact_id, m) for m in report.facts))


def evaluate(
    lm: LoadedModel,
    facts: Sequence[Fact],
    edit: Delta | EditedState | None = None,
    reference: Reference | None = None,
    options: EvalOptions | None = None,
    progress: Progress | None = None,
    protocols: Sequence[str] | None = None,
) -> EvaluationReport:
    """Score ``facts`` on the edited model (see the module doc for the states)."""
    options, progress = options or EvalOptions(), progress or silent()
    protocols = _check_protocols(protocols if protocols is not None else options.protocols)
    options = dataclasses.replace(options, protocols=protocols)
    check_context(lm, facts)
    started = time.perf_counter()
    ref = reference if reference is not None else Reference(())
    if reference is None and {"teacher_forced", "generation"} & set(protocols):
        ref = capture_reference(lm, facts, options.batch_size, progress.stage(0.0, 0.2))
    with _edited_state(lm, edit)():
        parts, forced = _edited_scores(lm, facts, ref, options, progress.stage(0.2, 0.85))
    if "fluency" in protocols:
        ratios: list[float | None] = [None] * len(facts)
        if edit is not None or reference is None:  # PPL_r must be scored by the unedited model
            ratios = proto.ppl_ratios(lm, facts, forced, options.batch_size, progress.stage(0.85, 1.0))
        texts = [part.pop("fluency_text") for part in parts]
        for part, score in zip(parts, proto.fluency_scores(texts, forced, ratios), strict=True):
            part["fluency"] = score
    progress.report(1.0, 1.0, "evaluated")
    metrics = tuple(FactMetrics(f.id, **part) for f, part in zip(facts, parts, strict=True))
    seconds = time.perf_counter() - started
    log.info("evaluated %d fact(s) under %s in %.1fs", len(facts), ", ".join(protocols), seconds)
    return EvaluationReport(metrics, protocols, round(seconds, 3))
