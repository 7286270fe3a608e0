"""A replay (checkout, revert, patch) is all or nothing and undoable: a delta that fails, or a
cancel, half-way puts the weights, codebooks and edited keys back exactly as they were."""

import pytest
import torch

from core.edit.adaptors import live_states
from core.edit.deltas import AdaptorUpdate, Delta, DeltaError, KeyUpdate, LowRankUpdate, apply_delta
from core.edit.keymemory import memory
from core.edit.replay import replay_deltas, undo_replay
from core.model.fingerprint import state_fingerprint
from core.util.progress import Cancelled, Progress
from tests.core.ledger.helpers import PARAM

MODULE = "transformer.h.1.mlp"  # 32 -> 32 in the tiny GPT-2


def _delta(seed: int, width: int = 32) -> Delta:
    """A rank-one update, one codebook entry (``width`` wide) and one edited key."""
    g = torch.Generator().manual_seed(seed)
    entry = AdaptorUpdate(MODULE, torch.randn(1, width, generator=g), torch.randn(1, 32, generator=g),
                          torch.tensor([1.0]), (f"label{seed}",), torch.zeros(0, 32, dtype=torch.uint8),
                          torch.zeros(0))
    return Delta("hand", (LowRankUpdate(PARAM, torch.randn(128, 1, generator=g), torch.randn(1, 32, generator=g)),
                          entry, KeyUpdate(PARAM, torch.randn(1, 128, generator=g))))


@pytest.fixture
def edited(tiny_lm):
    """A model that already holds a codebook and edited keys, and what it is."""
    lm = tiny_lm("gpt2")
    apply_delta(lm.model, _delta(0))
    return lm, _state(lm)


def _state(lm) -> tuple:
    keys = memory(lm.model, create=False)
    return state_fingerprint(lm.model), live_states(lm.model), keys.states() if keys is not None else {}


def _same(lm, state: tuple) -> bool:
    now = _state(lm)  # codebooks and key states are immutable objects: the very ones must be back
    return now[0] == state[0] and all(now[i].keys() == state[i].keys() and all(
        now[i][k] is state[i][k] for k in now[i]) for i in (1, 2))


def test_a_failing_delta_half_way_leaves_the_model_as_it_was(edited):
    lm, before = edited
    with pytest.raises(DeltaError, match=r"widths"):
        replay_deltas(lm.model, [_delta(1), _delta(2), _delta(3, width=16), _delta(4)])
    assert _same(lm, before)


def test_a_cancel_half_way_leaves_the_model_as_it_was(edited):
    lm, before = edited
    reports = []

    def on_report(event):
        reports.append(event)
        if len(reports) == 2:
            progress.cancel()

    progress = Progress(on_report)
    with pytest.raises(Cancelled):
        replay_deltas(lm.model, [_delta(i) for i in range(1, 6)], progress)
    assert len(reports) == 2 and _same(lm, before)


def test_a_delta_that_does_not_fit_is_refused_before_anything_changes(edited):
    lm, before = edited
    alien = Delta("hand", (LowRankUpdate("no.such.weight", torch.ones(2, 1), torch.ones(1, 2)),))
    with pytest.raises(DeltaError, match=r"which this model does not have"):
        replay_deltas(lm.model, [_delta(1), alien])
    assert _same(lm, before)


def test_a_replay_undone_gives_back_the_start_exactly(edited):
    lm, before = edited
    replayed = replay_deltas(lm.model, [_delta(i) for i in range(1, 4)])
    assert len(live_states(lm.model)[MODULE]) == 4 and memory(lm.model).get(PARAM).count == 4
    undo_replay(lm.model, replayed)
    assert _same(lm, before)
