"""The quality dev/test sets: split by subject hash, both target kinds, known paraphrases."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from core.demo_build.knowledge import KnowledgeFact
from core.demo_build.quality_sets import OTHER_KIND_SOURCE, build_quality_sets, is_test_subject
from core.util.paths import demo_model_dir


def _rows(name: str) -> list[dict]:
    text = (demo_model_dir() / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def knowledge() -> list[KnowledgeFact]:
    return [KnowledgeFact.from_record(r) for r in _rows("facts.jsonl")]


@pytest.mark.parametrize("name, held_out", [("quality_dev.jsonl", False), ("quality_test.jsonl", True)])
def test_shipped_sets_follow_the_subject_hash_split(name, held_out):
    rows = _rows(name)
    assert len(rows) == 40
    assert all(is_test_subject(r["subject"]) is held_out for r in rows)
    assert Counter(r["relation"] for r in rows) == {rel: 8 for rel in OTHER_KIND_SOURCE}
    assert Counter(r["target_kind"] for r in rows) == {"same": 20, "other": 20}


def test_test_set_never_holds_a_subject_presets_were_tuned_on():
    tuned = {r["subject"] for r in _rows("dev_edits.jsonl")} | {r["subject"] for r in _rows("quality_dev.jsonl")}
    assert not tuned & {r["subject"] for r in _rows("quality_test.jsonl")}


def test_paraphrases_are_the_facts_other_trained_phrasings(knowledge):
    by_key = {(f.subject, f.relation): f for f in knowledge}
    for row in _rows("quality_test.jsonl") + _rows("quality_dev.jsonl"):
        fact = by_key[row["subject"], row["relation"]]
        assert row["target_true"] == fact.object
        assert sorted([row["prompt"], *row["paraphrases"]]) == sorted(fact.trained)
        assert row["target_new"] != fact.object


def test_other_kind_targets_come_from_another_relation(knowledge):
    capitals = {f.object for f in knowledge if f.relation == "capital"}
    cities = {f.subject for f in knowledge if f.relation == "city_country"}
    for row in _rows("quality_test.jsonl"):
        if row["relation"] == "capital" and row["target_kind"] == "other":
            assert row["target_new"] in cities - capitals, row
        if row["relation"] == "capital" and row["target_kind"] == "same":
            assert row["target_new"] in capitals, row


def test_locality_probes_are_known_facts_including_a_city_for_capitals(knowledge):
    known = {(p, f.object) for f in knowledge for p in f.trained}
    for row in _rows("quality_test.jsonl"):
        probes = [(q["prompt"], q["answer"]) for q in row["locality"]]
        assert set(probes) <= known
        assert sum(row["subject"] not in p for p, _ in probes) >= 3  # other subjects, same relation
        if row["relation"] == "capital":
            assert any(a == row["subject"] and row["subject"] not in p for p, a in probes), row
        assert all(a != row["target_new"] for _, a in probes)


def test_the_generator_is_deterministic_and_drops_unknown_facts(knowledge):
    known = [i % 7 != 0 for i in range(len(knowledge))]
    first = build_quality_sets(knowledge, known, per_relation=4, seed=3)
    assert first == build_quality_sets(knowledge, known, per_relation=4, seed=3)
    unknown = {(f.subject, f.relation) for f, ok in zip(knowledge, known, strict=True) if not ok}
    for row in first[0] + first[1]:
        assert (row["subject"], row["relation"]) not in unknown
