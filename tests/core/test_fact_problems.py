"""fact_problems names every field fact_from_dict would refuse a fact for, not only the first."""

import pytest

from core.facts.fact import FactError, fact_from_dict, fact_problems

VALID = {"subject": "Peru", "prompt": "The capital of Peru is", "target_new": "Cusco", "target_true": "Lima"}


def test_a_valid_fact_has_no_problems():
    assert fact_problems(VALID) == []


def test_every_problem_is_named_and_the_first_is_what_fact_from_dict_raises():
    data = {**VALID, "prompt": "The capital of Chile is", "target_new": "", "paraphrases": [3],
            "locality": [{"prompt": "x"}]}
    problems = fact_problems(data)
    assert [p.field for p in problems] == ["target_new", "subject", "paraphrases[0]", "locality[0].answer"]
    with pytest.raises(FactError) as first:
        fact_from_dict(data)
    assert (first.value.field, first.value.message) == (problems[0].field, problems[0].message)


def test_fields_that_disagree_are_checked_only_when_each_is_valid():
    assert [p.field for p in fact_problems({**VALID, "target_new": "lima"})] == ["target_new"]
    assert [p.field for p in fact_problems({**VALID, "prompt": ""})] == ["prompt"], "no 'not in the prompt' too"
    assert fact_problems("not a dict")[0].field == "(row)"
