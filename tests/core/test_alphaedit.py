"""AlphaEdit on tiny random models of every family: the null-space key side, the edited-key
memory its deltas carry, exact apply/revert, cancel; the CLI's consecutive batches."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from core.edit.deltas import Delta, DeltaError, LowRankUpdate, apply_delta, revert_delta
from core.edit.keymemory import edited_gram, memory
from core.methods import get_method
from core.methods.alphaedit import ALPHAEDIT, AlphaEditHParams, null_space_projection, projected_keys
from core.model.fingerprint import state_fingerprint
from core.util.progress import Cancelled, Progress
from tests.conftest import FAMILIES
from tests.core.edit_helpers import TWO_FACTS, cli_sequential_report

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# quick settings for random tiny models: mechanics, not quality. A threshold above every
# eigenvalue of the tiny models' covariances makes P = I (the null space is everything).
FAST = dict(layers=(1, 2), v_steps=6, v_lr=0.5, prefix_counts=(2,), prefix_lengths=(3,), stats_tokens=300,
            clamp_norm_factor=50.0, nullspace_threshold=1e6, l2=1e-3)


def fast(lm, **overrides) -> AlphaEditHParams:
    return dataclasses.replace(ALPHAEDIT.preset(lm), **{**FAST, **overrides})


def _no_hooks(lm) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in lm.model.modules())


def test_registry_and_presets(tiny_lm):
    lm = tiny_lm("gpt2")
    assert get_method("alphaedit") is ALPHAEDIT and ALPHAEDIT.hparams_class is AlphaEditHParams
    small = ALPHAEDIT.preset(lm)
    assert small.layers == (0,) or all(0 <= i < 4 for i in small.layers)

    def sized(family, layers):
        spec = dataclasses.replace(lm.spec, family=family)
        return dataclasses.replace(lm, spec=spec, info=dataclasses.replace(lm.info, layers=layers,
                                                                           parameters=8_000_000_000))

    xl = ALPHAEDIT.preset(sized("gpt2", 48))
    assert xl.layers == (13, 14, 15, 16, 17) and xl.nullspace_threshold == 2e-2 and xl.l2 == 10
    assert (xl.v_steps, xl.v_lr, xl.clamp_norm_factor) == (20, 0.5, 0.75)
    gptj = ALPHAEDIT.preset(sized("gpt-j", 28))
    assert gptj.layers == (3, 4, 5, 6, 7, 8) and gptj.v_steps == 25
    llama = ALPHAEDIT.preset(sized("llama", 32))
    assert llama.layers == (4, 5, 6, 7, 8) and llama.v_lr == 0.1 and llama.weight_decay == 0.5


def test_projection_spans_the_small_eigenvalues():
    torch.manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    cov = basis @ torch.diag(torch.tensor([1e-4, 1e-3, 0.5, 1.0, 2.0, 3.0], dtype=torch.float64)) @ basis.T
    p = null_space_projection(cov, 1e-2)
    assert torch.allclose(p, basis[:, :2] @ basis[:, :2].T, atol=1e-10)
    assert torch.allclose(p @ basis[:, 2:], torch.zeros(6, 4, dtype=torch.float64), atol=1e-10)


def test_update_leaves_preserved_keys_and_earlier_edits_alone():
    """ΔW = R Aᵀ with A = (P(G_p + KKᵀ) + αI)⁻¹ P K: zero on keys outside P's range, and the
    earlier edits' keys (G_p) held far better than without them."""
    torch.manual_seed(1)
    d = 8
    basis, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))
    null = basis[:, :5]
    p = null @ null.T
    preserved = basis[:, 5:].T.float()  # keys the covariance says are in use
    earlier = (torch.randn(3, 5, dtype=torch.float64) @ null.T).float()
    new = torch.randn(2, d)
    free = projected_keys(new, p, None, 1e-3)
    held = projected_keys(new, p, earlier.double().T @ earlier.double(), 1e-3)
    assert free.shape == (d, 2)
    assert (preserved @ free).abs().max() < 1e-5 and (preserved @ held).abs().max() < 1e-5
    assert (earlier @ held).norm() < 0.05 * (earlier @ free).norm()


