"""The reference's choices where the project offers two: KL direction, ICE's objective,
GRACE's radius growth (methods.md §3)."""

from __future__ import annotations

import dataclasses

import pytest

from core.methods.base import EditError
from tests.core.edit_helpers import TWO_FACTS


def test_kl_directions_match_torchs_kl_div():
    import torch

    from core.methods.values import kl_rows

    gen = torch.Generator().manual_seed(0)
    original = torch.log_softmax(torch.randn(3, 7, generator=gen), -1)
    edited = torch.log_softmax(torch.randn(3, 7, generator=gen), -1)
    # kl_div(input, target, log_target) = KL(target ‖ exp(input)): the reference's call
    reference = torch.nn.functional.kl_div(original, edited, log_target=True, reduction="none").sum(-1)
    assert torch.allclose(kl_rows(original, edited, "edited_original"), reference)
    reverse = torch.nn.functional.kl_div(edited, original, log_target=True, reduction="none").sum(-1)
    assert torch.allclose(kl_rows(original, edited, "original_edited"), reverse)
    with pytest.raises(ValueError, match="kl_direction"):
        kl_rows(original, edited, "sideways")


@pytest.mark.parametrize("method", ["rome", "memit"])
def test_rome_and_memit_default_to_the_reference_kl_direction(method, tiny_lm):
    from core.methods import get_method

    lm = tiny_lm("gpt2")
    edit = get_method(method)
    assert edit.hparams_class().kl_direction == "edited_original"
    bad = dataclasses.replace(edit.preset(lm), kl_direction="sideways")
    with pytest.raises(EditError, match="kl_direction"):
        edit.compute(lm, TWO_FACTS[:1], bad)


def test_ice_reference_objective_is_the_official_hard_nll(tiny_lm):
    from core.methods.ice import ICE, ICEHParams

    assert ICEHParams().objective == "hard" and ICEHParams().temperature == 100.0
    lm = tiny_lm("gpt2")
    hp = dataclasses.replace(ICE.preset(lm), steps=3, samples=2, temperature=5.0)
    hard = ICE.compute(lm, TWO_FACTS[:1], dataclasses.replace(hp, objective="hard"))
    soft = ICE.compute(lm, TWO_FACTS[:1], dataclasses.replace(hp, objective="soft"))
    assert hard.info["losses"] != soft.info["losses"]  # two objectives, two optimisations
    with pytest.raises(EditError, match="objective"):
        ICE.compute(lm, TWO_FACTS[:1], dataclasses.replace(hp, objective="fuzzy"))


def test_grace_radius_growth_rules():
    from core.methods.grace import GRACEHParams, expanded_radius

    coverage, lecture = GRACEHParams(eps_init=1.0), GRACEHParams(eps_init=1.0, expansion="lecture")
    assert coverage.expansion == "coverage"  # the reference code's rule
    assert expanded_radius(2.0, 1.5, coverage) == 2.0  # already covered: unchanged
    assert expanded_radius(2.0, 2.7, coverage) == 2.7  # grows exactly to the new key
    assert expanded_radius(2.0, 1.5, lecture) == 3.0 == expanded_radius(2.0, 2.7, lecture)


def test_grace_refuses_an_unknown_expansion(tiny_lm):
    from core.methods.grace import GRACE

    lm = tiny_lm("gpt2")
    with pytest.raises(EditError, match="expansion"):
        GRACE.compute(lm, TWO_FACTS[:1], dataclasses.replace(GRACE.preset(lm), expansion="sometimes"))
