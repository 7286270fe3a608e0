"""Which locality prompts a set of facts edits on purpose (core.workflows.batch_locality leaves
them out of a batch's locality; core.facts.suggest never offers one).

A prompt is edited on purpose by a fact when it is that fact's prompt or a paraphrase, or when
it asks the same question another way: it names the fact's subject (whole words), expects the
fact's old answer, and its key words (the subject and little words like "the", "of", "is" set
aside) are, to at least ``SAME_QUESTION``, those of the fact's prompt or a paraphrase, counted
over the shorter of the two (trial 38: "The capital of Cabo Verde is" → Praia, while "The capital
city of Cabo Verde is" was edited; trial 39: "British Indian Ocean Territory's capital is").
"The largest city in Germany is" → Berlin stays a locality prompt of an edit of Germany's
capital from Berlin: another question, whose change would be a side effect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from core.facts.fact import Fact, Probe

SAME_QUESTION = 0.75  # key words two phrasings of one question share, over the shorter one's
# words that say nothing of which question is asked
_LITTLE = frozenset({"a", "an", "the", "of", "in", "on", "at", "to", "is", "are", "was", "were", "be", "s", "it",
                     "its", "by", "as", "that", "which", "what", "who"})


def _key(prompt: str) -> str:
    return " ".join(prompt.split()).casefold()


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\w+", _key(text)))


def _key_words(words: Iterable[str]) -> frozenset[str]:
    return frozenset(words) - _LITTLE


def _template(words: tuple[str, ...], subject: tuple[str, ...]) -> frozenset[str]:
    """The key words of a prompt, its subject's first occurrence set aside."""
    n = len(subject)
    for i in range(len(words) - n + 1):
        if words[i:i + n] == subject:
            return _key_words((*words[:i], *words[i + n:]))
    return _key_words(words)


def _same_question(a: frozenset[str], b: frozenset[str]) -> bool:
    """Key words shared over the shorter set's: "capital" asks what "capital city" asks."""
    return bool(a and b) and len(a & b) / min(len(a), len(b)) >= SAME_QUESTION


class EditedPrompts:
    """An index of what some facts edit on purpose; facts can be added as they are edited."""

    def __init__(self, facts: Iterable[Fact] = ()) -> None:
        self._prompts: dict[str, set[str]] = {}  # prompt → ids of the facts that edit it
        # (old answer, subject words) → (fact id, templates of its prompt and paraphrases)
        self._near: dict[tuple[str, tuple[str, ...]], list[tuple[str, list[frozenset[str]]]]] = {}
        self._longest = 0  # words in the longest subject indexed
        self.add(facts)

    def add(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            prompts = (fact.prompt, *fact.paraphrases)
            for prompt in prompts:
                self._prompts.setdefault(_key(prompt), set()).add(fact.id)
            subject = _words(fact.subject)
            if fact.target_true and subject:
                templates = [_template(_words(p), subject) for p in prompts]
                self._near.setdefault((_key(fact.target_true), subject), []).append((fact.id, templates))
                self._longest = max(self._longest, len(subject))

    def editors(self, probe: Probe) -> set[str]:
        """The ids of the indexed facts that edit ``probe`` on purpose."""
        found = set(self._prompts.get(_key(probe.prompt), ()))
        words, answer = _words(probe.prompt), _key(probe.answer)
        for n in range(1, self._longest + 1):
            for i in range(len(words) - n + 1):
                for fact_id, templates in self._near.get((answer, words[i:i + n]), ()):
                    asked = _key_words((*words[:i], *words[i + n:]))
                    if any(_same_question(asked, t) for t in templates):
                        found.add(fact_id)
        return found

    def indices(self, fact: Fact) -> frozenset[int]:
        """The indices of ``fact``'s locality prompts that another indexed fact edits on purpose."""
        return frozenset(i for i, probe in enumerate(fact.locality) if self.editors(probe) - {fact.id})


def intended_locality(facts: Sequence[Fact], by: Iterable[Fact] | None = None) -> dict[str, frozenset[int]]:
    """fact id → the indices of its locality prompts that another fact of ``by`` (default: of
    ``facts``) edits on purpose; facts with none are left out."""
    index = EditedPrompts(facts if by is None else by)
    found = {fact.id: index.indices(fact) for fact in facts}
    return {fact_id: indices for fact_id, indices in found.items() if indices}
