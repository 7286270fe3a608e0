"""The receipt-free replay (checkout, revert, patches) gives bit for bit the weights of the old
replay, one ``apply_delta`` after another, so fingerprints recorded by either one agree."""

import pytest
import torch

from core.edit.deltas import Delta, DenseUpdate, LowRankUpdate, apply_delta
from core.edit.replay import replay_deltas
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from tests.core.ledger.helpers import BIAS, PARAM, make_facts

CPU = LoadOptions(device="cpu")


def _deltas(count: int, fact_ids: list[str] | None = None) -> list[Delta]:
    """Mostly rank-one updates of one matrix (as ROME makes them), a rank-3 one every 7th and a
    dense one every 5th: the rounding of each addition shows in the result."""
    generator = torch.Generator().manual_seed(7)
    out = []
    for i in range(count):
        rank = 3 if i % 7 == 6 else 1
        updates = [LowRankUpdate(PARAM, torch.randn(128, rank, generator=generator) * 1e-2,
                                 torch.randn(rank, 32, generator=generator))]
        if i % 5 == 4:
            updates += [DenseUpdate(BIAS, torch.randn(128, generator=generator) * 1e-2),
                        DenseUpdate(PARAM, torch.randn(128, 32, generator=generator) * 1e-3)]
        out.append(Delta("hand", tuple(updates), (fact_ids[i],) if fact_ids else ()))
    return out


def _old_replay(model, deltas: list[Delta]) -> None:
    """The arithmetic of the replay before this one, written out: float32 sum, one rounding per update."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for delta in deltas:
            for update in delta.weight_updates:
                p = params[update.param]
                p.copy_((p.float() + update.dense().to(p.device)).to(p.dtype))


def _same_bits(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].view(torch.uint8), sb[k].view(torch.uint8)) for k in sa)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_replay_equals_the_old_replay_and_apply_delta_bit_for_bit(tiny_model_dir, dtype):
    folder, deltas = tiny_model_dir("gpt2"), _deltas(60)
    options = LoadOptions(device="cpu", dtype=dtype)
    new, old, applied = (load_model(folder, options) for _ in range(3))
    replayed = replay_deltas(new.model, deltas)
    _old_replay(old.model, deltas)
    for delta in deltas:
        apply_delta(applied.model, delta)
    assert replayed.count == 60 and sorted(replayed.originals) == sorted([BIAS, PARAM])
    assert _same_bits(new.model, old.model) and _same_bits(new.model, applied.model)
    assert state_fingerprint(new.model) == state_fingerprint(old.model) == state_fingerprint(applied.model)


def test_summing_the_factors_would_round_differently(tiny_lm):
    """Why the replay adds update by update: one product per matrix gives other bits on this
    data (so the equality above is not a property of the data)."""
    deltas = [d for d in _deltas(60) if len(d.updates) == 1]
    lm, summed = tiny_lm("gpt2"), tiny_lm("gpt2")
    replay_deltas(lm.model, deltas)
    left = torch.cat([d.updates[0].left for d in deltas], dim=1)
    right = torch.cat([d.updates[0].right for d in deltas], dim=0)
    with torch.no_grad():
        dict(summed.model.named_parameters())[PARAM].add_(left @ right)
    assert not _same_bits(lm.model, summed.model)


def _record(ws, fact, delta):
    return ws.record_run(facts=[fact], delta=delta, computed_on=ws.head().state_fingerprint, seconds=0.0,
                         metrics={"protocol": "test-protocol", "pre": {}, "post": {}, "per_fact": []})


@pytest.fixture
def long_log(workspace):
    """40 edits, one commit each, and their deltas as stored (a delta comes back with its
    updates sorted by name, which is the order every replay of the log applies them in)."""
    facts = make_facts(40)
    workspace.add_facts(facts)
    runs = []
    for fact, delta in zip(facts, _deltas(40, [f.id for f in facts]), strict=True):
        runs.append(_record(workspace, fact, delta))
        workspace.review(fact.id, "approve")
        workspace.commit(f"edit {len(runs)}", [runs[-1].id])
    return workspace, runs, [workspace.delta(run.id) for run in runs]


def test_a_fingerprint_recorded_by_the_old_replay_verifies_checkout_and_revert(long_log, tiny_lm):
    ws, runs, deltas = long_log
    old = tiny_lm("gpt2")
    _old_replay(old.model, deltas)  # as an earlier version recorded HEAD
    ws._store.db.execute("INSERT INTO weights VALUES (?, 'float32', 'cpu', ?, 'earlier', 'then')",
                         (ws.head().state_fingerprint, state_fingerprint(old.model)))
    head = ws.checkout("HEAD", options=CPU)
    assert head.verified and head.runs == 40 and _same_bits(head.lm.model, old.model)
    reverted = ws.revert([f"run:{runs[20].id}"], "drop the middle one", options=CPU)
    rest = tiny_lm("gpt2")
    _old_replay(rest.model, deltas[:20] + deltas[21:])
    assert reverted.runs == 39 and _same_bits(reverted.lm.model, rest.model)
    assert reverted.weights_fingerprint == state_fingerprint(rest.model) != head.weights_fingerprint


def test_a_live_model_edited_delta_by_delta_matches_the_checkout_of_its_commit(long_log, tiny_lm):
    """The app commits by applying each new delta to its live model: the weights a later
    checkout verifies against must be those."""
    ws, _, deltas = long_log
    live = tiny_lm("gpt2")
    for delta in deltas:
        apply_delta(live.model, delta)
    head = ws.checkout("HEAD", lm=tiny_lm("gpt2"), options=CPU)
    assert state_fingerprint(live.model) == head.weights_fingerprint and _same_bits(live.model, head.lm.model)
