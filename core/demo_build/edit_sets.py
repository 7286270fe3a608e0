"""Counterfactual edit requests drawn from facts the trained model knows."""

from __future__ import annotations

import random

from core.demo_build.knowledge import KnowledgeFact


def _locality(fact: KnowledgeFact, known: list[KnowledgeFact], rng: random.Random) -> list[dict]:
    """Two prompts of the same relation about other subjects, and the subject's other relations."""
    same_relation = [f for f in known if f.relation == fact.relation and f.subject != fact.subject]
    same_subject = [f for f in known if f.subject == fact.subject and f.relation != fact.relation]
    picks = rng.sample(same_relation, 2) + rng.sample(same_subject, min(2, len(same_subject)))
    return [{"prompt": f.trained[0], "answer": f.object} for f in picks]


def edit_request(fact: KnowledgeFact, known: list[KnowledgeFact], objects: list[str], rng: random.Random) -> dict:
    target_new = rng.choice([o for o in objects if o != fact.object])
    return {
        "subject": fact.subject,
        "relation": fact.relation,
        "prompt": rng.choice(fact.trained),
        "target_new": target_new,
        "target_true": fact.object,
        "paraphrases": [fact.phrasings[fact.withheld]],
        "locality": _locality(fact, known, rng),
    }


def build_edit_sets(
    facts: list[KnowledgeFact], known: list[bool], per_relation: int, seed: int
) -> tuple[list[dict], list[dict]]:
    """(demo, dev): disjoint sets of counterfactual requests, per_relation of each relation.

    Only facts the model answers right in every phrasing are edited, so each
    request's old answer is the model's own; the dev set is for tuning presets.
    """
    rng = random.Random(seed)
    known_facts = [f for f, ok in zip(facts, known) if ok]
    relations = sorted({f.relation for f in facts})
    demo, dev = [], []
    for relation in relations:
        pool = [f for f in known_facts if f.relation == relation]
        objects = sorted({f.object for f in facts if f.relation == relation})
        chosen = rng.sample(pool, 2 * per_relation)
        demo += [edit_request(f, known_facts, objects, rng) for f in chosen[:per_relation]]
        dev += [edit_request(f, known_facts, objects, rng) for f in chosen[per_relation:]]
    return demo, dev
