"""RECIPE runs in the edit log: repository deltas stored, committed, checked out (the
repository saved beside the weights), reverted and patched as exactly as GRACE's codebooks
(a real RECIPE retriever, briefly trained for the tiny GPT-2)."""

import pytest

from core.edit.repository import FILE_NAME, live_state
from core.model.loading import load_model
from core.workflows.train import TrainOptions, train_editor
from tests.core.ledger.method_history import (
    CPU,
    FACTS,
    assert_head_checks_out,
    assert_patches_equal_the_checkout,
    revert_matches_by_hand,
    three_run_history,
)

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
    return three_run_history(workspace, "recipe", {"checkpoint": str(checkpoint)})


def test_recipe_runs_check_out_with_their_repository(recipe_history, tmp_path):
    ws, runs = recipe_history
    deltas = [ws.delta(r.id) for r in runs]
    assert all(d.method == "recipe" and d.repository_updates and not d.params for d in deltas)
    assert deltas[2].sha256 == runs[2].delta_sha256
    head = ws.checkout("HEAD", tmp_path / "head", options=CPU)
    assert [e.label for e in live_state(head.lm.model).entries] == ["Paris", "Japan", "Rome"]
    assert_head_checks_out(ws, head, tmp_path / "head", FILE_NAME)


def test_a_recipe_patch_on_a_fresh_copy_equals_the_checkout(recipe_history, tiny_model_dir, tmp_path):
    ws, _ = recipe_history
    assert_patches_equal_the_checkout(ws, tiny_model_dir("gpt2"), tmp_path)  # the range patch: onto a repository


def test_reverting_a_recipe_edit_replays_the_rest_exactly(recipe_history, tiny_lm):
    ws, runs = recipe_history
    reverted = revert_matches_by_hand(ws, [FACTS[0].id], "drop the Space Needle", tiny_lm("gpt2"))
    assert [e.label for e in live_state(reverted.lm.model).entries] == ["Japan", "Rome"]
    back = revert_matches_by_hand(ws, [f"run:{r.id}" for r in runs[1:]], "drop all repository edits", tiny_lm("gpt2"))
    assert live_state(back.lm.model) is None
