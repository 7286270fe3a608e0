"""KnowledgeEditor (KE) and its training on tiny random GPT-2 and Llama models."""

from __future__ import annotations

import pytest
import torch

from core.edit.deltas import LowRankUpdate
from core.facts.fact import fact_from_dict
from core.methods import get_method
from core.methods.base import EditError
from core.methods.editor_ckpt import read_checkpoint
from core.methods.hparams import HParamError, with_overrides
from core.methods.ke import KE, KEHParams, condition_tokens, ke_updates
from core.model.fingerprint import state_fingerprint
from core.model.tokens import encode_pair
from core.util.progress import Progress
from core.workflows.train import TrainOptions, train_editor
from tests.core.test_mend import FACT, TRAIN
from tests.core.trained_editor_checks import (
    assert_applies_and_reverts_exactly,
    assert_cancel_keeps_the_model_and_the_last_step,
    assert_refused_for_another_model,
    cli_train_and_edit,
    loaded_editor,
    with_checkpoint,
)

# every step edits all three requests; a fixed penalty (lr_lambda 0), so the loss is one objective;
# constant rates (the small preset's cosine decay would shrink the few steps these tests take)
FAST = {"edits_per_step": "3", "lr": "1e-2", "lr_step": "0.3", "hidden": "8", "cond_dim": "8",
        "head_hidden": "8", "edit_lr": "1.0", "lr_lambda": "0", "lr_decay": "none"}
# How far 12 steps must bring the loss down. Random tiny models barely let an edit of these
# matrices move the answer (their final norm and small tied embeddings): for the GPT-2 one no
# step size of the plain gradient gets the edit NLL below ~5.39 from ~5.45; measured drops
# are 0.027 (GPT-2) and 0.40 (Llama).
DROP = {"gpt2": 0.015, "llama": 0.2}


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    yield


def _train(lm, out, steps=8, overrides=None):
    options = TrainOptions(steps=steps, save_every=100, val_every=100)
    return train_editor(lm, "ke", TRAIN, (), options, out, {**FAST, **(overrides or {})})


def test_registry_and_preset_edit_the_last_three_blocks(tiny_lm):
    lm = tiny_lm("gpt2")
    assert get_method("ke") is KE
    assert KE.preset(lm).layers == (1, 2, 3)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_training_lowers_the_loss_and_compute_gives_a_low_rank_delta(tiny_lm, tmp_path, family):
    lm = tiny_lm(family)
    before = state_fingerprint(lm.model)
    result = _train(lm, tmp_path / "ke.safetensors", steps=12)
    losses = result.record.losses
    assert len(losses) == 12 and losses[-1] < losses[0] - DROP[family], losses
    hp = with_overrides(KE.preset(lm), {"checkpoint": str(result.path)})
    delta = KE.compute(lm, [FACT], hp, Progress())
    assert state_fingerprint(lm.model) == before  # training and compute leave the model alone
    params = dict(lm.model.named_parameters())
    rank = len(encode_pair(lm.tokenizer, FACT.prompt, FACT.target_new).target_ids) + 1  # tokens, and β̂
    assert delta.params == sorted(lm.spec.mlp_out_weight(i) for i in (1, 2, 3))
    for update in delta.updates:
        assert isinstance(update, LowRankUpdate) and update.left.shape[1] == rank
        assert update.shape == tuple(params[update.param].shape) and update.dense().abs().max() > 0
    assert_applies_and_reverts_exactly(lm, delta, before)


def _autograd_gradient(lm, param: str) -> torch.Tensor:
    """∇W of the edit loss in (d_out, d_in) orientation, by autograd on a copy of the weight."""
    from core.methods.training import forward_with, row_losses

    pair = encode_pair(lm.tokenizer, FACT.prompt, FACT.target_new)
    weight = dict(lm.model.named_parameters())[param].detach().clone().requires_grad_(True)
    loss = row_losses(forward_with(lm, {param: weight}, [pair.ids]), [pair], "target_masked").sum()
    (grad,) = torch.autograd.grad(loss, weight)
    return grad.T if lm.spec.weight_layout == "in_out" else grad


