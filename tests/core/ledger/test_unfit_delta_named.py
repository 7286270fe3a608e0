"""A stored delta that does not fit the base model (recorded through the Python API by hand)
makes every state holding it unbuildable; the error names the run and the way out, and a
malformed hook update says what is malformed (review 46: "too many values to unpack")."""

import pytest
import torch

from core.edit.deltas import Delta, DeltaError, HookUpdate, LowRankUpdate, apply_delta
from core.ledger import LedgerError
from core.model.loading import LoadOptions
from tests.core.ledger.helpers import PARAM, add_run_approve, make_facts

CPU = LoadOptions(device="cpu")


def _record(workspace, fact, delta):
    workspace.add_facts([fact])
    run = workspace.record_run(facts=[fact], delta=delta, computed_on=workspace.head().state_fingerprint,
                               metrics={}, previews={}, seconds=0.0, environment={})
    workspace.review(fact.id, "approve")
    return run


def test_a_delta_for_a_weight_the_model_lacks_names_its_run(workspace):
    good, bad = make_facts(2)
    add_run_approve(workspace, [good])
    missing = "transformer.h.9.mlp.c_proj.weight"
    run = _record(workspace, bad, Delta("hand", (LowRankUpdate(missing, torch.ones(128, 1), torch.ones(1, 32)),),
                                        (bad.id,)))
    workspace.commit("two")
    with pytest.raises(LedgerError, match=rf"the delta of run:{run.id} cannot be replayed on this model \(delta 2 "
                                          rf"of 2: .*{missing}.*`factsmith revert run:N -m TEXT`\) leaves it out"):
        workspace.checkout("HEAD", options=CPU)
    kept = workspace.revert([f"run:{run.id}"], "unfit", options=CPU)
    assert kept.commit.dropped == (run.id,)


def test_a_malformed_hook_update_says_what_is_malformed(tiny_lm):
    three = HookUpdate(PARAM, torch.zeros(32, 1), torch.zeros(1, 128), torch.zeros(1, 128),
                       torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    with pytest.raises(DeltaError, match=rf"hook update on {PARAM} is malformed: 3 thresholds, not 2"):
        apply_delta(tiny_lm("gpt2").model, Delta("hand", (three,), ("f",)))
