"""The trained editors' demo training data: subjects 0-b only, quality_sets' requests."""

from __future__ import annotations

import hashlib
import json

from core.demo_build.editor_data import TRAIN_FILE, build_editor_data
from core.demo_build.knowledge import KnowledgeFact
from core.demo_build.quality_sets import is_test_subject
from core.facts.fact import fact_from_dict
from core.util.paths import demo_model_dir


def _rows(name: str) -> list[dict]:
    text = (demo_model_dir() / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _held_out(subject: str) -> bool:  # the rule, spelled out again rather than imported
    return hashlib.sha256(subject.encode("utf-8")).hexdigest()[0] in "cdef"


def test_shipped_training_data_holds_no_evaluation_subject():
    rows = _rows(TRAIN_FILE)
    assert len(rows) > 1000
    assert not [r["subject"] for r in rows if _held_out(r["subject"])]
    evaluation = {r["subject"] for name in ("quality_test.jsonl", "quality_dev.jsonl") for r in _rows(name)}
    assert not evaluation & {r["subject"] for r in rows}  # test never trained on; dev kept for validation


def test_requests_are_well_formed_facts_with_paraphrases_and_locality():
    rows = _rows(TRAIN_FILE)
    facts = [fact_from_dict(r) for r in rows]
    assert all(f.paraphrases and f.locality and f.target_new != f.target_true for f in facts)
    assert {r["relation"] for r in rows} == {"capital", "continent", "currency", "language", "city_country"}
    assert {r["target_kind"] for r in rows} == {"same", "other"}


def test_builder_drops_every_c_to_f_subject_whatever_it_is_given():
    facts = [KnowledgeFact.from_record(r) for r in _rows("facts.jsonl")]
    assert any(is_test_subject(f.subject) for f in facts)  # there is something to drop
    rows = build_editor_data(facts, [True] * len(facts), seed=1)
    assert rows and not any(_held_out(r["subject"]) for r in rows)


def test_split_rule_matches_quality_sets():
    subjects = [r["subject"] for r in _rows("facts.jsonl")]
    assert [is_test_subject(s) for s in subjects] == [_held_out(s) for s in subjects]


def test_no_locality_probe_is_about_an_evaluation_subject():
    """Review 47: probes were drawn from every known fact, so a fifth of them (and half of
    quality_test.jsonl's own locality prompts) were c-f subjects' phrasings, trained on through
    the editors' KL term and RECIPE's locality and sentinel losses."""
    subject_of = {p: r["subject"] for r in _rows("facts.jsonl") for p in r["phrasings"]}
    probes = [q["prompt"] for r in _rows(TRAIN_FILE) for q in r["locality"]]
    assert probes and all(p in subject_of for p in probes)
    assert not [p for p in probes if _held_out(subject_of[p])]
    test_prompts = {p for r in _rows("quality_test.jsonl") for p in (r["prompt"], *r["paraphrases"])}
    assert not test_prompts & set(probes)
    scored = {q["prompt"] for name in ("quality_test.jsonl", "quality_dev.jsonl") for r in _rows(name)
              for q in r["locality"]}
    assert not scored & set(probes), "a prompt the evaluation scores locality on is never trained on"
