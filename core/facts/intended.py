"""Which locality prompts a set of facts edits on purpose (core.workflows.batch_locality leaves
them out of a batch's locality; core.facts.suggest never offers one).

A prompt is edited on purpose by a fact when it is that fact's prompt or a paraphrase, or when
it asks the same question another way: it names the fact's subject (whole words, not inside a
longer name: "Samoa" is not "American Samoa"), expects the fact's old answer, and its key words
(the subject and little words like "the", "of", "city" set aside) share one with the fact's
prompt or a paraphrase and differ by at most one on each side, never by another name (trial 38:
"The capital of Cabo Verde is" → Praia, while "The capital city of Cabo Verde is" was edited;
trial 39: "British Indian Ocean Territory's capital is"). So "The largest city in Germany is" →
Berlin, "The currency of Germany's neighbour Austria is the" → Euro and "The capital of Serbia
and Montenegro is" → Belgrade stay locality prompts of edits of Germany's capital, Germany's
currency and Serbia's capital: their change would be a side effect. Phrasings with no key word
in common ("X pays with the" beside "The currency of X is the") are not matched: such a
prompt still counts as locality.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from core.facts.fact import Fact, Probe

MAX_OTHER_WORDS = 1  # key words one phrasing of a question may have that the other lacks
# words that say nothing of which question is asked ("city" and "official" qualify one)
_LITTLE = frozenset({"a", "an", "the", "of", "in", "on", "at", "to", "is", "are", "was", "were", "be", "s", "it",
                     "its", "by", "as", "and", "with", "that", "which", "what", "who", "city", "official"})


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


def _named(original: Sequence[str], index: int) -> bool:
    """The word at ``index`` is capitalised and no little word ("The", "In"): part of a name."""
    return 0 <= index < len(original) and original[index][:1].isupper() and original[index].casefold() not in _LITTLE


class EditedPrompts:
    """An index of what some facts edit on purpose; facts can be added as they are edited."""

    def __init__(self, facts: Iterable[Fact] = ()) -> None:
        self._prompts: dict[str, set[str]] = {}  # prompt → ids of the facts that edit it
        # (old answer, subject words) → (fact id, key words of its prompt and paraphrases)
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
        original = re.findall(r"\w+", probe.prompt)
        words, answer = tuple(w.casefold() for w in original), _key(probe.answer)
        for n in range(1, self._longest + 1):
            for i in range(len(words) - n + 1):
                facts = self._near.get((answer, words[i:i + n]), ())
                if facts and not (_named(original, i - 1) or _named(original, i + n)):  # not inside a longer name
                    found |= {fact_id for fact_id, templates in facts
                              if any(_same_question(original, i, n, t) for t in templates)}
        return found

    def indices(self, fact: Fact) -> frozenset[int]:
        """The indices of ``fact``'s locality prompts that another indexed fact edits on purpose."""
        return frozenset(i for i, probe in enumerate(fact.locality) if self.editors(probe) - {fact.id})


def _same_question(original: Sequence[str], start: int, length: int, template: frozenset[str]) -> bool:
    """The probe's words, the subject at ``start`` set aside, ask what ``template`` asks: a key word
    in common, at most MAX_OTHER_WORDS more on either side, none of the probe's a name."""
    rest = [*original[:start], *original[start + length:]]
    asked = _key_words(w.casefold() for w in rest)
    other = asked - template
    names = {w.casefold() for w in rest if w[:1].isupper()}  # a capitalised first word is little, or a name
    return bool(asked & template) and len(other) <= MAX_OTHER_WORDS and len(template - asked) <= MAX_OTHER_WORDS \
        and not other & names


def intended_locality(facts: Sequence[Fact], by: Iterable[Fact] | None = None) -> dict[str, frozenset[int]]:
    """fact id → the indices of its locality prompts that another fact of ``by`` (default: of
    ``facts``) edits on purpose; facts with none are left out."""
    index = EditedPrompts(facts if by is None else by)
    found = {fact.id: index.indices(fact) for fact in facts}
    return {fact_id: indices for fact_id, indices in found.items() if indices}
