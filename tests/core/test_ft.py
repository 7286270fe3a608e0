"""FT-L / FT-M on tiny random models of every family, and their quality on the demo model."""

from __future__ import annotations

import json
import logging

import pytest

from core.edit.deltas import Delta, apply_delta, revert_delta
from core.facts.fact import Fact
from core.methods import EditError, get_method
from core.methods.ft import FT_L, FT_M, FTHyperParams, layer_window
from core.methods.hparams import with_overrides
from core.metrics.scoring import score_pairs
from core.model.fingerprint import state_fingerprint
from core.util.progress import Cancelled, Progress
from tests.conftest import FAMILIES
from tests.core.edit_helpers import independent_reports, sabotaging

log = logging.getLogger(__name__)

FACT = Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris",
                   target_true="Seattle")
OTHER = Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan", target_true="Germany")


def _hparams(method, lm, **changes) -> FTHyperParams:
    return with_overrides(method.preset(lm), {"steps": 6, **changes})


def _grad_flags(lm) -> dict[str, bool]:
    return {n: p.requires_grad for n, p in lm.model.named_parameters()}


def test_registry_maps_the_names():
    assert get_method("ft-l") is FT_L
    assert get_method("FT-M") is FT_M
    assert FT_L.hparams_class is FTHyperParams


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", [FT_L, FT_M], ids=["ft-l", "ft-m"])
def test_compute_touches_only_chosen_params_and_leaves_model_alone(tiny_lm, family, method):
    lm = tiny_lm(family)
    before, flags = state_fingerprint(lm.model), _grad_flags(lm)
    hp = _hparams(method, lm, layers=(1, 2))
    delta = method.compute(lm, [FACT, OTHER], hp, Progress())
    assert state_fingerprint(lm.model) == before
    assert _grad_flags(lm) == flags
    params = dict(lm.model.named_parameters())
    assert delta.params == sorted(lm.spec.mlp_out_weight(i) for i in (1, 2))
    for update in delta.updates:
        assert tuple(update.diff.shape) == tuple(params[update.param].shape)
        assert update.diff.abs().max() > 0
    assert delta.method == method.name and delta.fact_ids == (FACT.id, OTHER.id)
    assert len(delta.info["losses"]) == hp.steps


@pytest.mark.parametrize("family", FAMILIES)
def test_apply_then_revert_is_bit_exact_and_the_edit_learns(tiny_lm, family):
    lm = tiny_lm(family)
    before = state_fingerprint(lm.model)
    nll_before = score_pairs(lm, [(FACT.prompt, FACT.target_new)])[0].nll
    delta = FT_M.compute(lm, [FACT], _hparams(FT_M, lm, lr=5e-2, steps=10), Progress())
    receipt = apply_delta(lm.model, delta)
    assert state_fingerprint(lm.model) != before
    assert score_pairs(lm, [(FACT.prompt, FACT.target_new)])[0].nll < nll_before
    revert_delta(lm.model, receipt)
    assert state_fingerprint(lm.model) == before


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_ft_l_respects_the_box(tiny_lm, family):
    lm = tiny_lm(family)
    eps = 1e-3
    delta = FT_L.compute(lm, [FACT], _hparams(FT_L, lm, lr=1e-1, norm_constraint=eps), Progress())
    biggest = max(float(u.diff.abs().max()) for u in delta.updates)
    assert eps * 0.5 < biggest <= eps * (1 + 1e-4)


def test_ft_m_has_no_box_by_default(tiny_lm):
    lm = tiny_lm("gpt2")
    hp = FT_M.preset(lm)
    assert hp.norm_constraint is None
    delta = FT_M.compute(lm, [FACT], with_overrides(hp, {"steps": 8, "lr": 1e-1}), Progress())
    assert max(float(u.diff.abs().max()) for u in delta.updates) > 1e-2


def test_mlp_in_module_can_be_chosen(tiny_lm):
    lm = tiny_lm("gpt_neox")
    delta = FT_M.compute(lm, [FACT], _hparams(FT_M, lm, module="mlp_in", layers=(0,)), Progress())
    assert delta.params == [f"{lm.spec.layer(0)}.{lm.spec.mlp_in}.weight"]


def test_chunked_batches_equal_one_batch(tiny_lm):
    lm = tiny_lm("gpt2")
    whole = FT_M.compute(lm, [FACT, OTHER], _hparams(FT_M, lm, batch_size=2), Progress())
    chunked = FT_M.compute(lm, [FACT, OTHER], _hparams(FT_M, lm, batch_size=1), Progress())
    for a, b in zip(whole.updates, chunked.updates, strict=True):
        assert a.diff.allclose(b.diff, atol=1e-5)  # Adam amplifies float noise a little


