"""The verdict of a computed edit: a failed edit is never reported as a success."""

import pytest

from core.workflows.verdict import FAILED, PARTIAL, SIDE_EFFECTS, TOOK, edit_verdict, fact_verdict

PRE = {"reliability": 0.0, "generality": 0.0, "locality": 1.0, "fluency": 300.0}


@pytest.mark.parametrize(("post", "expected"), [
    ({"reliability": 1.0, "generality": 1.0, "locality": 1.0, "fluency": 299.0}, TOOK),
    ({"reliability": 0.5, "generality": 1.0, "locality": 1.0, "fluency": 300.0}, FAILED),  # "L language"
    ({"reliability": 0.0, "generality": 0.0, "locality": 1.0, "fluency": 300.0}, FAILED),
    ({"reliability": 1.0, "generality": 1.0, "locality": 0.5, "fluency": 300.0}, SIDE_EFFECTS),
    ({"reliability": 1.0, "generality": 1.0, "locality": 1.0, "fluency": 200.0}, SIDE_EFFECTS),
    ({"reliability": 1.0, "generality": 0.2, "locality": 1.0, "fluency": 300.0}, PARTIAL),
    ({"reliability": 1.0, "locality": None}, TOOK),  # nothing else measured: not held against it
])
def test_fact_verdicts(post, expected):
    assert fact_verdict("f", PRE, post).verdict == expected


def test_the_numbers_that_decided_it_are_given():
    verdict = edit_verdict("rome", ["f"], [PRE], [{"reliability": 0.0, "generality": 0.0, "locality": 1.0}])
    assert verdict.verdict == FAILED and not verdict.took
    assert verdict.summary == "failed: reliability 0.00 < 0.95, generality 0.00 < 0.80"
    assert any("v_steps" in tip for tip in verdict.advice)  # what to try next
    checks = verdict.to_dict()["facts"][0]["checks"]
    assert checks[0] == {"metric": "reliability", "value": 0.0, "bound": 0.95, "held": False}


def test_several_facts():
    took = {"reliability": 1.0, "generality": 1.0, "locality": 1.0}
    failed = {"reliability": 0.0, "generality": 0.0, "locality": 1.0}
    assert edit_verdict("memit", ["a", "b"], [PRE, PRE], [took, took]).verdict == TOOK
    assert edit_verdict("memit", ["a", "b"], [PRE, PRE], [failed, failed]).verdict == FAILED
    mixed = edit_verdict("memit", ["a", "b"], [PRE, PRE], [took, failed])
    assert mixed.verdict == PARTIAL and mixed.summary == "partial: 1 took, 1 failed of 2 facts"
    assert edit_verdict("ft-m", ["a"], [PRE], [{**took, "locality": 0.1}]).advice[0].startswith("more retain_samples")
    assert edit_verdict("grace", ["a"], [PRE], [took]).advice == ()


def test_a_computed_edit_carries_its_verdict(tiny_lm):
    """On a random tiny model an edit of a few steps does not take, and says so everywhere."""
    from core.facts.fact import fact_from_dict
    from core.workflows.editing import compute_edit

    lm = tiny_lm("gpt2")
    fact = fact_from_dict({"subject": "France", "prompt": "The capital of France is", "target_new": "Lyon",
                           "locality": [{"prompt": "The capital of Spain is", "answer": "Madrid"}]})
    outcome = compute_edit(lm, [fact], "ft-m", overrides={"steps": "1", "lr": "1e-6"}, preview_tokens=0)
    assert outcome.verdict.verdict == FAILED
    assert outcome.metrics()["verdict"]["verdict"] == FAILED
    assert outcome.to_dict()["metrics"]["verdict"]["summary"].startswith("failed: reliability")


def test_advice_is_phrased_by_each_interface_in_its_own_terms():
    from core.workflows.verdict import CLI_TERMS, phrase_advice

    failed = edit_verdict("rome", ["a"], [PRE], [{**PRE, "reliability": 0.1}])
    cli = " ".join(failed.advice)
    assert "--layer auto" in cli and "factsmith tune" in cli and "{" not in cli
    gui = {"layer_auto": "type auto in the layer field", "tune": "the Tune preset… button"}
    said = " ".join(phrase_advice(failed.to_dict(), gui))
    assert "type auto in the layer field" in said and "Tune preset…" in said
    assert "--layer" not in said and "factsmith tune" not in said
    old = {"advice": list(failed.advice)}  # stored before the advice had templates
    assert phrase_advice(old, gui) == phrase_advice(failed.to_dict(), gui)
    assert phrase_advice(failed.to_dict(), CLI_TERMS) == list(failed.advice)
