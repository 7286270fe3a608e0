"""Training data for trained editors (MEND, RECIPE; KE, InstructEdit later) on the demo model.

``python -m core.demo_build.editor_data [--model assets/demo-model]`` writes
``editor_train.jsonl`` into the model folder: one counterfactual edit request per known
fact, made exactly as ``core.demo_build.quality_sets`` makes its requests (its code is
reused): the prompt is one trained phrasing, the paraphrases are the fact's other trained
phrasings, the locality probes are the same relation for other subjects and the subject's
other relations (plus a city of the country for capitals), every probe a phrasing the
model knows; targets alternate between another answer of the same relation and an
entity of another kind.

**The split rule**: only subjects whose SHA-256 of the UTF-8 subject name starts with a
hex digit 0-b are used (``quality_sets.is_test_subject`` is False); subjects c-f are
reserved for evaluation (``quality_test.jsonl``) and never trained on, neither as a request's
subject nor in its locality probes or targets (all drawn from 0-b subjects' facts), and no
probe is a locality prompt of ``quality_dev.jsonl`` or ``quality_test.jsonl``. The subjects of
``quality_dev.jsonl`` and ``dev_edits.jsonl`` are left out too, so ``quality_dev.jsonl``
serves as the validation set (``factsmith train --val``) without being trained on.
Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from core.demo_build.knowledge import KnowledgeFact
from core.demo_build.quality_sets import KnownWorld, _distinct, edit_request, facts_and_known, is_test_subject

TRAIN_FILE = "editor_train.jsonl"


def _editable(fact: KnowledgeFact, world: KnownWorld) -> bool:
    """A fact quality_sets could edit: not its own answer, and has a distinct target of each kind."""
    if fact.object == fact.subject:
        return False
    if fact.relation == "capital":
        return any(c.subject != fact.object for c in world.cities_of(fact.subject))
    return True


def build_editor_data(facts: list[KnowledgeFact], known: list[bool], seed: int,
                      excluded_subjects: frozenset[str] = frozenset(),
                      reserved_prompts: frozenset[str] = frozenset()) -> list[dict]:
    """One request per known, editable fact of a 0-b subject outside ``excluded_subjects``;
    no locality probe is one of ``reserved_prompts`` (the evaluation files' own)."""
    rng = random.Random(seed)
    # the world probes and targets are drawn from holds 0-b subjects only: with every known fact,
    # a fifth of the locality probes (half of quality_test.jsonl's own) were c-f subjects' (review 47)
    world = KnownWorld(tuple(f for f, ok in zip(facts, known, strict=True) if ok and not is_test_subject(f.subject)))
    pool = [f for f in world.facts if f.subject not in excluded_subjects and _editable(f, world)]
    rows: list[dict] = []
    for i, fact in enumerate(pool):
        kind = ("same", "other")[i % 2]
        try:
            rows.append(edit_request(fact, kind, world, rng))
        except (ValueError, IndexError):  # too few other subjects or targets to draw from
            continue
    rows = [r for r in rows if _distinct(r["target_new"], r["target_true"])]
    for row in rows:  # a probe the dev and test files score locality on is never trained on (review 47)
        row["locality"] = [q for q in row["locality"] if q["prompt"] not in reserved_prompts]
    rows = [r for r in rows if r["locality"]]
    assert not any(is_test_subject(r["subject"]) for r in rows)  # the split rule, checked again
    probes = {p for f in world.facts for p in f.trained}
    assert all(q["prompt"] in probes for r in rows for q in r["locality"])
    return rows


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_editor_data(model_dir: Path, seed: int) -> dict[str, int]:
    facts, known = facts_and_known(model_dir)
    excluded = frozenset(r["subject"] for name in ("quality_dev.jsonl", "dev_edits.jsonl")
                         for r in _read_jsonl(model_dir / name))
    reserved = frozenset(q["prompt"] for name in ("quality_dev.jsonl", "quality_test.jsonl")
                         for r in _read_jsonl(model_dir / name) for q in r.get("locality", ()))
    rows = build_editor_data(facts, known, seed, excluded, reserved)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (model_dir / TRAIN_FILE).write_text(text, encoding="utf-8")
    return {"known_facts": sum(known), "requests": len(rows)}


def main(argv: list[str] | None = None) -> None:
    from core.util.paths import demo_model_dir

    parser = argparse.ArgumentParser(prog="python -m core.demo_build.editor_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=demo_model_dir())
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    counts = write_editor_data(args.model, args.seed)
    parser.exit(0, f"wrote {TRAIN_FILE} to {args.model}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "\n")


if __name__ == "__main__":
    main()
