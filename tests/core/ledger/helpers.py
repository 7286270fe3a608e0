"""Shared helpers for the ledger tests: facts, hand-made deltas and runs on the tiny GPT-2.

The ledger tests are about the log, not edit quality, so deltas are seeded random
low-rank (and dense) updates of the right shapes, not computed edits.
"""

from __future__ import annotations

from core.edit.deltas import Delta, DenseUpdate, LowRankUpdate
from core.facts.fact import Fact

PARAM = "transformer.h.1.mlp.c_proj.weight"  # (128, 32) in the tiny GPT-2
BIAS = "transformer.h.2.mlp.c_fc.bias"  # (128,)


def make_fact(i: int, target: str | None = None) -> Fact:
    return Fact.create(subject=f"Country{i}", prompt=f"The capital of Country{i} is",
                       target_new=target or f"City{i}", target_true=f"Old{i}")


def make_facts(n: int, start: int = 0) -> list[Fact]:
    return [make_fact(i) for i in range(start, start + n)]


def hand_delta(fact: Fact, seed: int = 0, dense: bool = False) -> Delta:
    import torch

    generator = torch.Generator().manual_seed(int(fact.id[:8], 16) + seed)
    updates = [LowRankUpdate(PARAM, torch.randn(128, 1, generator=generator) * 0.01,
                             torch.randn(1, 32, generator=generator))]
    if dense:
        updates.append(DenseUpdate(BIAS, torch.randn(128, generator=generator) * 0.01))
    return Delta(method="hand", updates=tuple(updates), fact_ids=(fact.id,), hparams={"seed": seed},
                 info={"note": "made by hand for the ledger tests"})


def record_hand_run(ws, fact: Fact, seed: int = 0, efficacy: float = 1.0, dense: bool = False):
    return ws.record_run(
        facts=[fact], delta=hand_delta(fact, seed, dense), computed_on=ws.head().state_fingerprint,
        hparams={"seed": seed}, seconds=0.01,
        metrics={"protocol": "test-protocol", "pre": {"efficacy": 0.0}, "post": {"efficacy": efficacy},
                 "per_fact": [{"fact": fact.id, "efficacy": efficacy}]},
        previews={"prompt": fact.prompt, "before": " Old", "after": f" {fact.target_new}"},
        environment={"seed": seed, "device": "cpu", "dtype": "float32", "torch": "test"},
    )


def add_run_approve(ws, facts: list[Fact], seed: int = 0) -> list:
    """Add the facts, run each by hand and approve it; the runs, in order."""
    ws.add_facts(facts)
    runs = [record_hand_run(ws, fact, seed) for fact in facts]
    for fact in facts:
        ws.review(fact.id, "approve")
    return runs
