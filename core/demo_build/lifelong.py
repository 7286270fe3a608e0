"""More counterfactual requests for lifelong (sequential) editing of the demo model.

The bundled demo set holds 60 requests; hundreds of sequential edits need more. They
are drawn from ``facts.jsonl`` the way the demo set was (``edit_sets.edit_request``),
skipping facts that are already edited, or asked about as another request's locality
prompt, and choosing locality prompts only among facts nobody edits: a locality
failure then always means an edit leaked, never that the prompt was itself edited.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from core.demo_build.edit_sets import edit_request
from core.demo_build.knowledge import KnowledgeFact


def read_knowledge(path: Path) -> list[KnowledgeFact]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [KnowledgeFact.from_record(json.loads(line)) for line in lines if line.strip()]


def _pair(fact_or_request) -> tuple[str, str]:
    if isinstance(fact_or_request, KnowledgeFact):
        return fact_or_request.subject, fact_or_request.relation
    return fact_or_request["subject"], fact_or_request["relation"]


def lifelong_requests(facts: Sequence[KnowledgeFact], n: int, seed: int,
                      existing: Sequence[dict] = (), reserved: Sequence[dict] = (),
                      locality_pool: Sequence[KnowledgeFact] | None = None, up_to: bool = False) -> list[dict]:
    """``n`` new requests, round-robin over relations, disjoint from ``existing`` (requests
    edited alongside them) and ``reserved`` (e.g. a tuning split that must stay unseen).
    Requests are drawn from ``facts``; locality prompts and new targets from
    ``locality_pool`` (default: ``facts``), e.g. all the knowledge when ``facts`` are only
    the evaluation subjects'. ``up_to``: as many as are free when fewer than ``n`` are."""
    others = facts if locality_pool is None else locality_pool
    rng = random.Random(seed)
    taken = {_pair(r) for r in (*existing, *reserved)}
    asked = {q["prompt"] for r in existing for q in r.get("locality", ())}
    free = [f for f in facts if _pair(f) not in taken and not asked & set(f.phrasings)]
    by_relation = {rel: rng.sample(fs, len(fs))
                   for rel in sorted({f.relation for f in free}) for fs in [[f for f in free if f.relation == rel]]}
    chosen: list[KnowledgeFact] = []
    while len(chosen) < n and any(by_relation.values()):
        for pool in by_relation.values():
            if pool and len(chosen) < n:
                chosen.append(pool.pop())
    if len(chosen) < n and not up_to:
        raise ValueError(f"only {len(chosen)} facts are free for new requests, {n} asked")
    edited = taken | {_pair(f) for f in chosen}
    unedited = [f for f in others if _pair(f) not in edited]
    objects = {rel: sorted({f.object for f in others if f.relation == rel}) for rel in by_relation}
    return [edit_request(f, unedited, objects[f.relation], rng) for f in chosen]


RESERVED_SETS = ("demo_edits.jsonl", "dev_edits.jsonl", "quality_dev.jsonl", "quality_test.jsonl")


def evaluation_requests(folder: Path, n: int, seed: int) -> list[dict]:
    """``n`` requests about evaluation subjects only (SHA-256 of the subject starting with c-f,
    as the test quality set; presets are tuned on 0-b), disjoint from the demo model's edit
    and quality sets; locality prompts and new targets from all its knowledge."""
    from core.demo_build.quality_sets import is_test_subject

    reserved = _reserved(folder, RESERVED_SETS)
    knowledge = read_knowledge(Path(folder) / "facts.jsonl")
    evaluation = [f for f in knowledge if is_test_subject(f.subject)]
    return lifelong_requests(evaluation, n, seed, reserved=reserved, locality_pool=knowledge)


def _reserved(folder: Path, names: Sequence[str]) -> list[dict]:
    return [json.loads(line) for name in names if (Path(folder) / name).is_file()
            for line in (Path(folder) / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def tuning_requests(folder: Path, n: int, seed: int) -> list[dict]:
    """Up to ``n`` requests about tuning subjects (0-b) outside every demo set and outside the
    trained editors' training requests, their locality prompts and new targets also from tuning
    subjects' facts (the training requests' facts among them: unedited when a dev edit is
    measured): a larger dev set for choosing a trained editor's preset that asks nothing of the
    evaluation subjects (c-f)."""
    from core.demo_build.quality_sets import is_test_subject

    knowledge = read_knowledge(Path(folder) / "facts.jsonl")
    tuning = [f for f in knowledge if not is_test_subject(f.subject)]
    trained = {_pair(r) for r in _reserved(folder, ("editor_train.jsonl",))}
    untrained = [f for f in tuning if _pair(f) not in trained]
    return lifelong_requests(untrained, n, seed, reserved=_reserved(folder, RESERVED_SETS), locality_pool=tuning,
                             up_to=True)


def all_subject_requests(folder: Path, n: int, seed: int) -> list[dict]:
    """``n`` requests, every free one about an evaluation subject (c-f) first drawn, the rest
    about tuning subjects (0-b), shuffled together; disjoint as ``lifelong_requests`` makes
    them. The demo model holds 564 free evaluation facts: a longer lifelong run needs both.
    Not for trained methods, whose training data are the 0-b subjects."""
    from core.demo_build.quality_sets import is_test_subject

    reserved = _reserved(folder, RESERVED_SETS)
    knowledge = read_knowledge(Path(folder) / "facts.jsonl")
    evaluation = lifelong_requests([f for f in knowledge if is_test_subject(f.subject)], n, seed,
                                   reserved=reserved, locality_pool=knowledge, up_to=True)
    tuning = lifelong_requests([f for f in knowledge if not is_test_subject(f.subject)], n - len(evaluation),
                               seed, existing=evaluation, reserved=reserved, locality_pool=knowledge)
    both = evaluation + tuning
    random.Random(seed).shuffle(both)
    return both