def test_progress_reports_every_step_with_loss(tiny_lm):
    lm = tiny_lm("gpt2")
    events = []
    FT_L.compute(lm, [FACT], _hparams(FT_L, lm, steps=4), Progress(events.append))
    assert [e.done for e in events] == [1, 2, 3, 4]
    assert all(e.total == 4 and "loss" in e.values for e in events)


@pytest.mark.parametrize("method", [FT_L, FT_M], ids=["ft-l", "ft-m"])
def test_cancel_mid_edit_leaves_model_unchanged(tiny_lm, method):
    lm = tiny_lm("gptj")
    before = state_fingerprint(lm.model)
    progress = Progress(lambda event: progress.cancel() if event.done >= 3 else None)
    with pytest.raises(Cancelled):
        method.compute(lm, [FACT], _hparams(method, lm, steps=10), progress)
    assert state_fingerprint(lm.model) == before


def test_an_error_mid_edit_restores_weights_written_behind_its_back(tiny_lm):
    lm = tiny_lm("llama")
    before = state_fingerprint(lm.model)
    with pytest.raises(EditError, match="device lost"):
        FT_M.compute(lm, [FACT], _hparams(FT_M, lm, layers=(1,)), sabotaging(lm, lm.spec.mlp_out_weight(1)))
    assert state_fingerprint(lm.model) == before


def test_bad_hyperparameters_are_refused(tiny_lm):
    lm = tiny_lm("gpt2")
    with pytest.raises(EditError, match="layers"):
        FT_M.compute(lm, [FACT], _hparams(FT_M, lm, layers=(9,)), Progress())
    with pytest.raises(EditError, match="module"):
        FT_M.compute(lm, [FACT], _hparams(FT_M, lm, module="attn"), Progress())
    with pytest.raises(EditError, match="no facts"):
        FT_M.compute(lm, [], _hparams(FT_M, lm), Progress())


def test_delta_round_trips_through_bytes(tiny_lm):
    lm = tiny_lm("gpt2")
    delta = FT_L.compute(lm, [FACT], _hparams(FT_L, lm, steps=2), Progress())
    again = Delta.from_bytes(delta.to_bytes())
    assert again.sha256 == delta.sha256 and again.hparams["norm_constraint"] == delta.hparams["norm_constraint"]


def test_presets_and_layer_windows(tiny_lm):
    assert layer_window(48, (13 / 48, 17 / 48)) == (13, 14, 15, 16, 17)  # GPT-2 XL, MEMIT's layers
    assert layer_window(28, (3 / 28, 8 / 28)) == (3, 4, 5, 6, 7, 8)  # GPT-J
    assert layer_window(32, (4 / 32, 8 / 32)) == (4, 5, 6, 7, 8)  # Llama
    lm = tiny_lm("llama")
    for method in (FT_L, FT_M):
        hp = method.preset(lm)
        assert hp.layers and all(0 <= i < 4 for i in hp.layers)
    assert FT_L.preset(lm).norm_constraint is not None
    hp = with_overrides(FT_M.preset(lm), {"layers": "0,2", "norm_constraint": "none"})
    assert hp.layers == (0, 2) and hp.norm_constraint is None


def _demo_facts(name: str) -> list[Fact]:
    from core.facts.fact import fact_from_dict
    from core.util.paths import demo_model_dir

    rows = (demo_model_dir() / name).read_text(encoding="utf-8").splitlines()
    return [fact_from_dict(json.loads(row)) for row in rows if row.strip()]


@pytest.mark.slow
def test_ft_quality_on_demo_model(demo_lm):
    """FT-M must reach reliability >= 0.95 (teacher-forced) editing each demo fact on its
    own; the other metrics are reported, not asserted. FT-L's figures are asserted on the
    held-out test split (test_quality_targets.py) and measured by bench/quality.py."""
    from core.metrics.evaluation import EvalOptions, aggregate, capture_reference

    facts = _demo_facts("demo_edits.jsonl")
    before = state_fingerprint(demo_lm.model)
    reference = capture_reference(demo_lm, facts)
    options = EvalOptions(protocols=("teacher_forced", "probability"))
    reports, seconds = independent_reports(demo_lm, FT_M, facts, reference, options)
    summaries = {"ft-m": {**aggregate(reports), "seconds_per_edit": seconds}}
    assert state_fingerprint(demo_lm.model) == before
    report = json.dumps(summaries, indent=1, sort_keys=True)
    log.warning("FT-M quality on %d demo edits:\n%s", len(facts), report)
    print(report)  # shown with -s / -rP: the quality figures are reported, not asserted
    assert summaries["ft-m"]["reliability"] >= 0.95
