"""Locality in a batch edit leaves out what the batch changes on purpose.

A fact's locality prompt may be another fact's edit prompt in the same batch (trial 36: the
United Kingdom's "The capital of Cabo Verde is" while Cabo Verde's capital was edited too).
Its answer is meant to change, so counting it as locality counted the batch's own success
as a side effect. Such prompts are dropped from that fact's locality (teacher-forced,
probability and generation alike), and shown in the preview as edited by the batch.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from core.facts.fact import Fact
from core.metrics.results import EvaluationReport, FactMetrics

BATCH_KIND = "batch"  # a preview row: a locality prompt another fact of the batch edits


def _key(prompt: str) -> str:
    return " ".join(prompt.split()).casefold()


def intended_locality(facts: Sequence[Fact]) -> dict[str, frozenset[int]]:
    """fact id → the indices of its locality prompts that another fact of the batch edits; facts
    with none are left out. A prompt is edited by a fact when it is that fact's prompt or a
    paraphrase, or when it names that fact's subject and expects its old answer (trial 38: "The
    capital of Cabo Verde is" → Praia, while "The capital city of Cabo Verde is" was edited)."""
    edited_by: dict[str, set[str]] = {}
    by_old_answer: dict[str, list[Fact]] = {}  # indexed: sequential runs ask this after every step
    for fact in facts:
        for prompt in (fact.prompt, *fact.paraphrases):
            edited_by.setdefault(_key(prompt), set()).add(fact.id)
        if fact.target_true:
            by_old_answer.setdefault(_key(fact.target_true), []).append(fact)
    found = {}
    for fact in facts:
        indices = frozenset(i for i, probe in enumerate(fact.locality)
                            if edited_by.get(_key(probe.prompt), set()) - {fact.id}
                            or any(other.id != fact.id and _names(probe.prompt, other.subject)
                                   for other in by_old_answer.get(_key(probe.answer), ())))
        if indices:
            found[fact.id] = indices
    return found


def _names(prompt: str, subject: str) -> bool:
    """``subject`` as whole words in ``prompt`` ("Cabo Verde's" names Cabo Verde, "Nigeria" not Niger)."""
    return re.search(rf"(?<!\w){re.escape(_key(subject))}(?!\w)", _key(prompt)) is not None


def without_intended(report: EvaluationReport, intended: Mapping[str, frozenset[int]]) -> EvaluationReport:
    """``report`` with each fact's intended locality prompts left out of every protocol."""
    if not intended:
        return report
    facts = tuple(_dropped(m, intended.get(m.fact_id, frozenset())) for m in report.facts)
    return dataclasses.replace(report, facts=facts)


def _dropped(metrics: FactMetrics, indices: frozenset[int]) -> FactMetrics:
    if not indices:
        return metrics

    def keep(values):
        return tuple(v for i, v in enumerate(values) if i not in indices)

    changes = {}
    if metrics.teacher_forced is not None:
        changes["teacher_forced"] = dataclasses.replace(metrics.teacher_forced,
                                                        locality=keep(metrics.teacher_forced.locality))
    if metrics.probability is not None:
        changes["probability"] = dataclasses.replace(metrics.probability,
                                                     neighbours=keep(metrics.probability.neighbours))
    if metrics.generation is not None:
        changes["generation"] = dataclasses.replace(metrics.generation, locality=keep(metrics.generation.locality))
    return dataclasses.replace(metrics, **changes)
