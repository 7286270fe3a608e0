"""Dev and test edit sets for measuring edit quality beyond same-kind swaps.

``python -m core.demo_build.quality_sets [--model assets/demo-model] [--per-relation 8]``
writes ``quality_dev.jsonl`` and ``quality_test.jsonl`` into the model folder.

How the sets are made (deterministic for a seed):
- Split by subject: the SHA-256 of the UTF-8 subject name; first hex digit 0-b → dev
  (presets are tuned on it), c-f → test (figures are reported on it). Subjects of the
  older ``dev_edits.jsonl`` (which earlier presets were tuned on) never enter the test set.
- Only facts the model answers right in every trained phrasing are edited; the request's
  prompt is one trained phrasing and its paraphrases are the fact's *other trained*
  phrasings, so the unedited model knows them (generality measures the edit, not gaps).
- Targets, half of each kind per relation: ``same`` (another answer of the same relation)
  and ``other`` (a known entity of another kind: a non-capital city for a capital, from
  the same country when there is one; a country for a continent; a language for a
  currency; a city for a language; a continent for a city's country).
- Locality: the same relation for three other subjects, the subject's other relations, and
  for capitals one of the country's cities other than the target (capital edits are drawn
  from countries with a known city besides the capital, so it is missing only when that
  city is the target); every probe is a phrasing the model knows.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

from core.demo_build.knowledge import KnowledgeFact
from core.facts.split import is_evaluation_subject

# The relation whose objects serve as another-kind target for each relation.
OTHER_KIND_SOURCE = {
    "capital": "city",
    "continent": "country",
    "currency": "language",
    "language": "city",
    "city_country": "continent",
}


def is_test_subject(subject: str) -> bool:
    """The guide's split: SHA-256 of the UTF-8 subject starting with c-f is held out."""
    return is_evaluation_subject(subject)


@dataclass(frozen=True)
class KnownWorld:
    """What the model knows, indexed for drawing targets and locality probes."""

    facts: tuple[KnowledgeFact, ...]  # known facts only

    def of_relation(self, relation: str) -> list[KnowledgeFact]:
        return [f for f in self.facts if f.relation == relation]

    def of_subject(self, subject: str) -> list[KnowledgeFact]:
        return [f for f in self.facts if f.subject == subject]

    def entities(self, kind: str) -> list[str]:
        """Known entities of a kind: cities are city subjects that are no capital."""
        capitals = {f.object for f in self.of_relation("capital")}
        if kind == "city":
            return sorted({f.subject for f in self.of_relation("city_country")} - capitals)
        if kind == "country":
            return sorted({f.subject for f in self.of_relation("capital")})
        return sorted({f.object for f in self.of_relation(kind)})

    def cities_of(self, country: str) -> list[KnowledgeFact]:
        return [f for f in self.of_relation("city_country") if f.object == country]


def _probe(fact: KnowledgeFact, rng: random.Random) -> dict:
    return {"prompt": rng.choice(fact.trained), "answer": fact.object}


def _locality(fact: KnowledgeFact, world: KnownWorld, target: str, rng: random.Random) -> list[dict]:
    others = [f for f in world.of_relation(fact.relation) if f.subject != fact.subject and f.object != target]
    picks = rng.sample(others, 3)
    picks += [f for f in world.of_subject(fact.subject) if f.relation != fact.relation]
    if fact.relation == "capital":
        cities = [c for c in world.cities_of(fact.subject) if c.subject not in (target, fact.object)]
        picks += rng.sample(cities, 1) if cities else []
    return [_probe(f, rng) for f in picks]


def _distinct(answer: str, old: str) -> bool:
    """A target whose first word is the old answer's would be half-right before any edit."""
    return answer.split()[0] != old.split()[0]


def _target(fact: KnowledgeFact, kind: str, world: KnownWorld, rng: random.Random) -> str:
    if kind == "same":
        pool = sorted({f.object for f in world.of_relation(fact.relation)})
    else:
        pool = world.entities(OTHER_KIND_SOURCE[fact.relation])
        if fact.relation == "capital":
            own = sorted(c.subject for c in world.cities_of(fact.subject))
            pool = own if any(_distinct(c, fact.object) for c in own) else pool
    return rng.choice([e for e in pool if e != fact.subject and _distinct(e, fact.object)])


