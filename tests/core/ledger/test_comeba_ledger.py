"""COMEBA-HK runs in the edit log: hook layer deltas computed on HEAD (whose replay rebuilds the
hook layers), committed, checked out, reverted and patched as exactly as GRACE's codebooks
(real COMEBA-HK, fast settings on the tiny GPT-2)."""

import pytest

from core.edit.hookfiles import FILE_NAME
from core.edit.hooklayers import live_states
from tests.core.ledger.method_history import (
    CPU,
    FACTS,
    assert_head_checks_out,
    assert_patches_equal_the_checkout,
    revert_matches_by_hand,
    three_run_history,
)

# Mechanics, not quality: the tiny model is random.
FAST = {"layers": "1,2", "v_steps": "4", "v_lr": "0.5", "prefix_counts": "", "prefix_lengths": "",
        "stats_tokens": "300", "clamp_norm_factor": "50", "mom2_weight": "10", "essence_samples": "0",
        "insertion_aware": "false"}
PARAM = "transformer.h.1.mlp.c_proj.weight"

pytestmark = pytest.mark.usefixtures("one_torch_thread", "author_key")


@pytest.fixture
def comeba_history(workspace):
    """HEAD~1: hand-made weight edits and two COMEBA-HK runs (each on that base); HEAD: a third,
    computed on HEAD~1 (so on its hook layers)."""
    return three_run_history(workspace, "comeba-hk", FAST)


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
    assert_head_checks_out(ws, head, tmp_path / "head", FILE_NAME)


def test_a_comeba_patch_on_a_fresh_copy_equals_the_checkout(comeba_history, tiny_model_dir, tmp_path):
    ws, _ = comeba_history
    assert_patches_equal_the_checkout(ws, tiny_model_dir("gpt2"), tmp_path)  # the range patch: onto hook layers


def test_reverting_a_comeba_edit_replays_the_rest_exactly(comeba_history, tiny_lm):
    ws, runs = comeba_history
    by_hand = tiny_lm("gpt2")
    reverted = revert_matches_by_hand(ws, [FACTS[0].id], "drop the Space Needle", by_hand)
    assert _steps(reverted.lm) == 2 == _steps(by_hand)
    assert runs[0].id not in ws.resolve("HEAD").applied
    back = revert_matches_by_hand(ws, [f"run:{r.id}" for r in runs[1:]], "drop all hook layer edits", tiny_lm("gpt2"))
    assert not live_states(back.lm.model)
