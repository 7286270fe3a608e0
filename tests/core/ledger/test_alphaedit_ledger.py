"""AlphaEdit runs in the edit log: weight deltas with the keys they were fitted to, computed on
HEAD (whose replay rebuilds the edited-key memory), committed, checked out, reverted and
patched exactly like MEMIT's (real AlphaEdit, fast settings on the tiny GPT-2)."""

import pytest

from core.edit.keymemory import memory
from tests.core.ledger.method_history import (
    CPU,
    FACTS,
    assert_head_checks_out,
    assert_patches_equal_the_checkout,
    revert_matches_by_hand,
    three_run_history,
)

# Mechanics, not quality: the tiny model is random; P = I so the null space is never empty.
FAST = {"layers": "1,2", "v_steps": "4", "v_lr": "0.5", "prefix_counts": "", "prefix_lengths": "",
        "stats_tokens": "300", "clamp_norm_factor": "50", "nullspace_threshold": "1e6", "l2": "0.001",
        "essence_samples": "0"}
PARAM = "transformer.h.1.mlp.c_proj.weight"

pytestmark = pytest.mark.usefixtures("one_torch_thread", "author_key")


@pytest.fixture
def alpha_history(workspace):
    """HEAD~1: two AlphaEdit runs (each on the base); HEAD: a third, computed on HEAD~1."""
    return three_run_history(workspace, "alphaedit", FAST, weights_first=False)


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
    assert_head_checks_out(ws, head, tmp_path / "head")


def test_an_alphaedit_patch_on_a_fresh_copy_equals_the_checkout(alpha_history, tiny_model_dir, tmp_path):
    ws, _ = alpha_history
    assert_patches_equal_the_checkout(ws, tiny_model_dir("gpt2"), tmp_path)


def test_reverting_an_alphaedit_edit_replays_the_rest_exactly(alpha_history, tiny_lm):
    ws, runs = alpha_history
    by_hand = tiny_lm("gpt2")
    reverted = revert_matches_by_hand(ws, [FACTS[0].id], "drop the Space Needle", by_hand)
    assert _memory_count(reverted.lm) == 2 == _memory_count(by_hand)
    assert runs[0].id not in ws.resolve("HEAD").applied
