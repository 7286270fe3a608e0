"""GRACE runs in the edit log: codebook deltas stored, committed, checked out, reverted and
patched as exactly as weight deltas (real GRACE, fast settings on the tiny GPT-2)."""

import shutil

import pytest

from core.edit.adaptors import FILE_NAME, live_states
from core.edit.deltas import apply_delta
from core.facts.fact import Fact
from core.ledger import apply_patch
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")
# Mechanics, not quality: the tiny model is random. A huge radius makes later edits meet earlier entries.
FAST = {"layer": "1", "steps": "3", "lr": "0.5", "loss_threshold": "0", "eps_init": "1e6"}
FACTS = [
    Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris"),
    Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan"),
    Fact.create(subject="The Eiffel Tower", prompt="The Eiffel Tower is located in", target_new="Paris"),
]


pytestmark = pytest.mark.usefixtures("one_torch_thread", "author_key")  # patches signed by a test key


@pytest.fixture
def grace_history(workspace):
    """HEAD~1: hand-made weight edits and two GRACE edits; HEAD: one more GRACE edit, computed on HEAD~1."""
    add_run_approve(workspace, make_facts(2))
    workspace.add_facts(FACTS)
    first = workspace.run_edits([f.id for f in FACTS[:2]], "grace", FAST, options=CPU)
    for fact in FACTS[:2]:
        workspace.review(fact.id, "approve")
    workspace.commit("weights and two codebook entries")
    (third,) = workspace.run_edits([FACTS[2].id], "grace", FAST, options=CPU)
    workspace.review(FACTS[2].id, "approve")
    workspace.commit("a third entry")
    return workspace, [*first, third]


def test_grace_runs_see_head_and_check_out_with_their_codebook(grace_history, tmp_path):
    ws, runs = grace_history
    third = ws.delta(runs[2].id)
    assert third.method == "grace" and third.sha256 == runs[2].delta_sha256
    assert third.info["facts"][0]["action"] in ("expand", "split")  # it met HEAD~1's live entries
    assert len(third.updates[0].resized) == 1
    head = ws.checkout("HEAD", tmp_path / "head", options=CPU)
    (book,) = live_states(head.lm.model).values()
    assert len(book) == 2 + (third.info["facts"][0]["action"] == "split")
    assert (tmp_path / "head" / FILE_NAME).is_file()
    assert state_fingerprint(load_model(tmp_path / "head", CPU).model) == head.weights_fingerprint
    assert ws.checkout("HEAD", options=CPU).verified


def test_a_grace_patch_on_a_fresh_copy_equals_the_checkout(grace_history, tiny_model_dir, tmp_path):
    ws, _ = grace_history
    head = ws.checkout("HEAD", options=CPU)
    ws.export_patch(tmp_path / "all.patch")
    copy = tmp_path / "fresh-copy"
    shutil.copytree(tiny_model_dir("gpt2"), copy)
    applied = apply_patch(tmp_path / "all.patch", copy, tmp_path / "patched", CPU)
    assert applied.verified and applied.weights_fingerprint == head.weights_fingerprint
    assert state_fingerprint(load_model(tmp_path / "patched", CPU).model) == head.weights_fingerprint
    # a range patch on a checkout folder that already carries a codebook
    ws.checkout("HEAD~1", tmp_path / "start", options=CPU)
    ws.export_patch(tmp_path / "last.patch", from_ref="HEAD~1")
    chained = apply_patch(tmp_path / "last.patch", tmp_path / "start", tmp_path / "end", CPU)
    assert chained.edits == 1 and chained.weights_fingerprint == head.weights_fingerprint


def test_reverting_a_grace_edit_replays_the_rest_exactly(grace_history, tiny_lm):
    ws, runs = grace_history
    reverted = ws.revert([FACTS[0].id], "drop the Space Needle", options=CPU)
    by_hand = tiny_lm("gpt2")
    for run in ws.show("HEAD").runs:
        apply_delta(by_hand.model, ws.delta(run.id))
    assert state_fingerprint(by_hand.model) == reverted.weights_fingerprint
    assert runs[0].id not in ws.resolve("HEAD").applied
    back = ws.revert([f"run:{r.id}" for r in runs[1:]], "drop all codebook edits", options=CPU)
    assert not live_states(back.lm.model)
    plain = tiny_lm("gpt2")
    for run in ws.show("HEAD").runs:
        apply_delta(plain.model, ws.delta(run.id))
    assert back.weights_fingerprint == state_fingerprint(plain.model)
