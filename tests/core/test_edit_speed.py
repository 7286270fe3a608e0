"""What makes an edit fast: phase timing, covariance solves reused across edits, early stop."""

import dataclasses

import pytest
import torch

from core.methods.cov_solve import eigen, mean_diagonal, shifted_solve, woodbury_solve
from core.methods.memit import adjusted_keys
from core.methods.rome import ROME, key_direction
from core.util.timing import phase, recording
from tests.core.edit_helpers import target_nll

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _covariance(d: int = 48, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(4 * d, d, generator=generator) * torch.linspace(0.1, 3.0, d)
    return (x.T @ x / x.shape[0]).float()


def test_phases_are_recorded_nested_and_only_while_recording():
    with phase("outside"):
        pass
    with recording() as times:
        for _ in range(3):
            with phase("step"), phase("forward"):
                pass
    assert times.calls == {"forward": 3, "step": 3}
    assert times.seconds["step"] >= times.seconds["forward"] >= 0.0


def test_rome_key_direction_matches_the_direct_solve():
    cov, k = _covariance(), torch.randn(48, generator=torch.Generator().manual_seed(1))
    c = cov.double() + 1e-4 * cov.double().diagonal().mean() * torch.eye(48, dtype=torch.float64)
    direct = torch.linalg.solve(c, k.double()).float()
    assert torch.allclose(key_direction(k, cov, 1e-4), direct / direct.norm(), atol=1e-6)


@pytest.mark.parametrize("mom2_weight", [1.0, 1e4])
def test_memit_adjusted_keys_match_the_direct_solve(mom2_weight):
    cov = _covariance()
    keys = torch.randn(3, 48, generator=torch.Generator().manual_seed(2)) * 5
    k = keys.double().T
    system = mom2_weight * cov.double() + k @ k.T
    system = system + 1e-6 * system.diagonal().mean() * torch.eye(48, dtype=torch.float64)
    direct = torch.linalg.solve(system, k)
    fast = adjusted_keys(keys, cov, mom2_weight, 1e-6)
    assert torch.allclose(fast.double(), direct, rtol=1e-5, atol=1e-7 * float(direct.abs().max()))


def test_the_decomposition_is_made_once_per_covariance_tensor():
    from core.util.memo import BoundedMemo

    cov, memo = _covariance(), BoundedMemo()
    first = eigen(cov, "cpu", memo)
    assert eigen(cov, "cpu", memo)[1] is first[1]
    assert eigen(cov.clone(), "cpu", memo)[1] is not first[1]
    rhs = torch.randn(48, 2, dtype=torch.float64)
    expected = torch.linalg.solve(2.0 * cov.double() + 0.5 * torch.eye(48, dtype=torch.float64), rhs)
    assert torch.allclose(shifted_solve(cov, rhs, 2.0, 0.5), expected, atol=1e-9)
    k = torch.randn(48, 2, dtype=torch.float64)
    shift = 1e-3 * mean_diagonal(cov)
    expected = torch.linalg.solve(cov.double() + k @ k.T + shift * torch.eye(48, dtype=torch.float64), k)
    assert torch.allclose(woodbury_solve(cov, k, 1.0, shift), expected, atol=1e-8)


def test_cached_covariance_is_read_once_per_file_version(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from core.methods import stats
    from core.util.memo import BoundedMemo

    reads, path = [], tmp_path / "mom2.safetensors"
    monkeypatch.setattr(stats, "cache_path", lambda lm, spec: path)
    monkeypatch.setattr(stats, "_load", lambda p: reads.append(p) or torch.full((2, 2), float(len(reads))))
    lm = SimpleNamespace(memo=BoundedMemo())
    path.write_bytes(b"x")
    first = stats.layer_covariances(lm, [0], stats.StatsSource(), 10)[0]
    assert stats.layer_covariances(lm, [0], stats.StatsSource(), 10)[0] is first and len(reads) == 1
    path.write_bytes(b"xy")  # a new version of the file is read again
    assert stats.layer_covariances(lm, [0], stats.StatsSource(), 10)[0] is not first and len(reads) == 2


@pytest.mark.slow
def test_rome_stops_once_the_target_is_said_and_the_edit_takes(demo_lm):
    """The demo preset's early stop (v_nll_threshold) ends the optimisation long before
    v_steps on a fact the model can learn, and the edited model says the target."""
    from core.edit.deltas import delta_applied
    from core.facts.fact import Fact

    fact = Fact.create(subject="France", prompt="The capital of France is", target_new="Berlin", target_true="Paris")
    hp = ROME.preset(demo_lm)
    assert hp.v_nll_threshold > 0
    delta = ROME.compute(demo_lm, [fact], hp)
    steps = delta.info["facts"][0]["steps"]
    full = ROME.compute(demo_lm, [fact], dataclasses.replace(hp, v_nll_threshold=0.0, v_loss_threshold=0.0))
    assert steps < hp.v_steps // 3 and full.info["facts"][0]["steps"] == hp.v_steps
    assert delta.info["facts"][0]["nll"] < hp.v_nll_threshold
    with delta_applied(demo_lm.model, delta):
        assert target_nll(demo_lm, fact) < 0.3


@pytest.mark.parametrize("method", ["rome", "memit"])
def test_nll_threshold_ends_the_optimisation_at_the_first_step_below_it(tiny_lm, method):
    """Every target NLL is below 100 at once: one step; with the stop off, all of them."""
    from core.methods import get_method
    from tests.core.edit_helpers import TWO_FACTS

    lm = tiny_lm("gpt2")
    m = get_method(method)
    quick = dict(v_steps=5, v_loss_threshold=0.0, prefix_counts=(), prefix_lengths=(), essence_samples=0,
                 stats_tokens=300)
    stopped = m.compute(lm, TWO_FACTS, dataclasses.replace(m.preset(lm), v_nll_threshold=100.0, **quick))
    full = m.compute(lm, TWO_FACTS, dataclasses.replace(m.preset(lm), v_nll_threshold=0.0, **quick))
    assert {f["steps"] for f in stopped.info["facts"]} == {1}
    assert {f["steps"] for f in full.info["facts"]} == {5}