def edit_request(fact: KnowledgeFact, kind: str, world: KnownWorld, rng: random.Random) -> dict:
    target = _target(fact, kind, world, rng)
    trained = list(fact.trained)
    prompt = rng.choice(trained)
    return {
        "subject": fact.subject,
        "relation": fact.relation,
        "prompt": prompt,
        "target_new": target,
        "target_true": fact.object,
        "target_kind": kind,
        "paraphrases": [p for p in trained if p != prompt],
        "locality": _locality(fact, world, target, rng),
    }


def _draw(pool: list[KnowledgeFact], count: int, world: KnownWorld, rng: random.Random) -> list[dict]:
    chosen = rng.sample(pool, count)
    kinds = ["same", "other"] * (count // 2) + ["same"] * (count % 2)
    return [edit_request(f, k, world, rng) for f, k in zip(chosen, kinds, strict=True)]


def build_quality_sets(facts: list[KnowledgeFact], known: list[bool], per_relation: int, seed: int,
                       excluded_subjects: frozenset[str] = frozenset()) -> tuple[list[dict], list[dict]]:
    """(dev, test): per_relation requests of each relation in each, split by subject hash."""
    rng = random.Random(seed)
    world = KnownWorld(tuple(f for f, ok in zip(facts, known, strict=True) if ok))
    dev: list[dict] = []
    test: list[dict] = []
    for relation in sorted(OTHER_KIND_SOURCE):
        # A subject that is its own answer (Luxembourg's capital) tells nothing about the edit.
        pool = [f for f in world.of_relation(relation) if f.object != f.subject]
        if relation == "capital":  # a city of the country is a locality probe (and a target)
            pool = [f for f in pool if any(c.subject != f.object for c in world.cities_of(f.subject))]
        dev_pool = [f for f in pool if not is_test_subject(f.subject)]
        test_pool = [f for f in pool if is_test_subject(f.subject) and f.subject not in excluded_subjects]
        dev += _draw(dev_pool, per_relation, world, rng)
        test += _draw(test_pool, per_relation, world, rng)
    return dev, test


def known_flags(model, tokenizer, facts: list[KnowledgeFact]) -> list[bool]:
    """A fact is known when greedy decoding gives its object after every trained phrasing."""
    from core.demo_build.accuracy import greedy_matches

    pairs = [(p, f.object) for f in facts for p in f.trained]
    ok = iter(greedy_matches(model, tokenizer, pairs))
    return [all([next(ok) for _ in f.trained]) for f in facts]


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def facts_and_known(model_dir: Path) -> tuple[list[KnowledgeFact], list[bool]]:
    """The demo model's knowledge base, and which facts the model itself answers right."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    facts = [KnowledgeFact.from_record(r) for r in _read_jsonl(model_dir / "facts.jsonl")]
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with torch.no_grad():
        return facts, known_flags(model, tokenizer, facts)


def write_quality_sets(model_dir: Path, per_relation: int, seed: int) -> dict[str, int]:
    facts, known = facts_and_known(model_dir)
    tuned_on = frozenset(r["subject"] for r in _read_jsonl(model_dir / "dev_edits.jsonl"))
    dev, test = build_quality_sets(facts, known, per_relation, seed, tuned_on)
    for name, rows in (("quality_dev.jsonl", dev), ("quality_test.jsonl", test)):
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (model_dir / name).write_text(text, encoding="utf-8")
    return {"known_facts": sum(known), "dev": len(dev), "test": len(test)}


def main(argv: list[str] | None = None) -> None:
    from core.util.paths import demo_model_dir

    parser = argparse.ArgumentParser(prog="python -m core.demo_build.quality_sets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=demo_model_dir())
    parser.add_argument("--per-relation", type=int, default=8)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    counts = write_quality_sets(args.model, args.per_relation, args.seed)
    logging_line = ", ".join(f"{k} {v}" for k, v in counts.items())
    parser.exit(0, f"wrote quality sets to {args.model}: {logging_line}\n")


if __name__ == "__main__":
    main()