def _factor_gradient(lm, net) -> dict[str, torch.Tensor]:
    """Σ_i δ_i u_iᵀ over the target's tokens (d_out, d_in): the gradient KE transforms (MEND's
    factors; the whole gradient for the last block, whose other tokens never reach the loss)."""
    from core.methods.mend_net import gradient_factors

    pair = encode_pair(lm.tokenizer, FACT.prompt, FACT.target_new)
    factors = gradient_factors(lm, [p.removesuffix(".weight") for p in net.params], net.params, [pair])
    return {p: d.T @ u for p, (u, d) in factors.items()}


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_the_update_is_the_papers_gated_low_rank_transform_of_the_gradient(tiny_lm, family):
    """ΔW = −s σ(η) (σ̂(α)γᵀ ⊙ ∇W + σ̂(β)δᵀ), with random heads, against the dense formula."""
    from core.methods.ke_net import condition_vector

    lm = tiny_lm(family)
    torch.manual_seed(1)
    net = KE.new_editor(lm, with_overrides(KE.preset(lm), {"hidden": "4", "cond_dim": "6", "head_hidden": "5"}))
    for head in net.heads:
        torch.nn.init.normal_(head.out.weight, std=0.3)
    with torch.no_grad():
        parts = ke_updates(lm, net, [FACT])
        c = condition_vector(lm, net, *condition_tokens(lm, FACT))
    gradient = _factor_gradient(lm, net)
    for i, param in enumerate(net.params):
        alpha, gamma, beta, beta_in, eta = (t.detach() for t in net.heads[i](c))
        d_out = alpha.shape[0]
        hat_a, hat_b = torch.outer(d_out * alpha.softmax(-1), gamma), torch.outer(d_out * beta.softmax(-1), beta_in)
        want = -net.log_steps[i].exp().detach() * torch.sigmoid(eta) * (hat_a * gradient[param] + hat_b)
        left, right = parts[param]
        got = left @ right
        got = got.T if lm.spec.weight_layout == "in_out" else got
        assert torch.allclose(got, want, atol=1e-6 * float(want.abs().max()) + 1e-9)


def test_an_untrained_editor_makes_the_plain_gradient_step(tiny_lm):
    lm = tiny_lm("gpt2")
    hp = with_overrides(KE.preset(lm), {"edit_lr": "0.5", "hidden": "4", "cond_dim": "4", "head_hidden": "4"})
    net = KE.new_editor(lm, hp)
    with torch.no_grad():
        parts = ke_updates(lm, net, [FACT])
    gradient = _factor_gradient(lm, net)
    last = net.params[-1]
    assert torch.allclose(gradient[last], _autograd_gradient(lm, last), atol=1e-7)
    for param, (left, right) in parts.items():
        dense = (left @ right).T  # GPT-2's Conv1D stores (d_in, d_out)
        assert torch.allclose(dense, -0.25 * gradient[param], atol=1e-7)  # −s/2 · ∇W


def test_the_condition_is_prompt_old_and_new_answer(tiny_lm):
    lm = tiny_lm("gpt2")
    ids, segments = condition_tokens(lm, FACT)
    prompt = encode_pair(lm.tokenizer, FACT.prompt, FACT.target_new).prompt_ids
    old = encode_pair(lm.tokenizer, FACT.prompt, FACT.target_true).target_ids
    new = encode_pair(lm.tokenizer, FACT.prompt, FACT.target_new).target_ids
    assert ids == [*prompt, *old, *new] and segments == [0] * len(prompt) + [1] * len(old) + [2] * len(new)


def test_without_target_true_the_old_answer_is_the_models_own(tiny_lm):
    from core.model.generation import SamplingOptions, continuation

    lm = tiny_lm("gpt2")
    bare = fact_from_dict({"subject": FACT.subject, "prompt": FACT.prompt, "target_new": FACT.target_new})
    new = encode_pair(lm.tokenizer, FACT.prompt, FACT.target_new).target_ids
    said = continuation(lm, FACT.prompt, SamplingOptions(max_new_tokens=len(new))).strip()
    _, segments = condition_tokens(lm, bare)
    assert said and segments.count(1) == len(encode_pair(lm.tokenizer, FACT.prompt, said).target_ids)


