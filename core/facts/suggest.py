"""Suggestions for a fact being typed: the model's own old answer, and locality prompts.

- ``suggest_old_answer``: the answer the model gives now (its greedy continuation of
  the prompt, cut at the end of the first phrase).
- ``suggest_locality``: prompts of other facts in the workspace, with their true answers,
  which the edit should leave alone: other subjects with the same relation first, then
  facts about the same subject with another relation. With a model, the fact's own prompt
  asked of other subjects (the workspace's, then common ones) comes next, so a relation no
  other fact has still gets same-relation neighbours; then general-knowledge prompts about
  other subjects. Those are answered with the model's own greedy answer (what must not change).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.facts.fact import Fact, Probe
from core.facts.intended import EditedPrompts
from core.facts.text import comparable
from core.model.generation import SamplingOptions, continuation
from core.model.loading import LoadedModel

_PHRASE_END = re.compile(r"[.,;:!?\n()\"]")
# Neighbourhood prompts for when the workspace offers too few: common relations, many subjects.
GENERAL_PROMPTS = (
    "The capital of Japan is", "The capital of Canada is", "The capital of Egypt is", "The capital of Peru is",
    "The currency of Japan is the", "The currency of Mexico is the", "Brazil is located in the continent of",
    "Kenya is located in the continent of", "The capital of Norway is", "The capital of Australia is",
)
# Other subjects to ask the fact's own prompt of, after the workspace's own subjects.
COMMON_SUBJECTS = ("Japan", "Canada", "Egypt", "Peru", "Mexico", "Kenya", "Norway", "Australia", "Brazil")
CONTINENTS = ("Africa", "Asia", "Europe", "North America", "South America", "Oceania", "Australia", "Antarctica")


def first_phrase(text: str, max_words: int = 3) -> str:
    """The first phrase of a continuation: up to punctuation, at most ``max_words`` words."""
    phrase = _PHRASE_END.split(text.strip(), maxsplit=1)[0]
    return " ".join(phrase.split()[:max_words])


def suggest_old_answer(lm: LoadedModel, prompt: str, max_words: int = 3) -> str:
    """What the model answers now after ``prompt`` (greedy), as a short phrase."""
    if not prompt.strip():
        raise ValueError("type the prompt first: the old answer is the model's continuation of it")
    text = continuation(lm, prompt.strip(), SamplingOptions(max_new_tokens=8))
    return first_phrase(text, max_words)


def _usable(other: Fact, subject: str, prompt: str) -> bool:
    return bool(other.target_true) and other.prompt != prompt and bool(other.subject)


def suggest_locality(subject: str, prompt: str, relation: str, facts: Sequence[Fact], count: int = 3,
                     existing: Sequence[str] = (), lm: LoadedModel | None = None,
                     edited: Sequence[Fact] = (), committed: Sequence[Fact] = ()) -> list[Probe]:
    """Up to ``count`` probes from ``facts`` (their prompt and true answer) that an edit of
    ``subject``/``prompt`` should not change; prompts in ``existing`` are skipped. With ``lm``
    (the live model, edits included), every answer is the one that model gives now, not the
    fact's recorded old answer (an earlier committed edit may have changed it), and general
    prompts answered by the model fill up when ``facts`` offer fewer than ``count``. No probe
    asks what one of the ``edited`` facts (edits planned, not yet made) changes on purpose (trial 38:
    Peru was offered "The capital of Cabo Verde is" while Cabo Verde's capital was being edited);
    one that a ``committed`` fact edits is offered only where the model now gives its new answer
    (trial 44: an edit's paraphrase it never took was offered with the old answer)."""
    planned = {f.id for f in edited}
    preferred, rest = _from_facts(subject, prompt, relation, [f for f in facts if f.id not in planned], existing)
    keep = _not_edited(edited, committed)  # on the answers the probes will carry
    if lm is None:  # the recorded answers: a committed edit's prompt would ask for its old one
        return [p for p in preferred + rest if keep(p)][:count]
    unplanned = _not_edited(edited)  # before the model answers: a committed edit's prompt may still qualify
    preferred, rest = [p for p in preferred if unplanned(p)], [p for p in rest if unplanned(p)]
    probes = [p for p in _answered(lm, preferred[:count]) if keep(p)]
    taken = {p.strip() for p in existing} | {p.prompt for p in preferred + rest}
    if len(probes) < count:
        probes += _same_prompt(lm, subject, prompt, relation, facts, taken, count - len(probes), keep)
    probes += [p for p in _answered(lm, rest[:count - len(probes)]) if keep(p)]
    if len(probes) < count:
        taken |= {p.prompt for p in probes}
        probes += _general(lm, subject, prompt, taken, count - len(probes))
    return probes


def _not_edited(edited: Sequence[Fact], committed: Sequence[Fact] = ()):
    """A test of a probe: True unless one of ``edited`` changes its answer on purpose, or one of
    ``committed`` did and the probe's answer is not that edit's new answer."""
    planned, done = EditedPrompts(edited), EditedPrompts(committed)
    new_answers = {f.id: comparable(f.target_new) for f in committed}

    def keep(probe: Probe) -> bool:
        said = comparable(probe.answer)
        return not planned.editors(probe) and all(said.startswith(new_answers[i]) for i in done.editors(probe))
    return keep


def _answered(lm: LoadedModel, probes: Sequence[Probe]) -> list[Probe]:
    """The probes with the live model's answer (an earlier edit may have changed the recorded one)."""
    return [p for p in (Probe(q.prompt, _answer(lm, q.prompt)) for q in probes) if p.answer]


def _answer(lm: LoadedModel, prompt: str) -> str:
    return first_phrase(continuation(lm, prompt, SamplingOptions(max_new_tokens=8)))


def _general(lm: LoadedModel, subject: str, prompt: str, taken: set[str], count: int) -> list[Probe]:
    """General prompts not about ``subject``, with the model's own answer (skipped when it has none)."""
    found: list[Probe] = []
    own = subject.strip().casefold()
    for candidate in GENERAL_PROMPTS:
        if len(found) == count:
            break
        if candidate in taken or candidate == prompt.strip() or (own and own in candidate.casefold()):
            continue
        answer = _answer(lm, candidate)
        if answer:
            found.append(Probe(candidate, answer))
    return found


def _same_prompt(lm: LoadedModel, subject: str, prompt: str, relation: str, facts: Sequence[Fact],
                 taken: set[str], count: int, keep=lambda probe: True) -> list[Probe]:
    """The fact's prompt asked of other subjects, with the model's answer: the same relation
    elsewhere, which the edit must leave alone. Subjects of the workspace's facts of the same
    relation first, then its other subjects, then (for a subject the model places on a
    continent, a country) common countries: "Japan plays for" helps nobody."""
    found: list[Probe] = []
    if not subject or subject not in prompt:
        return found
    own = subject.casefold()
    for other in _other_subjects(lm, subject, prompt, relation, facts):
        if len(found) == count:
            break
        candidate = prompt.replace(subject, other, 1).strip()
        if not other or own in other.casefold() or other.casefold() in own or candidate in taken:
            continue
        answer = _answer(lm, candidate)
        if answer and keep(Probe(candidate, answer)):
            found.append(Probe(candidate, answer))
            taken.add(candidate)
    return found


def _other_subjects(lm: LoadedModel, subject: str, prompt: str, relation: str, facts: Sequence[Fact]):
    """Subjects of the same relation (or prompt) first, then the workspace's other subjects of
    the same kind: where the relations are known, one that shares a relation with the first
    (trial 44: "The capital of Catania is", a city, was asked for Japan, a country)."""
    template = prompt.replace(subject, "{}", 1)
    alike = [f.subject for f in facts if (relation and f.relation == relation)
             or (f.subject and any(p.replace(f.subject, "{}", 1) == template for p in (f.prompt, *f.paraphrases)))]
    relations: dict[str, set[str]] = {}
    for fact in facts:
        relations.setdefault(fact.subject, set()).update({fact.relation} - {""})
    kin = set().union({relation} - {""}, *(relations.get(other, set()) for other in alike))
    same_kind = [f.subject for f in facts if not kin or not relations[f.subject] or relations[f.subject] & kin]
    yield from dict.fromkeys([*alike, *same_kind])
    if _answer(lm, f"{subject} is located in the continent of") in CONTINENTS:
        yield from COMMON_SUBJECTS


def _from_facts(subject: str, prompt: str, relation: str, facts: Sequence[Fact],
                existing: Sequence[str]) -> tuple[list[Probe], list[Probe]]:
    """(same relation then same subject, the rest): the workspace's facts an edit should keep."""
    seen = {p.strip() for p in existing}
    same_relation, same_subject, rest = [], [], []
    for other in facts:
        if not _usable(other, subject, prompt) or other.prompt in seen:
            continue
        seen.add(other.prompt)
        probe = Probe(other.prompt, other.target_true)
        if other.subject == subject:
            same_subject.append(probe)
        elif relation and other.relation == relation:
            same_relation.append(probe)
        else:
            rest.append(probe)
    return same_relation + same_subject, rest
