"""logits_at: the head applied only at the read positions equals the full forward there."""

import pytest

from core.model.forward import logits_at


@pytest.mark.parametrize("family", ["gpt2", "llama", "gptj", "gpt_neox"])
def test_logits_at_the_read_positions_match_the_full_forward(tiny_lm, family):
    import torch

    lm = tiny_lm(family)
    ids = torch.tensor([[5, 9, 14, 3, 7], [11, 4, 8, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    rows, positions = torch.tensor([0, 0, 1, 1]), torch.tensor([1, 4, 0, 2])
    full = lm.model(input_ids=ids, attention_mask=mask).logits[rows, positions]
    torch.testing.assert_close(logits_at(lm, ids, mask, rows, positions), full, rtol=1e-5, atol=1e-5)


def test_hooks_on_the_model_itself_still_run_and_the_head_is_left_as_it_was(tiny_lm):
    """The hook layers catch the attention mask with a hook on the model (core.edit.hooklayers)."""
    import torch

    lm = tiny_lm("gpt2")
    seen = []
    handle = lm.model.register_forward_pre_hook(lambda _m, _a, kwargs: seen.append(kwargs["attention_mask"]),
                                                with_kwargs=True)
    try:
        mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
        logits_at(lm, torch.tensor([[5, 9, 14], [11, 0, 0]]), mask, torch.tensor([1]), torch.tensor([0]))
    finally:
        handle.remove()
    assert len(seen) == 1 and torch.equal(seen[0], mask)
    assert not lm.model.get_output_embeddings()._forward_pre_hooks, "the head's cut is removed"
