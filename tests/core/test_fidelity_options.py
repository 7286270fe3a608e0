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
    """hard = one mean NLL over x*'s and x_c's tokens (the official code). Pinned against the
    soft loss with one-hot targets on the sampled tokens, whose KL is exactly their NLL, so
    a wrong position or gather in either shows."""
    import torch

    from core.methods.ice import ICE, ICEHParams, _chunk_loss, _encode, sample_continuations

    assert ICEHParams().objective == "hard" and ICEHParams().temperature == 100.0
    lm = tiny_lm("gpt2")
    hp = dataclasses.replace(ICE.preset(lm), samples=1, sample_tokens=3, kl_factor=1.0)
    rows = [_encode(lm, f, hp) for f in TWO_FACTS]
    sampled, _ = sample_continuations(lm, {}, [r.context.ids for r in rows], 3, 5.0, torch.Generator().manual_seed(0))
    onehot = torch.full((2, 3, lm.model.config.vocab_size), -1e4)
    for i, tokens in enumerate(sampled):
        onehot[i, range(3), tokens] = 0.0
    with torch.no_grad():
        ce = _chunk_loss(lm, {}, rows, sampled, onehot, dataclasses.replace(hp, objective="soft", kl_factor=0.0))
        soft = _chunk_loss(lm, {}, rows, sampled, onehot, dataclasses.replace(hp, objective="soft"))
        hard = _chunk_loss(lm, {}, rows, sampled, onehot, dataclasses.replace(hp, objective="hard"))
    n_target = torch.tensor([len(r.plain.target_ids) for r in rows], dtype=ce.dtype)
    expected = (n_target * ce + 3 * (soft - ce)) / (n_target + 3)
    assert torch.allclose(hard, expected, atol=1e-4), (hard, expected)
    with pytest.raises(EditError, match="objective"):
        ICE.compute(lm, TWO_FACTS[:1], dataclasses.replace(hp, objective="fuzzy"))


def test_fine_tuning_stops_once_the_target_is_said(tiny_lm):
    """loss_threshold: the loop stops at the first step whose loss is under it, before
    stepping, so the delta is the one that already says the target."""
    from core.methods.ft import FT_M

    lm = tiny_lm("gpt2")
    hp = dataclasses.replace(FT_M.preset(lm), lr=1e-2, steps=40, retain_samples=0, loss_threshold=0.0)
    full = FT_M.compute(lm, TWO_FACTS[:1], hp).info["losses"]
    assert len(full) == 40
    threshold = (full[5] + full[6]) / 2 if full[5] > full[6] else full[6] + 1e-6
    stopped = FT_M.compute(lm, TWO_FACTS[:1], dataclasses.replace(hp, loss_threshold=threshold)).info["losses"]
    first_under = next(i for i, x in enumerate(full) if x < threshold)
    assert len(stopped) == first_under + 1 and stopped == pytest.approx(full[: first_under + 1])


def test_retain_texts_are_the_models_own_and_never_the_facts_probes(tiny_lm):
    """The retain set reads only the prompt's words before the subject, the subject and the
    answers to leave out; it is seeded, and in a batch no fact's text names another's subject."""
    from core.facts.fact import Fact
    from core.methods.retain import _batch_safe, build_retain_set, retain_texts

    lm = tiny_lm("gpt2")
    fact = Fact.create(subject="France", prompt="The capital of France is", target_new="Lyon", target_true="Paris",
                       paraphrases=["France's capital is"],
                       locality=[{"prompt": "The capital of Spain is", "answer": "Madrid"}])
    texts = retain_texts(lm, fact, 6, 8, 0)
    assert texts and texts == retain_texts(lm, fact, 6, 8, 0)
    assert not any(p in t for t in texts for p in ("France's capital is", "The capital of Spain is"))
    assert all(t.startswith(("The capital of", "France")) for t in texts)
    spain = Fact.create(subject="Spain", prompt="The capital of Spain is", target_new="Rome")
    assert not any("spain" in t.lower() for t in _batch_safe(lm, fact, [fact, spain], 6, 8, 0))
    first, again = build_retain_set(lm, [fact], 6, 8, 0), build_retain_set(lm, [fact], 6, 8, 0)
    assert first.sequences == again.sequences and first.original.equal(again.original)


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


@pytest.mark.parametrize(("method", "bad", "said"), [
    ("rome", {"v_steps": -5}, "rome: v_steps is -5; it must be at least 1"),
    ("memit", {"v_lr": 0.0, "clamp_norm_factor": -1.0},
     "memit: v_lr is 0.0; it must be positive; clamp_norm_factor is -1.0; it must be positive"),
    ("grace", {"eps_init": 0.0}, "grace: eps_init is 0.0; it must be positive"),
])
def test_a_bad_optimiser_setting_is_named_with_its_value(method, bad, said, tiny_lm):
    """Trial 36: v_steps -5 was refused as "v_steps must be at least 1, and v_lr and
    clamp_norm_factor positive", naming a field the app's short list does not show."""
    from core.methods import get_method

    lm = tiny_lm("gpt2")
    edit = get_method(method)
    with pytest.raises(EditError) as raised:
        edit.compute(lm, TWO_FACTS[:1], dataclasses.replace(edit.preset(lm), **bad))
    assert str(raised.value) == said
