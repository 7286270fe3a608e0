"""COMEBA-HK runs in the edit log: hook layer deltas computed on HEAD (whose replay rebuilds the
hook layers), committed, checked out, reverted and patched as exactly as GRACE's codebooks
(real COMEBA-HK, fast settings on the tiny GPT-2)."""

import shutil

import pytest

from core.edit.deltas import apply_delta
from core.edit.hookfiles import FILE_NAME
from core.edit.hooklayers import live_states
from core.facts.fact import Fact
from core.ledger import apply_patch
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")
# Mechanics, not quality: the tiny model is random.
FAST = {"layers": "1,2", "v_steps": "4", "v_lr": "0.5", "prefix_counts": "", "prefix_lengths": "",
        "stats_tokens": "300", "clamp_norm_factor": "50", "mom2_weight": "10", "essence_samples": "0",
        "insertion_aware": "false"}
FACTS = [
    Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris"),
    Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan"),
    Fact.create(subject="The Eiffel Tower", prompt="The Eiffel Tower is located in", target_new="Rome"),
]
PARAM = "transformer.h.1.mlp.c_proj.weight"

pytestmark = pytest.mark.usefixtures("one_torch_thread", "author_key")


@pytest.fixture
def comeba_history(workspace):
    """HEAD~1: hand-made weight edits and two COMEBA-HK runs (each on that base); HEAD: a third,
    computed on HEAD~1 (so on its hook layers)."""
    add_run_approve(workspace, make_facts(2))
    workspace.add_facts(FACTS)
    first = workspace.run_edits([f.id for f in FACTS[:2]], "comeba-hk", FAST, options=CPU)
    for fact in FACTS[:2]:
        workspace.review(fact.id, "approve")
    workspace.commit("weights and two hook layer edits")
    (third,) = workspace.run_edits([FACTS[2].id], "comeba-hk", FAST, options=CPU)
    workspace.review(FACTS[2].id, "approve")
    workspace.commit("a third")
    return workspace, [*first, third]


def _steps(lm) -> int:
    state = live_states(lm.model).get(PARAM)
    return 0 if state is None else len(state.steps)


def test_comeba_runs_check_out_with_their_hook_layers(comeba_history, tmp_path):
    ws, runs = comeba_history
    deltas = [ws.delta(r.id) for r in runs]
    assert all(d.method == "comeba-hk" and d.hook_updates and not d.params for d in deltas)
    assert deltas[2].sha256 == runs[2].delta_sha256
    head = ws.checkout("HEAD", tmp_path / "head", options=CPU)
    assert _steps(head.lm) == 3  # one step per run, replayed from the log
    assert (tmp_path / "head" / FILE_NAME).is_file()
    assert state_fingerprint(load_model(tmp_path / "head", CPU).model) == head.weights_fingerprint
    assert ws.checkout("HEAD", options=CPU).verified


def test_a_comeba_patch_on_a_fresh_copy_equals_the_checkout(comeba_history, tiny_model_dir, tmp_path):
    ws, _ = comeba_history
    head = ws.checkout("HEAD", options=CPU)
    ws.export_patch(tmp_path / "all.patch")
    copy = tmp_path / "fresh-copy"
    shutil.copytree(tiny_model_dir("gpt2"), copy)
    applied = apply_patch(tmp_path / "all.patch", copy, tmp_path / "patched", CPU)
    assert applied.verified and applied.weights_fingerprint == head.weights_fingerprint
    assert state_fingerprint(load_model(tmp_path / "patched", CPU).model) == head.weights_fingerprint
    # a range patch on a checkout folder that already carries hook layers
    ws.checkout("HEAD~1", tmp_path / "start", options=CPU)
    ws.export_patch(tmp_path / "last.patch", from_ref="HEAD~1")
    chained = apply_patch(tmp_path / "last.patch", tmp_path / "start", tmp_path / "end", CPU)
    assert chained.edits == 1 and chained.weights_fingerprint == head.weights_fingerprint


def test_reverting_a_comeba_edit_replays_the_rest_exactly(comeba_history, tiny_lm):
    ws, runs = comeba_history
    reverted = ws.revert([FACTS[0].id], "drop the Space Needle", options=CPU)
    by_hand = tiny_lm("gpt2")
    for run in ws.show("HEAD").runs:
        apply_delta(by_hand.model, ws.delta(run.id))
    assert state_fingerprint(by_hand.model) == reverted.weights_fingerprint
    assert _steps(reverted.lm) == 2 == _steps(by_hand)
    assert runs[0].id not in ws.resolve("HEAD").applied
    back = ws.revert([f"run:{r.id}" for r in runs[1:]], "drop all hook layer edits", options=CPU)
    assert not live_states(back.lm.model)
    plain = tiny_lm("gpt2")
    for run in ws.show("HEAD").runs:
        apply_delta(plain.model, ws.delta(run.id))
    assert back.weights_fingerprint == state_fingerprint(plain.model)