@pytest.mark.parametrize("family", FAMILIES)
def test_alphaedit_every_family_apply_then_revert_exact(tiny_lm, family):
    lm = tiny_lm(family)
    before = state_fingerprint(lm.model)
    delta = ALPHAEDIT.compute(lm, TWO_FACTS, fast(lm))
    assert state_fingerprint(lm.model) == before and _no_hooks(lm) and memory(lm.model, create=False) is None
    params = [lm.spec.mlp_out_weight(i) for i in (1, 2)]
    assert [u.param for u in delta.updates if isinstance(u, LowRankUpdate)] == params
    assert [u.param for u in delta.key_updates] == params and delta.params == params
    assert all(u.keys.shape[0] == len(TWO_FACTS) for u in delta.key_updates)
    assert Delta.from_bytes(delta.to_bytes()).sha256 == delta.sha256
    assert Delta.from_bytes(delta.to_bytes()).key_updates[0].keys.equal(delta.key_updates[0].keys)
    receipt = apply_delta(lm.model, delta)
    assert state_fingerprint(lm.model) != before
    for u in delta.key_updates:
        assert torch.equal(edited_gram(lm.model, u.param), u.keys.double().T @ u.keys.double())
    revert_delta(lm.model, receipt)
    assert state_fingerprint(lm.model) == before
    assert all(edited_gram(lm.model, p) is None for p in params)


def test_a_second_edit_reads_the_first_edits_keys(tiny_lm):
    lm = tiny_lm("gpt2")
    hp = fast(lm)
    first = ALPHAEDIT.compute(lm, TWO_FACTS[:1], hp)
    alone = ALPHAEDIT.compute(lm, TWO_FACTS[1:], hp)
    receipt = apply_delta(lm.model, first)
    second = ALPHAEDIT.compute(lm, TWO_FACTS[1:], hp)
    receipt2 = apply_delta(lm.model, second)
    param = lm.spec.mlp_out_weight(1)
    assert memory(lm.model).get(param).count == 2
    k_first = first.key_updates[0].keys  # the first edit's keys at layer 1

    def moves(delta):  # how far the delta's layer-1 update moves the first edit's key
        (u,) = [u for u in delta.weight_updates if u.param == param]
        dense = u.dense()
        return float((k_first @ dense).norm() if lm.spec.weight_layout == "in_out" else (dense @ k_first.T).norm())

    assert moves(second) < 0.5 * moves(alone)
    with pytest.raises(DeltaError, match="revert the later edits first"):
        revert_delta(lm.model, receipt)
    revert_delta(lm.model, receipt2)
    revert_delta(lm.model, receipt)
    assert memory(lm.model).get(param) is None


def test_an_empty_null_space_is_refused(tiny_lm):
    lm = tiny_lm("gpt2")
    before = state_fingerprint(lm.model)
    with pytest.raises(Exception, match="null space is empty"):
        ALPHAEDIT.compute(lm, TWO_FACTS, fast(lm, nullspace_threshold=1e-30))
    assert state_fingerprint(lm.model) == before


@pytest.mark.parametrize("aware", [False, True])
def test_cancel_mid_edit_leaves_model_unchanged(tiny_lm, aware):
    lm = tiny_lm("llama")
    before = state_fingerprint(lm.model)
    stop = threading.Event()
    progress = Progress(lambda event: stop.set() if event.message.startswith("layer") else None, stop)
    with pytest.raises(Cancelled):
        ALPHAEDIT.compute(lm, TWO_FACTS, fast(lm, v_loss_threshold=0.0, insertion_aware=aware), progress)
    assert state_fingerprint(lm.model) == before and _no_hooks(lm)
    assert memory(lm.model, create=False) is None


def test_cli_sequential_batches(tiny_model_dir, tmp_path, capsys):
    from core.cli.main import main

    report = cli_sequential_report(capsys, tiny_model_dir("gpt2"), tmp_path, "alphaedit", FAST)
    facts = tmp_path / "facts.jsonl"  # the facts the report's edits were of
    shas = [e["delta_sha256"] for e in report["edits"]]
    assert shas[0] == shas[1] != shas[2] and "after_all_edits" in report["retention"]
    code = main(["edit", "--model", str(tiny_model_dir("gpt2")), "--facts", str(facts), "--method", "alphaedit",
                 "--mode", "batch", "--batch-size", "2"])
    assert code != 0 and "--batch-size is for --mode sequential" in capsys.readouterr().err
