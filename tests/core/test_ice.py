"""ICE on tiny random models of every family, and on the demo model against FT-M."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
import torch

from core.edit.deltas import Delta, apply_delta, revert_delta
from core.facts.fact import Fact
from core.methods import EditError, get_method
from core.methods import ice as ice_module
from core.methods.ice import ICE, ICEHParams, context_sentences
from core.model.fingerprint import state_fingerprint
from core.util.progress import Cancelled, Progress
from tests.conftest import FAMILIES
from tests.core.edit_helpers import independent_reports, sabotaging

log = logging.getLogger(__name__)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


FACT = Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris",
                   target_true="Seattle", paraphrases=("The Space Needle is located in",))
OTHER = Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan", target_true="Germany",
                    context=("Berlin is a city in Japan.", "Japan's city Berlin is big."))


def fast(lm, **changes) -> ICEHParams:
    return dataclasses.replace(ICE.preset(lm), **{"steps": 4, "layers": (1, 2), "samples": 2, **changes})


def test_registry_and_presets(tiny_lm):
    from core.methods.memit import MEMIT

    lm = tiny_lm("llama")
    assert get_method("ice") is ICE and ICE.hparams_class is ICEHParams
    assert ICE.preset(lm).layers == MEMIT.preset(lm).layers  # the same layers as MEMIT
    big = dataclasses.replace(lm, info=dataclasses.replace(lm.info, parameters=7_000_000_000))
    ref = ICE.preset(big)
    assert (ref.lr, ref.steps, ref.norm_constraint, ref.sample_tokens, ref.temperature) == (7e-4, 25, 5e-4, 3, 100.0)


def test_context_from_field_else_templates():
    assert context_sentences(OTHER, ("{prompt} {target}.",)) == list(OTHER.context)
    built = context_sentences(FACT, ("{prompt} {target}.", "{subject}: {target}."))
    assert built == ["The Space Needle is in Paris.", "The Space Needle: Paris.",
                     "The Space Needle is located in Paris.", "The Space Needle: Paris."]


def test_context_is_cut_to_fit_the_model(tiny_lm):
    lm = tiny_lm("gpt2")  # 64 positions
    long = dataclasses.replace(OTHER, context=tuple(f"Berlin is a city in Japan number {i}." for i in range(20)))
    row = ice_module._encode(lm, long, fast(lm, max_context_sentences=20))
    assert len(row.context.ids) + 3 <= 64 and len(row.context.ids) > len(row.plain.ids)
    assert row.plain.target_ids == row.context.target_ids


@pytest.mark.parametrize("family", FAMILIES)
def test_ice_every_family(tiny_lm, family):
    lm = tiny_lm(family)
    before = state_fingerprint(lm.model)
    hp = fast(lm, lr=1e-2, norm_constraint=1e-3)
    delta = ICE.compute(lm, [FACT, OTHER], hp, Progress())
    assert state_fingerprint(lm.model) == before
    params = dict(lm.model.named_parameters())
    assert delta.params == sorted(lm.spec.mlp_out_weight(i) for i in (1, 2))
    for update in delta.updates:
        assert tuple(update.diff.shape) == tuple(params[update.param].shape)
        assert 0 < float(update.diff.abs().max()) <= 1e-3 * (1 + 1e-4)  # inside W0 ± ε
    assert len(delta.info["losses"]) == 4 and delta.info["contexts"][1].startswith("Berlin is a city in Japan.")
    receipt = apply_delta(lm.model, delta)
    assert state_fingerprint(lm.model) != before
    revert_delta(lm.model, receipt)
    assert state_fingerprint(lm.model) == before
    assert Delta.from_bytes(delta.to_bytes()).sha256 == delta.sha256


def test_continuations_are_resampled_every_step_from_the_current_weights(tiny_lm, monkeypatch):
    lm = tiny_lm("gpt2")
    real, calls = ice_module.sample_continuations, []

    def recording(lm_, overrides, prefixes, tokens, temperature, generator):
        sampled, targets = real(lm_, overrides, prefixes, tokens, temperature, generator)
        calls.append((sampled, {n: w.clone() for n, w in overrides.items()}))
        return sampled, targets

    monkeypatch.setattr(ice_module, "sample_continuations", recording)
    ICE.compute(lm, [FACT], fast(lm, steps=5, samples=3, temperature=100.0, lr=1e-1, norm_constraint=None))
    assert len(calls) == 5 and all(len(s) == 3 and all(len(x) == 3 for x in s) for s, _ in calls)
    assert len({json.dumps(s) for s, _ in calls}) > 1  # fresh samples each step
    first, last = calls[0][1], calls[-1][1]
    assert any(not torch.equal(first[n], last[n]) for n in first)  # drawn from θ_s, not θ_0


def test_seeded_and_the_kl_term_matters(tiny_lm):
    lm = tiny_lm("gpt_neox")
    one = ICE.compute(lm, [FACT], fast(lm, lr=1e-2))
    assert ICE.compute(lm, [FACT], fast(lm, lr=1e-2)).sha256 == one.sha256
    assert ICE.compute(lm, [FACT], fast(lm, lr=1e-2, seed=1)).sha256 != one.sha256
    assert ICE.compute(lm, [FACT], fast(lm, lr=1e-2, kl_factor=0.0)).sha256 != one.sha256


def test_cancel_mid_edit_leaves_model_unchanged(tiny_lm):
    lm = tiny_lm("gptj")
    before = state_fingerprint(lm.model)
    progress = Progress(lambda event: progress.cancel() if event.done >= 2 else None)
    with pytest.raises(Cancelled):
        ICE.compute(lm, [FACT], fast(lm, steps=10), progress)
    assert state_fingerprint(lm.model) == before


def test_an_error_mid_edit_restores_the_weights(tiny_lm):
    lm = tiny_lm("llama")
    before = state_fingerprint(lm.model)
    with pytest.raises(EditError, match="device lost"):
        ICE.compute(lm, [FACT], fast(lm), sabotaging(lm, lm.spec.mlp_out_weight(1)))
    assert state_fingerprint(lm.model) == before


def test_bad_hyperparameters_are_refused(tiny_lm):
    lm = tiny_lm("gpt2")
    with pytest.raises(EditError, match="layers"):
        ICE.compute(lm, [FACT], fast(lm, layers=(9,)))
    with pytest.raises(EditError, match="temperature"):
        ICE.compute(lm, [FACT], fast(lm, temperature=0.0))
    with pytest.raises(EditError, match="no facts"):
        ICE.compute(lm, [], fast(lm))


@pytest.mark.slow
def test_ice_against_ft_m_on_demo_model(demo_lm, tmp_path_factory):
    """ICE reliability >= 0.9 (teacher-forced) editing each of the first demo facts on its
    own. FT-M on the same facts beside it: locality, fluency and PPL_r are reported, not
    asserted (the paper finds ICE better on locality and PPL_r)."""
    from core.facts.io import read_facts
    from core.methods.ft import FT_M
    from core.metrics.evaluation import EvalOptions, aggregate, capture_reference
    from core.util.paths import demo_edits_file

    facts = read_facts(demo_edits_file())[:12]
    before = state_fingerprint(demo_lm.model)
    reference = capture_reference(demo_lm, facts)
    options = EvalOptions(protocols=("teacher_forced", "fluency"))
    table = {}
    for method in (ICE, FT_M):
        reports, seconds = independent_reports(demo_lm, method, facts, reference, options)
        summary = aggregate(reports)
        ratios = sorted(m.fluency.ppl_r for r in reports for m in r.facts if m.fluency.ppl_r is not None)
        table[method.name] = {**{k: round(summary[k], 4) for k in ("reliability", "generality", "locality",
                                                                      "fluency", "ppl_r")},
                              "ppl_r_median": round(ratios[len(ratios) // 2], 3),
                              "seconds_per_edit": round(seconds, 3)}
    assert state_fingerprint(demo_lm.model) == before
    report = json.dumps({"facts": len(facts), "protocol": "teacher_forced + fluency", **table}, indent=1)
    log.warning("ICE vs FT-M on the demo model:\n%s", report)
    (tmp_path_factory.getbasetemp() / "ice_vs_ft_m.json").write_text(report)
    print(report)  # shown with -s / -rP
    assert table["ice"]["reliability"] >= 0.9, table
