"""AlphaEdit runs in the edit log: weight deltas with the keys they were fitted to, computed on
HEAD (whose replay rebuilds the edited-key memory), committed, checked out, reverted and
patched exactly like MEMIT's (real AlphaEdit, fast settings on the tiny GPT-2)."""

import shutil

import pytest

from core.edit.deltas import apply_delta
from core.edit.keymemory import memory
from core.facts.fact import Fact
from core.ledger import apply_patch
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model

CPU = LoadOptions(device="cpu")
# Mechanics, not quality: the tiny model is random; P = I so the null space is never empty.
FAST = {"layers": "1,2", "v_steps": "4", "v_lr": "0.5", "prefix_counts": "", "prefix_lengths": "",
        "stats_tokens": "300", "clamp_norm_factor": "50", "nullspace_threshold": "1e6", "l2": "0.001",
        "essence_samples": "0"}
FACTS = [
    Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris"),
    Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan"),
    Fact.create(subject="The Eiffel Tower", prompt="The Eiffel Tower is located in", target_new="Rome"),
]
PARAM = "transformer.h.1.mlp.c_proj.weight"

pytestmark = pytest.mark.usefixtures("one_torch_thread", "author_key")


@pytest.fixture
def alpha_history(workspace):
    """HEAD~1: two AlphaEdit runs (each on the base); HEAD: a third, computed on HEAD~1."""
    workspace.add_facts(FACTS)
    first = workspace.run_edits([f.id for f in FACTS[:2]], "alphaedit", FAST, options=CPU)
    for fact in FACTS[:2]:
        workspace.review(fact.id, "approve")
    workspace.commit("two alphaedit edits")
    (third,) = workspace.run_edits([FACTS[2].id], "alphaedit", FAST, options=CPU)
    workspace.review(FACTS[2].id, "approve")
    workspace.commit("a third")
    return workspace, [*first, third]


def _memory_count(lm) -> int:
    found = memory(lm.model, create=False)
    state = found.get(PARAM) if found is not None else None
    return 0 if state is None else state.count


def test_alphaedit_runs_check_out_with_their_key_memory(alpha_history, tmp_path):
    ws, runs = alpha_history
    deltas = [ws.delta(r.id) for r in runs]
    assert all(d.method == "alphaedit" and d.key_updates and d.params for d in deltas)
    assert deltas[2].sha256 == runs[2].delta_sha256
    head = ws.checkout("HEAD", tmp_path / "head", options=CPU)
    assert _memory_count(head.lm) == 3  # one key per run's fact, replayed from the log
    assert state_fingerprint(load_model(tmp_path / "head", CPU).model) == head.weights_fingerprint
    assert ws.checkout("HEAD", options=CPU).verified


def test_an_alphaedit_patch_on_a_fresh_copy_equals_the_checkout(alpha_history, tiny_model_dir, tmp_path):
    ws, _ = alpha_history
    head = ws.checkout("HEAD", options=CPU)
    ws.export_patch(tmp_path / "all.patch")
    copy = tmp_path / "fresh-copy"
    shutil.copytree(tiny_model_dir("gpt2"), copy)
    applied = apply_patch(tmp_path / "all.patch", copy, tmp_path / "patched", CPU)
    assert applied.verified and applied.weights_fingerprint == head.weights_fingerprint


def test_reverting_an_alphaedit_edit_replays_the_rest_exactly(alpha_history, tiny_lm):
    ws, runs = alpha_history
    reverted = ws.revert([FACTS[0].id], "drop the Space Needle", options=CPU)
    by_hand = tiny_lm("gpt2")
    for run in ws.show("HEAD").runs:
        apply_delta(by_hand.model, ws.delta(run.id))
    assert state_fingerprint(by_hand.model) == reverted.weights_fingerprint
    assert _memory_count(reverted.lm) == 2 == _memory_count(by_hand)
    assert runs[0].id not in ws.resolve("HEAD").applied
