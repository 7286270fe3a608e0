"""GRACE runs in the edit log: codebook deltas stored, committed, checked out, reverted and
patched as exactly as weight deltas (real GRACE, fast settings on the tiny GPT-2)."""

import pytest

from core.edit.adaptors import FILE_NAME, live_states
from core.facts.fact import Fact
from tests.core.ledger.method_history import (
    CPU,
    assert_head_checks_out,
    assert_patches_equal_the_checkout,
    revert_matches_by_hand,
    three_run_history,
)

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
    return three_run_history(workspace, "grace", FAST, FACTS)


def test_grace_runs_see_head_and_check_out_with_their_codebook(grace_history, tmp_path):
    ws, runs = grace_history
    third = ws.delta(runs[2].id)
    assert third.method == "grace" and third.sha256 == runs[2].delta_sha256
    assert third.info["facts"][0]["action"] in ("expand", "split")  # it met HEAD~1's live entries
    assert len(third.updates[0].resized) == 1
    head = ws.checkout("HEAD", tmp_path / "head", options=CPU)
    (book,) = live_states(head.lm.model).values()
    assert len(book) == 2 + (third.info["facts"][0]["action"] == "split")
    assert_head_checks_out(ws, head, tmp_path / "head", FILE_NAME)


def test_a_grace_patch_on_a_fresh_copy_equals_the_checkout(grace_history, tiny_model_dir, tmp_path):
    ws, _ = grace_history
    assert_patches_equal_the_checkout(ws, tiny_model_dir("gpt2"), tmp_path)  # the range patch: onto a codebook


def test_reverting_a_grace_edit_replays_the_rest_exactly(grace_history, tiny_lm):
    ws, runs = grace_history
    revert_matches_by_hand(ws, [FACTS[0].id], "drop the Space Needle", tiny_lm("gpt2"))
    assert runs[0].id not in ws.resolve("HEAD").applied
    back = revert_matches_by_hand(ws, [f"run:{r.id}" for r in runs[1:]], "drop all codebook edits", tiny_lm("gpt2"))
    assert not live_states(back.lm.model)
