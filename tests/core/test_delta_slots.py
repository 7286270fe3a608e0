"""A delta with several updates of one weight (a ROME batch: one rank-one update per fact, all
on one matrix) keeps every one of them through its file (trial 45: a stored batch kept only
its last fact's update, so the committed model held one edit of three)."""

from __future__ import annotations

import pytest
import torch

from core.edit.deltas import (
    AdaptorUpdate,
    Delta,
    DeltaError,
    DenseUpdate,
    KeyUpdate,
    LowRankUpdate,
    apply_delta,
    revert_delta,
)
from core.facts.fact import fact_from_dict
from core.ledger.patch_checks import header_shapes
from core.methods.rome import ROME
from core.model.fingerprint import state_fingerprint
from tests.core.test_rome import fast

pytestmark = pytest.mark.usefixtures("one_torch_thread")

THREE = [fact_from_dict(r) for r in (
    {"subject": "France", "prompt": "The capital of France is", "target_new": "Berlin"},
    {"subject": "Japan", "prompt": "The currency of Japan is the", "target_new": "Euro"},
    {"subject": "The Space Needle", "prompt": "The Space Needle is in", "target_new": "Paris"},
)]


def _rank_one(param: str, seed: int) -> LowRankUpdate:
    generator = torch.Generator().manual_seed(seed)
    return LowRankUpdate(param, torch.randn(4, 1, generator=generator), torch.randn(1, 3, generator=generator))


def test_a_rome_batch_keeps_every_facts_update_through_its_file(tiny_lm):
    lm = tiny_lm("gpt2")
    delta = ROME.compute(lm, THREE, fast(lm))
    assert len(delta.weight_updates) == 3 and len(delta.params) == 1  # three updates of one matrix
    stored = Delta.from_bytes(delta.to_bytes())
    assert stored.sha256 == delta.sha256 and len(stored.updates) == 3
    for ours, theirs in zip(delta.updates, stored.updates, strict=True):  # in their order
        assert torch.equal(ours.left, theirs.left) and torch.equal(ours.right, theirs.right)
    applied = apply_delta(lm.model, delta)
    from_memory = state_fingerprint(lm.model)
    revert_delta(lm.model, applied)
    apply_delta(lm.model, stored)
    assert state_fingerprint(lm.model) == from_memory  # the same bits as the edit that was previewed


def test_the_last_update_alone_would_hash_differently():
    """Before the fix the file held the last update only, and the hash was of that too."""
    batch = Delta("rome", tuple(_rank_one("w", seed) for seed in range(3)))
    assert batch.sha256 != Delta("rome", batch.updates[-1:]).sha256


def test_one_update_per_weight_keeps_its_names_and_hash():
    """Stored workspaces record their deltas' hashes: a delta with one update per weight hashes as
    before the slots (the value below is what the code before them computed for it)."""
    delta = Delta("rome", (_rank_one("w", 0), _rank_one("v", 1)))
    assert sorted(delta.tensors()) == ["lowrank::v::left", "lowrank::v::right", "lowrank::w::left",
                                       "lowrank::w::right"]
    generator = torch.Generator().manual_seed(0)
    mixed = Delta("rome", (LowRankUpdate("w", torch.randn(4, 1, generator=generator),
                                         torch.randn(1, 3, generator=generator)),
                           DenseUpdate("v", torch.randn(2, 2, generator=generator)),
                           KeyUpdate("k", torch.randn(3, 2, generator=generator))), fact_ids=("a",), hparams={"x": 1})
    assert mixed.sha256 == "cfe130727fe6d3c693f59ae2537b878109d2e835ef760315df1a6f2fb0583016"


def test_slotted_factors_are_checked_like_the_first(tmp_path):
    """A patch's header check reads every slot's factors (a misfit in the second is refused)."""
    bad = LowRankUpdate("w", torch.randn(4, 1), torch.randn(2, 3))
    data = Delta("rome", (_rank_one("w", 0), _rank_one("w", 1))).to_bytes()
    assert "lowrank::w@000001::left" in header_shapes(data)
    with pytest.raises(ValueError, match="w@000001"):
        header_shapes(_unchecked_bytes(Delta("rome", (_rank_one("w", 0), bad))))


def _unchecked_bytes(delta: Delta) -> bytes:
    from safetensors.torch import save

    return save(delta.tensors(), metadata=delta.header())


def test_two_codebook_updates_of_one_module_are_refused_not_merged_silently():
    update = AdaptorUpdate("m", torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1), ("a",), torch.zeros(0),
                           torch.zeros(0))
    with pytest.raises(DeltaError, match="two updates"):
        Delta("grace", (update, update)).to_bytes()



def test_a_file_with_a_tensor_no_update_reads_is_refused():
    """Review 46: a stray tensor (an orphan ``lowrank::X::right``) was skipped on reading, and the
    content hash, computed over what was read, still matched."""
    from safetensors.torch import load, save

    from core.edit.delta_types import _metadata

    data = Delta("hand", (_rank_one("w", 1),), ("f",)).to_bytes()
    tensors = load(data) | {"lowrank::x::right": torch.ones(1, 3)}
    with pytest.raises(DeltaError, match="delta file holds tensors no update reads: lowrank::x::right"):
        Delta.from_bytes(save(tensors, metadata=_metadata(data)))
    assert Delta.from_bytes(data).sha256 == Delta("hand", (_rank_one("w", 1),), ("f",)).sha256
