"""compute_edit and the independent/sequential runners leave the model as they found it."""

import pytest

from core.facts.fact import fact_from_dict
from core.model.fingerprint import state_fingerprint
from core.workflows.editing import compute_edit
from core.workflows.runs import run_independent, run_sequential

FACTS = [
    fact_from_dict({"subject": "France", "prompt": "The capital of France is", "target_new": "Berlin",
                    "target_true": "Paris", "paraphrases": ["France's capital is"],
                    "locality": [{"prompt": "The capital of Germany is", "answer": "Berlin"}]}),
    fact_from_dict({"subject": "Japan", "prompt": "The currency of Japan is the", "target_new": "Euro",
                    "locality": [{"prompt": "Berlin is a city in", "answer": "Germany"}]}),
]
FAST = {"steps": "3"}


@pytest.mark.parametrize("method", ["ft-m", "rome"])
def test_compute_edit_measures_and_restores(tiny_lm, method):
    lm = tiny_lm("gpt2")
    before = state_fingerprint(lm.model)
    overrides = FAST if method == "ft-m" else {"v_steps": "3", "prefix_counts": "0,0"}
    outcome = compute_edit(lm, FACTS[:1], method, overrides, free_prompts=["Paris is"])
    assert state_fingerprint(lm.model) == before
    metrics = outcome.metrics()
    assert set(metrics["pre"]) >= {"reliability", "generality", "locality"}
    assert all(0.0 <= v <= 1.0 for v in metrics["post"].values())
    kinds = {p.kind for p in outcome.previews}
    assert kinds == {"prompt", "paraphrase", "locality", "free"}
    assert outcome.to_dict()["delta_sha256"] == outcome.delta.sha256
    assert outcome.losses and metrics["losses"] == list(outcome.losses), "the loss curve is kept for the run"


def test_independent_report_schema(tiny_lm):
    lm = tiny_lm("llama")
    before = state_fingerprint(lm.model)
    report = run_independent(lm, FACTS, "ft-m", FAST)
    assert state_fingerprint(lm.model) == before
    assert report["protocol"] == "teacher_forced" and report["mode"] == "independent"
    assert len(report["edits"]) == 2 and report["seconds_per_edit"] > 0
    assert set(report["aggregate"]) == {"pre", "post"}
    assert all(0 <= v <= 1 for side in report["aggregate"].values() for v in side.values())


def test_sequential_restores_and_reports_retention(tiny_lm):
    lm = tiny_lm("gpt_neox")
    before = state_fingerprint(lm.model)
    seen = []
    report = run_sequential(lm, FACTS, "ft-m", FAST, while_applied=lambda m: seen.append(state_fingerprint(m.model)))
    assert state_fingerprint(lm.model) == before
    assert seen and seen[0] != before, "both edits were in place while applied"
    assert "reliability" in report["retention"]["after_all_edits"]
    assert len(report["retention"]["per_fact"]) == 2
