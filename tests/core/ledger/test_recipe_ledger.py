"""RECIPE runs in the edit log: repository deltas stored, committed, checked out (the
repository saved beside the weights), reverted and patched as exactly as GRACE's codebooks
(a real RECIPE retriever, briefly trained for the tiny GPT-2)."""

import shutil

import pytest

from core.edit.deltas import apply_delta
from core.edit.repository import FILE_NAME, live_state
from core.facts.fact import Fact
from core.ledger import apply_patch
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from core.workflows.train import TrainOptions, train_editor
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")
FACTS = [
    Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris"),
    Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan"),
    Fact.create(subject="The Eiffel Tower", prompt="The Eiffel Tower is located in", target_new="Rome"),
]

pytestmark = pytest.mark.usefixtures("one_torch_thread", "author_key")


@pytest.fixture(scope="module")
def checkpoint(tiny_model_dir, tmp_path_factory):
    lm = load_model(tiny_model_dir("gpt2"), CPU)
    out = tmp_path_factory.mktemp("recipe-ledger") / "recipe.safetensors"
    train_editor(lm, "recipe", FACTS, (), TrainOptions(steps=2), out, {"width": "16", "edits_per_step": "3"})
    return out


@pytest.fixture
def recipe_history(workspace, checkpoint):
    """HEAD~1: hand-made weight edits and two RECIPE entries; HEAD: a third entry, computed on HEAD~1."""
    fast = {"checkpoint": str(checkpoint)}
    add_run_approve(workspace, make_facts(2))
    workspace.add_facts(FACTS)
    first = workspace.run_edits([f.id for f in FACTS[:2]], "recipe", fast, options=CPU)
    for fact in FACTS[:2]:
        workspace.review(fact.id, "approve")
    workspace.commit("weights and two repository entries")
    (third,) = workspace.run_edits([FACTS[2].id], "recipe", fast, options=CPU)
    workspace.review(FACTS[2].id, "approve")
    workspace.commit("a third entry")
    return workspace, [*first, third]


def test_recipe_runs_check_out_with_their_repository(recipe_history, tmp_path):
    ws, runs = recipe_history
    deltas = [ws.delta(r.id) for r in runs]
    assert all(d.method == "recipe" and d.repository_updates and not d.params for d in deltas)
    assert deltas[2].sha256 == runs[2].delta_sha256
    head = ws.checkout("HEAD", tmp_path / "head", options=CPU)
    assert [e.label for e in live_state(head.lm.model).entries] == ["Paris", "Japan", "Rome"]
    assert (tmp_path / "head" / FILE_NAME).is_file()
    assert state_fingerprint(load_model(tmp_path / "head", CPU).model) == head.weights_fingerprint
    assert ws.checkout("HEAD", options=CPU).verified


def test_a_recipe_patch_on_a_fresh_copy_equals_the_checkout(recipe_history, tiny_model_dir, tmp_path):
    ws, _ = recipe_history
    head = ws.checkout("HEAD", options=CPU)
    ws.export_patch(tmp_path / "all.patch")
    copy = tmp_path / "fresh-copy"
    shutil.copytree(tiny_model_dir("gpt2"), copy)
    applied = apply_patch(tmp_path / "all.patch", copy, tmp_path / "patched", CPU)
    assert applied.verified and applied.weights_fingerprint == head.weights_fingerprint
    ws.checkout("HEAD~1", tmp_path / "start", options=CPU)  # a range patch on a folder with a repository
    ws.export_patch(tmp_path / "last.patch", from_ref="HEAD~1")
    chained = apply_patch(tmp_path / "last.patch", tmp_path / "start", tmp_path / "end", CPU)
    assert chained.edits == 1 and chained.weights_fingerprint == head.weights_fingerprint


def test_reverting_a_recipe_edit_replays_the_rest_exactly(recipe_history, tiny_lm):
    ws, runs = recipe_history
    reverted = ws.revert([FACTS[0].id], "drop the Space Needle", options=CPU)
    by_hand = tiny_lm("gpt2")
    for run in ws.show("HEAD").runs:
        apply_delta(by_hand.model, ws.delta(run.id))
    assert state_fingerprint(by_hand.model) == reverted.weights_fingerprint
    assert [e.label for e in live_state(reverted.lm.model).entries] == ["Japan", "Rome"]
    back = ws.revert([f"run:{r.id}" for r in runs[1:]], "drop all repository edits", options=CPU)
    assert live_state(back.lm.model) is None
    plain = tiny_lm("gpt2")
    for run in ws.show("HEAD").runs:
        apply_delta(plain.model, ws.delta(run.id))
    assert back.weights_fingerprint == state_fingerprint(plain.model)
