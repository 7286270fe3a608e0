"""A low-rank delta is checked against its parameter from the factors' shapes, before
anything is multiplied: a huge N x 1 @ 1 x N pair is refused at once, allocating nothing big."""

from __future__ import annotations

import resource
import time

import pytest
import torch

from core.edit.deltas import Delta, DeltaError, DenseUpdate, LowRankUpdate, apply_delta
from core.model.fingerprint import state_fingerprint

PARAM = "transformer.h.1.mlp.c_proj.weight"  # (128, 32) in the tiny GPT-2


def _delta(*updates) -> Delta:
    return Delta(method="hand", updates=tuple(updates), fact_ids=("f",), hparams={}, info={})


@pytest.fixture
def lm(tiny_lm):
    return tiny_lm("gpt2")


def test_huge_rank_one_pair_is_refused_without_multiplying(lm):
    n = 300_000  # the product would be 300,000 x 300,000 float32: 360 GB
    update = LowRankUpdate(PARAM, torch.zeros(n, 1), torch.zeros(1, n))
    before_state, before_rss = state_fingerprint(lm.model), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(DeltaError, match=r"shape \(300000, 300000\), the model's is \(128, 32\)"):
        apply_delta(lm.model, _delta(update))
    assert time.perf_counter() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_rss < 64 * 1024  # KiB: under 64 MiB
    assert state_fingerprint(lm.model) == before_state


def test_product_shape_comes_from_the_factors():
    update = LowRankUpdate(PARAM, torch.zeros(20_000, 2), torch.zeros(2, 7))
    assert update.shape == (20_000, 7)
    assert DenseUpdate(PARAM, torch.zeros(3, 4)).shape == (3, 4)


@pytest.mark.parametrize("left,right", [((128, 2), (3, 32)), ((128,), (1, 32)), ((128, 1, 1), (1, 32))])
def test_factors_that_do_not_multiply_are_refused(lm, left, right):
    update = LowRankUpdate(PARAM, torch.zeros(*left), torch.zeros(*right))
    with pytest.raises(DeltaError, match="do not multiply"):
        apply_delta(lm.model, _delta(update))


def test_a_later_misfit_leaves_every_weight_untouched(lm):
    good = LowRankUpdate(PARAM, torch.ones(128, 1), torch.ones(1, 32))
    bad = LowRankUpdate("transformer.h.0.mlp.c_proj.weight", torch.zeros(100_000, 1), torch.zeros(1, 100_000))
    before = state_fingerprint(lm.model)
    with pytest.raises(DeltaError):
        apply_delta(lm.model, _delta(good, bad))
    assert state_fingerprint(lm.model) == before


def test_fitting_factors_still_apply(lm):
    update = LowRankUpdate(PARAM, torch.ones(128, 1), torch.full((1, 32), 0.5))
    original = dict(lm.model.named_parameters())[PARAM].detach().clone()
    apply_delta(lm.model, _delta(update))
    assert torch.allclose(dict(lm.model.named_parameters())[PARAM], original + 0.5)
