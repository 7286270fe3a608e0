"""The larger dev split for trained editors: requests about tuning subjects (0-b) only, none
in a demo set or among the editors' training requests, so a preset chosen on them has seen
neither the evaluation subjects (c-f) nor its own training facts."""

import json

from core.demo_build.lifelong import RESERVED_SETS, read_knowledge, tuning_requests
from core.demo_build.quality_sets import is_test_subject
from core.util.paths import demo_model_dir


def _pairs(name: str) -> set[tuple[str, str]]:
    rows = (json.loads(line) for line in (demo_model_dir() / name).read_text(encoding="utf-8").splitlines()
            if line.strip())
    return {(row["subject"], row["relation"]) for row in rows}


def test_tuning_requests_are_about_tuning_subjects_and_new_facts():
    requests = tuning_requests(demo_model_dir(), 2000, 2024)
    assert len(requests) >= 150, "157 kept by the bench: 50 capital, 38 language, 36 currency, 33 continent"
    assert not [r["subject"] for r in requests if is_test_subject(r["subject"])]
    seen = set().union(*(_pairs(name) for name in (*RESERVED_SETS, "editor_train.jsonl")))
    assert not {(r["subject"], r["relation"]) for r in requests} & seen
    assert len({(r["subject"], r["relation"]) for r in requests}) == len(requests)
    assert all(r["paraphrases"] and r["locality"] and r["target_new"] != r["target_true"] for r in requests)


def test_the_same_seed_draws_the_same_requests():
    assert tuning_requests(demo_model_dir(), 40, 7) == tuning_requests(demo_model_dir(), 40, 7)


def test_their_locality_prompts_ask_about_tuning_subjects_only():
    """A review: with the training requests reserved, the locality prompts had come from the
    evaluation subjects' facts (c-f), some of them the held-out split's own prompts."""
    subject_of = {phrasing: fact.subject for fact in read_knowledge(demo_model_dir() / "facts.jsonl")
                  for phrasing in fact.phrasings}
    prompts = [probe["prompt"] for r in tuning_requests(demo_model_dir(), 2000, 2024) for probe in r["locality"]]
    assert len(prompts) >= 300 and all(prompt in subject_of for prompt in prompts)
    assert not [prompt for prompt in prompts if is_test_subject(subject_of[prompt])]
