"""Runs computed by core.workflows.editing (real ROME, fast settings on the tiny GPT-2) stored as computed."""

import pytest

from core.facts.fact import Fact
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions

CPU = LoadOptions(device="cpu")
# Mechanics, not quality: the tiny model is random.
FAST = {"layer": "1", "v_steps": "4", "v_lr": "0.5", "prefix_counts": "2", "prefix_lengths": "3",
        "use_covariance": "false", "clamp_norm_factor": "50"}
FACTS = [
    Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris"),
    Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan"),
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_rome_runs_are_stored_and_committed(workspace, tiny_lm):
    workspace.add_facts(FACTS)
    runs = workspace.run_edits([f.id for f in FACTS], "rome", FAST, options=CPU)
    assert [r.fact_ids for r in runs] == [(f.id,) for f in FACTS]
    run = workspace.run(runs[0].id)
    assert run.method == "rome" and run.hparams["v_steps"] == 4 and run.overrides == FAST
    assert {"protocol", "pre", "post", "pre_report", "post_report"} <= set(run.metrics)
    assert {p["kind"] for p in run.previews} == {"prompt"} and run.previews[0]["prompt"] == FACTS[0].prompt
    assert run.environment["libraries"]["torch"] and run.environment["device"] == "cpu"
    assert run.computed_on == workspace.head().state_fingerprint
    assert workspace.delta(run.id).sha256 == run.delta_sha256
    for fact in FACTS:
        workspace.review(fact.id, "approve")
    workspace.commit("two rome edits")
    checkout = workspace.checkout("HEAD", options=CPU)
    assert checkout.weights_fingerprint != state_fingerprint(tiny_lm("gpt2").model)


def test_a_batch_run_edits_all_facts_at_once(workspace):
    workspace.add_facts(FACTS)
    (run,) = workspace.run_edits([f.id[:10] for f in FACTS], "rome", FAST, batch=True, options=CPU)
    assert run.fact_ids == tuple(f.id for f in FACTS)


def test_an_unknown_method_stores_nothing(workspace):
    workspace.add_facts(FACTS)
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        workspace.run_edits([FACTS[0].id], "nope", options=CPU)
    assert workspace.runs() == []
