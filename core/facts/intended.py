"""Which locality prompts a set of facts edits on purpose (core.workflows.batch_locality uses it to
leave them out of a batch's locality; core.facts.suggest never offers one)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.facts.fact import Fact


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
