"""Deltas that are not low-rank still replay in log order: codebook entries (GRACE), edited keys
(AlphaEdit) and full-matrix differences, interleaved with rank-one updates, check out and
revert exactly as applying them one by one does."""

import pytest
import torch

from core.edit.adaptors import entry_ids, ids_tensor, live_states
from core.edit.deltas import AdaptorUpdate, Delta, DenseUpdate, KeyUpdate, LowRankUpdate, apply_delta
from core.edit.keymemory import memory
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions
from tests.core.ledger.helpers import BIAS, PARAM, make_facts

CPU = LoadOptions(device="cpu")
MODULE = "transformer.h.1.mlp"  # 32 -> 32 in the tiny GPT-2


def _rand(generator, *shape, scale=1.0):
    return torch.randn(*shape, generator=generator) * scale


def _entry(generator, label: str, resized=(), new_radii=()) -> AdaptorUpdate:
    return AdaptorUpdate(MODULE, _rand(generator, 1, 32), _rand(generator, 1, 32), torch.tensor([1.0]), (label,),
                         ids_tensor(list(resized)), torch.tensor(list(new_radii), dtype=torch.float32))


def _log(fact_ids: list[str]) -> list[Delta]:
    """Seven deltas: rank-one, entry e1, full matrix, keys + rank-one, e2 widening e1, keys, rank-one."""
    g = torch.Generator().manual_seed(3)

    def low(scale=1e-2):
        return LowRankUpdate(PARAM, _rand(g, 128, 1, scale=scale), _rand(g, 1, 32))

    first = _entry(g, "Paris")
    e1 = entry_ids(_codebook_of(first))[0]
    full = (DenseUpdate(PARAM, _rand(g, 128, 32, scale=1e-3)), DenseUpdate(BIAS, _rand(g, 128)))
    updates = [(low(),), (first,), full, (KeyUpdate(PARAM, _rand(g, 2, 128)), low()),
               (_entry(g, "Rome", [e1], [5.0]),), (KeyUpdate(PARAM, _rand(g, 1, 128)),), (low(),)]
    return [Delta("hand", u, (fact_id,)) for u, fact_id in zip(updates, fact_ids, strict=True)]


def _codebook_of(update: AdaptorUpdate):
    from core.edit.adaptors import appended, empty_state

    return appended(empty_state(MODULE, 32, 32), update.keys, update.values, update.radii, update.labels)


@pytest.fixture
def mixed(workspace):
    facts = make_facts(7)
    workspace.add_facts(facts)
    runs = []
    for fact, delta in zip(facts, _log([f.id for f in facts]), strict=True):
        runs.append(workspace.record_run(facts=[fact], delta=delta, computed_on=workspace.head().state_fingerprint,
                                         metrics={"protocol": "test-protocol", "pre": {}, "post": {}, "per_fact": []}))
        workspace.review(fact.id, "approve")
        workspace.commit(f"edit {len(runs)}", [runs[-1].id])
    return workspace, runs


def _by_hand(lm, ws, runs):
    for run in runs:
        apply_delta(lm.model, ws.delta(run.id))
    return lm


def _state(lm) -> tuple:
    """Everything a replay rebuilds: weights and codebooks (the fingerprint), and the edited keys."""
    keys = memory(lm.model, create=False)
    grams = {p: (s.count, s.gram) for p, s in (keys.states() if keys is not None else {}).items()}
    return state_fingerprint(lm.model), {m: s.digest() for m, s in live_states(lm.model).items()}, grams


def _same(a: tuple, b: tuple) -> bool:
    return a[:2] == b[:2] and a[2].keys() == b[2].keys() and all(
        a[2][p][0] == b[2][p][0] and torch.equal(a[2][p][1], b[2][p][1]) for p in a[2])


def test_checkout_rebuilds_weights_codebooks_and_keys_in_order(mixed, tiny_lm):
    ws, runs = mixed
    head = ws.checkout("HEAD", options=CPU)
    assert _same(_state(head.lm), _state(_by_hand(tiny_lm("gpt2"), ws, runs)))
    (book,) = live_states(head.lm.model).values()
    assert book.labels == ("Paris", "Rome") and book.radii.tolist() == [5.0, 1.0]  # e2 widened e1
    assert memory(head.lm.model).get(PARAM).count == 3
    assert not _same(_state(head.lm), _state(_by_hand(tiny_lm("gpt2"), ws, [*runs[:1], runs[4], *runs[1:4],
                                                                             *runs[5:]])))  # order shows
    assert ws.checkout("HEAD", options=CPU).verified


def test_reverting_an_entry_and_keys_replays_the_rest_exactly(mixed, tiny_lm):
    ws, runs = mixed
    reverted = ws.revert([f"run:{runs[1].id}", f"run:{runs[3].id}"], "drop e1 and the first keys", options=CPU)
    rest = [r for i, r in enumerate(runs) if i not in (1, 3)]
    assert _same(_state(reverted.lm), _state(_by_hand(tiny_lm("gpt2"), ws, rest)))
    (book,) = live_states(reverted.lm.model).values()
    assert book.labels == ("Rome",) and book.radii.tolist() == [1.0]  # e2's widening found no e1
    assert memory(reverted.lm.model).get(PARAM).count == 1