def test_the_multiplier_rises_while_the_locality_budget_is_exceeded(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    tight = _train(lm, tmp_path / "tight.safetensors", steps=4, overrides={"kl_margin": "0", "lr_lambda": "0.1"})
    loose = _train(lm, tmp_path / "loose.safetensors", steps=4, overrides={"kl_margin": "100", "lr_lambda": "0.1"})
    weight = {name: float(read_checkpoint(r.path, "ke").editor["log_lambda"].exp())
              for name, r in (("tight", tight), ("loose", loose))}
    assert weight["tight"] > 1.3 and weight["loose"] < 0.75, weight  # λ starts at 1; Adam moves log λ ≈ 0.1 a step


def test_checkpoint_round_trip_and_refusal_for_another_model(tiny_lm, tmp_path):
    gpt2, llama = tiny_lm("gpt2"), tiny_lm("llama")
    out = tmp_path / "ke.safetensors"
    _train(gpt2, out, steps=2)
    ckpt = read_checkpoint(out, "ke", gpt2.info.fingerprint)
    assert ckpt.record.step == 2 and ckpt.record.hparams["cond_dim"] == 8
    loaded_editor(KE, gpt2, ckpt)
    hp = with_checkpoint(KE, gpt2, out)
    first, again = KE.compute(gpt2, [FACT], hp), KE.compute(gpt2, [FACT], hp)
    assert all((a.dense() == b.dense()).all() for a, b in zip(first.updates, again.updates))
    assert_refused_for_another_model(KE, gpt2, llama, out, [FACT], "mend")


def test_several_facts_add_their_updates(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    hp = with_overrides(KE.preset(lm), {"checkpoint": str(_train(lm, tmp_path / "ke.safetensors", steps=2).path)})
    one, two = KE.compute(lm, [TRAIN[0]], hp), KE.compute(lm, [TRAIN[1]], hp)
    both = KE.compute(lm, TRAIN[:2], hp)
    for a, b, ab in zip(one.updates, two.updates, both.updates):
        assert torch.allclose(ab.dense(), a.dense() + b.dense(), atol=1e-6)


def test_edit_scale_scales_the_trained_update_at_edit_time(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    hp = with_overrides(KE.preset(lm), {"checkpoint": str(_train(lm, tmp_path / "ke.safetensors", steps=2).path)})
    whole = KE.compute(lm, [FACT], with_overrides(hp, {"edit_scale": 1.0}))
    scaled = KE.compute(lm, [FACT], with_overrides(hp, {"edit_scale": 0.5}))
    assert whole.hparams["edit_scale"] == 1.0 and scaled.hparams["edit_scale"] == 0.5, "recorded with the delta"
    for a, b in zip(whole.updates, scaled.updates):
        assert torch.allclose(b.dense(), 0.5 * a.dense(), atol=1e-7) and a.dense().abs().sum() > 0
    assert KE.preset(lm).edit_scale == 0.9, "the small preset's, chosen on dev (core/methods/ke.py)"
    for bad in (0.0, -1.0):
        with pytest.raises(EditError, match="edit_scale must be a positive number"):
            KE.compute(lm, [FACT], with_overrides(hp, {"edit_scale": bad}))
    with pytest.raises(HParamError, match="edit_scale=nan: must be a finite number"):  # refused when set
        with_overrides(hp, {"edit_scale": float("nan")})


def test_hparams_are_a_frozen_dataclass():
    with pytest.raises(AttributeError):
        KEHParams().lr = 3.0  # type: ignore[misc]


def test_cli_trains_and_edits_with_the_checkpoint(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "ke.safetensors"
    assert cli_train_and_edit(capsys, "ke", tiny_model_dir("gpt2"), TRAIN, FAST, out, tmp_path)["method"] == "ke"


def test_cancel_leaves_the_model_unchanged_and_saves_the_last_finished_step(tiny_lm, tmp_path):
    assert_cancel_keeps_the_model_and_the_last_step(tiny_lm("llama"), KE, TRAIN, FAST, tmp_path / "ke.safetensors",
                                                    FACT)


def test_lr_decay_schedules_fall_to_near_zero_at_the_last_step():
    from core.methods.base import EditError
    from core.workflows.train import lr_factor

    assert [lr_factor("none", s, 4) for s in (1, 4)] == [1.0, 1.0]
    assert lr_factor("cosine", 1, 600) == 1.0 and lr_factor("cosine", 301, 600) == pytest.approx(0.5)
    assert 0 < lr_factor("cosine", 600, 600) < 1e-4 and lr_factor("linear", 600, 600) == pytest.approx(1 / 600)
    with pytest.raises(EditError, match="lr_decay"):
        lr_factor("step", 1, 10)


def test_a_resumed_run_decays_from_the_initial_rate_over_its_new_total(tiny_lm, tmp_path):
    lm, decay = tiny_lm("gpt2"), {"lr_decay": "linear"}
    out = tmp_path / "ke.safetensors"
    _train(lm, out, steps=2, overrides=decay)  # ends at half the rate (step 2 of 2: 1 − 1/2)
    options = TrainOptions(steps=4, save_every=100, val_every=100, resume=True)
    train_editor(lm, "ke", TRAIN, (), options, out, {**FAST, **decay})
    network = read_checkpoint(out, "ke").optimizer["param_groups"][0]
    assert network["initial_lr"] == pytest.approx(1e-2)  # FAST's rate, not the decayed one it stopped at
    assert network["lr"] == pytest.approx(1e-2 * 0.25)  # step 4 of 4: 1 − 3/4
