"""COMEBA-HK on tiny random models: hook layers that take every update while the weights stay,
Eq. 13's accumulated key gram and residual on the hook weights, the validated hook's z-score
swap and Eq. 18's threshold, exact apply/revert, save/load, cancel, and the CLI."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest
import torch

import core.methods.comeba as comeba_module
from core.edit.deltas import Delta, DeltaError, apply_delta, revert_delta, weights_restored
from core.edit.hookfiles import FILE_NAME
from core.edit.hooklayers import (
    TEMPORARY,
    HookStep,
    fresh,
    live_states,
    registry,
    token_z_scores,
    updated,
)
from core.edit.hooks import capture_many
from core.methods import get_method
from core.methods.comeba import COMEBA_HK, COMEBAHParams, accumulated_keys
from core.model.fingerprint import state_fingerprint
from core.model.tokens import encode
from core.util.progress import Cancelled, Progress
from tests.conftest import FAMILIES
from tests.core.edit_helpers import TWO_FACTS, cli_sequential_report

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Mechanics, not quality: the tiny models are random.
FAST = dict(layers=(1, 2), v_steps=6, v_lr=0.5, prefix_counts=(2,), prefix_lengths=(3,), stats_tokens=300,
            clamp_norm_factor=50.0, essence_samples=0, insertion_aware=False, mom2_weight=10.0)
UNRELATED = ["The official language of Germany is German.", "Toko Yasuda plays the guitar."]


def fast(lm, **overrides) -> COMEBAHParams:
    return dataclasses.replace(COMEBA_HK.preset(lm), **{**FAST, **overrides})


def _no_hooks(lm) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in lm.model.modules())


def _logits(lm, text: str):
    with torch.no_grad():
        return lm.model(input_ids=torch.tensor([encode(lm.tokenizer, text)])).logits[0]


def _weights(lm) -> dict:
    return {k: v.clone() for k, v in lm.model.state_dict().items()}


def test_registry_and_presets(tiny_lm):
    lm = tiny_lm("gpt2")
    assert get_method("comeba-hk") is COMEBA_HK and COMEBA_HK.hparams_class is COMEBAHParams

    def sized(family, layers):
        spec = dataclasses.replace(lm.spec, family=family)
        return dataclasses.replace(lm, spec=spec, info=dataclasses.replace(lm.info, layers=layers,
                                                                           parameters=8_000_000_000))

    xl = COMEBA_HK.preset(sized("gpt2", 48))
    assert xl.layers == (13, 14, 15, 16, 17) and xl.threshold_init == 2.2 and xl.mom2_weight == 15000
    assert not xl.insertion_aware and (xl.v_steps, xl.clamp_norm_factor) == (20, 0.75)
    assert COMEBA_HK.preset(sized("gpt-j", 28)).layers == (3, 4, 5, 6, 7, 8)
    assert COMEBA_HK.preset(lm).threshold_init == 2.2  # the paper's start on every model


def test_z_scores_match_torch_and_skip_padding():
    norms = torch.tensor([[1.0, 2.0, 7.0, 3.0, 0.0], [4.0, 1.0, 9.0, 0.0, 0.0]])
    valid = torch.tensor([[True] * 5, [True, True, True, False, False]])
    z = token_z_scores(norms, valid)
    assert torch.allclose(z[0], (norms[0] - norms[0].mean()) / norms[0].std())
    row = norms[1, :3]
    assert torch.allclose(z[1, :3], (row - row.mean()) / row.std()) and torch.isinf(z[1, 3:]).all()
    assert torch.isinf(token_z_scores(torch.tensor([[5.0]]), torch.tensor([[True]]))).all()  # one token
    assert torch.isinf(token_z_scores(torch.ones(1, 4), torch.ones(1, 4, dtype=torch.bool))).all()  # all equal


def test_accumulated_keys_solve_eq_13():
    torch.manual_seed(0)
    d = 6
    cov, keys, earlier = torch.eye(d) * 0.5, torch.randn(2, d), torch.randn(3, d).double()
    gram = earlier.T @ earlier
    a = accumulated_keys(keys, cov, gram, 4.0, 0.0)
    k = keys.double().T
    assert torch.allclose(a.double(), torch.linalg.solve(4.0 * cov.double() + gram + k @ k.T, k), atol=1e-5)
    assert torch.allclose(accumulated_keys(keys, None, None, 4.0, 0.0).double(),
                          torch.linalg.solve(4.0 * torch.eye(d, dtype=torch.float64) + k @ k.T, k), atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_compute_leaves_model_then_apply_revert_exact(tiny_lm, family):
    lm = tiny_lm(family)
    before, weights = state_fingerprint(lm.model), _weights(lm)
    delta = COMEBA_HK.compute(lm, TWO_FACTS, fast(lm))
    assert state_fingerprint(lm.model) == before and _no_hooks(lm) and not live_states(lm.model)
    params = [lm.spec.mlp_out_weight(i) for i in (1, 2)]
    assert [u.param for u in delta.hook_updates] == params and delta.params == [] == list(delta.weight_updates)
    assert all(u.keys.shape[0] == 2 and u.left.shape[1] == u.right.shape[0] == 2 for u in delta.hook_updates)
    loaded = Delta.from_bytes(delta.to_bytes())
    assert loaded.sha256 == delta.sha256 and loaded.hook_updates[0].thresholds.equal(delta.hook_updates[0].thresholds)
    receipt = apply_delta(lm.model, loaded)
    assert state_fingerprint(lm.model) != before
    assert all(torch.equal(v, weights[k]) for k, v in lm.model.state_dict().items())  # the base is untouched
    assert sorted(live_states(lm.model)) == params
    revert_delta(lm.model, receipt)
    assert state_fingerprint(lm.model) == before and _no_hooks(lm)


def test_temporary_hook_is_the_hook_weights_in_place(tiny_lm):
    """Temporary mode replaces the whole output by (W0 + D)x + b: the same as writing D into W0."""
    lm = tiny_lm("llama")
    apply_delta(lm.model, COMEBA_HK.compute(lm, TWO_FACTS, fast(lm)))
    reg = registry(lm.model)
    reg.modes.update(dict.fromkeys(reg.states(), TEMPORARY))
    hooked = _logits(lm, UNRELATED[0])
    reg.modes.clear()
    states = reg.states()
    for param in list(states):
        reg.set(param, None)
    params = dict(lm.model.named_parameters())
    with torch.no_grad():
        for param, state in states.items():
            d = sum(s.left @ s.right for s in state.steps)  # (d_out, d_in); Llama weights are (out, in)
            params[param].add_(d)
    assert torch.allclose(hooked, _logits(lm, UNRELATED[0]), atol=1e-4)


def test_two_batches_accumulate_on_the_hook_weights(tiny_lm, monkeypatch):
    """The second batch's solve holds the first's keys (Eq. 13's K_pK_pᵀ) and its residual is
    measured on the first batch's hook weights, not on W0."""
    lm = tiny_lm("gpt2")
    hp = fast(lm)
    first = COMEBA_HK.compute(lm, TWO_FACTS[:1], hp)
    receipt = apply_delta(lm.model, first)
    grams, currents = [], []
    real_keys, real_measure = comeba_module.accumulated_keys, comeba_module.keys_and_residuals

    def spy_keys(keys, cov, gram, *args):
        grams.append(gram)
        return real_keys(keys, cov, gram, *args)

    def spy_measure(lm_, layer, last, problems):
        keys, current = real_measure(lm_, layer, last, problems)
        currents.append((layer, current, problems))
        return keys, current

    monkeypatch.setattr(comeba_module, "accumulated_keys", spy_keys)
    monkeypatch.setattr(comeba_module, "keys_and_residuals", spy_measure)
    second = COMEBA_HK.compute(lm, TWO_FACTS[1:], hp)
    for gram, update in zip(grams, first.hook_updates, strict=True):
        assert torch.equal(gram, update.keys.double().T @ update.keys.double())
    # the first layer's residual (call 2; call 1 anchors z* on the validated model) vs the hook
    # weights written into a plain copy of the weights
    layer, current, problems = currents[1]
    reg = registry(lm.model)
    states = reg.states()
    params = dict(lm.model.named_parameters())
    try:
        for param in states:
            reg.set(param, None)
        _, on_base = real_measure(lm, layer, 2, problems)
        with weights_restored(lm.model, list(states)), torch.no_grad():
            for param, state in states.items():
                params[param].add_(sum(s.left @ s.right for s in state.steps).T)  # GPT-2 stores (in, out)
            _, on_hook_weights = real_measure(lm, layer, 2, problems)
    finally:
        for param, state in states.items():
            reg.set(param, state)
    assert torch.allclose(current, on_hook_weights, atol=1e-4) and not torch.allclose(current, on_base, atol=1e-2)
    receipt2 = apply_delta(lm.model, second)
    state = registry(lm.model).get(lm.spec.mlp_out_weight(1))
    assert len(state.steps) == 2 and state.count == 2
    with pytest.raises(DeltaError, match="revert the later edits first"):
        revert_delta(lm.model, receipt)
    revert_delta(lm.model, receipt2)
    revert_delta(lm.model, receipt)
    assert not live_states(lm.model)


def _max_z(lm, param: str, text: str) -> float:
    """The prompt's maximum z-score of ‖D·x‖ at ``param``'s hook layer, measured by hand."""
    state, module = registry(lm.model).get(param), param.rsplit(".", 1)[0]
    with torch.no_grad(), capture_many(lm.model, [module]) as seen:
        lm.model(input_ids=torch.tensor([encode(lm.tokenizer, text)]))
    diff = sum(s.left @ s.right for s in state.steps)
    norms = (seen[module].input @ diff.T).norm(dim=-1)
    return float(token_z_scores(norms, torch.ones_like(norms, dtype=torch.bool)).max())


def test_threshold_follows_eq_18(tiny_lm):
    """ε starts at threshold_init and after each batch is min(ε, the smallest per-prompt maximum
    z-score of that batch's prompts), measured with the new hook weights."""
    lm = tiny_lm("gpt2")
    hp = fast(lm, layers=(1,), threshold_init=2.2)
    param = lm.spec.mlp_out_weight(1)
    first = COMEBA_HK.compute(lm, TWO_FACTS, hp)
    initial, candidate = first.hook_updates[0].thresholds.tolist()
    apply_delta(lm.model, first)
    by_hand = min(_max_z(lm, param, f.prompt) for f in TWO_FACTS)  # one layer: nothing before it swaps
    assert initial == 2.2 and candidate == pytest.approx(by_hand, abs=1e-4)
    assert registry(lm.model).get(param).threshold == min(2.2, candidate)
    assert first.info["thresholds"]["1"] == [2.2, min(2.2, candidate)]
    second = COMEBA_HK.compute(lm, TWO_FACTS[:1], dataclasses.replace(hp, threshold_init=99.0))
    apply_delta(lm.model, second)  # an existing hook layer keeps its own start
    assert registry(lm.model).get(param).threshold == min(2.2, candidate, second.hook_updates[0].thresholds[1])
    assert updated(fresh(param, 3.0), HookStep(*(torch.zeros(1, 1),) * 3, 5.0)).threshold == 3.0


def test_unrelated_input_passes_through_below_the_threshold(tiny_lm):
    """The validated hook changes nothing where no token's z-score reaches ε: bit for bit the base
    model's output; set ε just under the input's maximum and that token (and what follows) changes."""
    lm = tiny_lm("gpt2")
    base = _logits(lm, UNRELATED[1])
    apply_delta(lm.model, COMEBA_HK.compute(lm, TWO_FACTS, fast(lm, layers=(1,))))
    reg, param = registry(lm.model), lm.spec.mlp_out_weight(1)
    state = reg.get(param)
    top = _max_z(lm, param, UNRELATED[1])
    reg.set(param, dataclasses.replace(state, threshold=top + 1e-3))
    assert torch.equal(_logits(lm, UNRELATED[1]), base)
    reg.set(param, dataclasses.replace(state, threshold=top - 1e-3))
    changed = (_logits(lm, UNRELATED[1]) - base).abs().amax(dim=-1) > 0
    first = int(changed.nonzero()[0])
    assert changed.any() and not changed[:first].any()


def test_padding_does_not_change_the_swap(tiny_lm):
    """z-scores are taken over each sequence's own tokens: padded in a batch (right or left, as
    generation pads) a prompt gets the same outputs as alone."""
    from core.model.tokens import model_batch

    lm = tiny_lm("gpt2")
    base = _logits(lm, TWO_FACTS[1].prompt)
    apply_delta(lm.model, COMEBA_HK.compute(lm, TWO_FACTS, fast(lm, threshold_init=0.5)))
    short, long = (encode(lm.tokenizer, t) for t in (TWO_FACTS[1].prompt, UNRELATED[0]))
    ids, mask = model_batch(lm, [short, long])
    with torch.no_grad():
        batched = lm.model(input_ids=ids, attention_mask=mask).logits[0, : len(short)]
        left = torch.cat([torch.zeros(len(long) - len(short), dtype=torch.long), torch.tensor(short)])
        left_mask = torch.stack([(torch.arange(len(long)) >= len(long) - len(short)).long(),
                                 torch.ones(len(long), dtype=torch.long)])
        positions = (left_mask.cumsum(1) - 1).clamp_min(0)  # as generation numbers left-padded rows
        lefted = lm.model(input_ids=torch.stack([left, torch.tensor(long)]), attention_mask=left_mask,
                          position_ids=positions).logits
    alone = _logits(lm, TWO_FACTS[1].prompt)
    assert not torch.allclose(alone, base, atol=1e-3)  # the hook swaps something in this prompt
    assert torch.allclose(batched, alone, atol=1e-4)
    assert torch.allclose(lefted[0, -1], alone[-1], atol=1e-3)


def test_saved_folder_reloads_the_hook_layers(tiny_lm, tmp_path):
    from core.model.loading import LoadOptions, load_model
    from core.model.saving import save_model_folder

    lm = tiny_lm("gpt2")
    apply_delta(lm.model, COMEBA_HK.compute(lm, TWO_FACTS, fast(lm)))
    save_model_folder(lm, tmp_path / "saved")
    assert (tmp_path / "saved" / FILE_NAME).is_file()
    again = load_model(tmp_path / "saved", LoadOptions(device="cpu"))
    assert state_fingerprint(again.model) == state_fingerprint(lm.model)
    assert torch.equal(_logits(again, UNRELATED[0]), _logits(lm, UNRELATED[0]))
    assert {p: s.digest for p, s in live_states(again.model).items()} == \
        {p: s.digest for p, s in live_states(lm.model).items()}


def test_a_delta_for_another_model_is_refused(tiny_lm):
    gpt2, llama = tiny_lm("gpt2"), tiny_lm("llama")
    delta = COMEBA_HK.compute(gpt2, TWO_FACTS, fast(gpt2))
    before = state_fingerprint(llama.model)
    with pytest.raises(DeltaError):
        apply_delta(llama.model, delta)
    assert state_fingerprint(llama.model) == before and _no_hooks(llama)


def test_replay_rebuilds_the_hook_layers_and_undoes_them(tiny_lm):
    """Checkout's receipt-free replay (``core.edit.replay``): the same hook layers as applying
    delta after delta; undone exactly, also when a later delta fails part-way."""
    from core.edit.replay import replay_deltas, undo_replay

    lm = tiny_lm("gpt2")
    first = COMEBA_HK.compute(lm, TWO_FACTS[:1], fast(lm))
    receipt = apply_delta(lm.model, first)
    second = COMEBA_HK.compute(lm, TWO_FACTS[1:], fast(lm))
    apply_delta(lm.model, second)
    applied = state_fingerprint(lm.model)
    fresh_lm = tiny_lm("gpt2")
    base = state_fingerprint(fresh_lm.model)
    replayed = replay_deltas(fresh_lm.model, [first, second])
    assert state_fingerprint(fresh_lm.model) == applied
    undo_replay(fresh_lm.model, replayed)
    assert state_fingerprint(fresh_lm.model) == base and _no_hooks(fresh_lm)
    wrong = dataclasses.replace(second.hook_updates[0], param="transformer.h.99.mlp.c_proj.weight")
    bad = dataclasses.replace(second, updates=(*second.updates, wrong))
    with pytest.raises(DeltaError):
        replay_deltas(fresh_lm.model, [first, bad])
    assert state_fingerprint(fresh_lm.model) == base and _no_hooks(fresh_lm)
    assert receipt.hooks_written


@pytest.mark.parametrize("aware", [False, True])
def test_cancel_mid_edit_leaves_model_unchanged(tiny_lm, aware):
    lm = tiny_lm("llama")
    apply_delta(lm.model, COMEBA_HK.compute(lm, TWO_FACTS[:1], fast(lm)))  # an earlier batch stays as it was
    before, states = state_fingerprint(lm.model), live_states(lm.model)
    stop = threading.Event()
    progress = Progress(lambda event: stop.set() if event.message.startswith("layer") else None, stop)
    with pytest.raises(Cancelled):
        COMEBA_HK.compute(lm, TWO_FACTS, fast(lm, v_loss_threshold=0.0, insertion_aware=aware), progress)
    after = live_states(lm.model)
    assert state_fingerprint(lm.model) == before and all(after[p] is s for p, s in states.items())
    assert not registry(lm.model).modes and registry(lm.model).calibration is None


def test_cli_sequential_batches(tiny_model_dir, tmp_path, capsys):
    report = cli_sequential_report(capsys, tiny_model_dir("gpt2"), tmp_path, "comeba-hk", FAST)
    assert math.isfinite(report["retention"]["after_all_edits"]["reliability"])


def test_a_scored_answer_is_no_part_of_the_input(tiny_lm):
    """Trial 46: the z-scores took in the answer scored after the prompt, so "prompt + answer"
    (teacher forcing) swapped at the prompt's tokens where the prompt alone did not (P(Japanese)
    0.045 scored, 0.995 generated) and the commit gate refused an edit whose model answered
    right. Scored as answers, the prompt's positions read as the prompt alone gives them."""
    from core.metrics.scoring import score_pairs
    from core.model.tokens import encode_pair

    lm = tiny_lm("gpt2")
    apply_delta(lm.model, COMEBA_HK.compute(lm, TWO_FACTS, fast(lm, threshold_init=0.5)))
    differs = 0
    for prompt in (TWO_FACTS[1].prompt, UNRELATED[0], "Paris is lovely in"):
        answer = "Paris is lovely and the Space Needle"
        alone = _logits(lm, prompt)[-1].log_softmax(-1)
        [score] = score_pairs(lm, [(prompt, answer)])
        assert score.argmax_ids[0] == int(alone.argmax())
        assert abs(score.logprobs[0] - float(alone[score.token_ids[0]])) < 1e-4, prompt
        pair = encode_pair(lm.tokenizer, prompt, answer)
        whole = _logits(lm, lm.tokenizer.decode(pair.ids))[len(pair.prompt_ids) - 1].log_softmax(-1)
        differs += abs(float(whole[score.token_ids[0]]) - score.logprobs[0]) > 1e-4
    assert differs, "in one pass without the scope, the answer changes what the prompt answers"
