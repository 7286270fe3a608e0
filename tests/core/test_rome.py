import dataclasses
import json
import logging
import threading

import pytest
import torch

from core.edit.deltas import apply_delta, delta_applied, revert_delta
from core.facts.fact import Fact, fact_from_dict
from core.methods import EditError, get_method
from core.methods import rome as rome_module
from core.methods.hparams import with_overrides
from core.methods.keys import capture_at, prefixed_subject_prompts, subject_prompt, target_ids
from core.methods.presets import STATS_TOKENS_FLOOR, ByInputWidth
from core.methods.rome import ROME, ROMEHParams
from core.model.fingerprint import state_fingerprint
from core.model.tokens import encode
from core.util.progress import Cancelled, Progress
from tests.conftest import FAMILIES
from tests.core.edit_helpers import TWO_FACTS, target_nll

pytestmark = pytest.mark.usefixtures("one_torch_thread")


FACTS = TWO_FACTS
# quick settings for random tiny models: mechanics, not quality
FAST = dict(layer=1, v_steps=6, v_lr=0.5, prefix_counts=(2,), prefix_lengths=(3,), stats_tokens=300,
            clamp_norm_factor=50.0)


def fast(lm, **overrides) -> ROMEHParams:
    return dataclasses.replace(ROME.preset(lm), **{**FAST, **overrides})


def test_registry_and_presets(tiny_lm):
    lm = tiny_lm("gpt2")
    assert get_method("rome") is ROME and ROME.hparams_class is ROMEHParams
    assert ROME.preset(lm).layer == 0 and ROME.preset(lm).v_steps > ROMEHParams().v_steps
    big = dataclasses.replace(lm, info=dataclasses.replace(lm.info, layers=48, parameters=1_500_000_000))
    # The statistics budget scales with the MLP input width (the tiny model's: the floor)
    assert ROME.preset(big) == dataclasses.replace(ROMEHParams(), layer=17, stats_tokens=ByInputWidth().tokens(big))
    assert ByInputWidth().tokens(big) == STATS_TOKENS_FLOOR
    parsed = with_overrides(ROMEHParams(), {"prefix_counts": "3,4", "layer": "none", "use_covariance": "no"})
    assert parsed.prefix_counts == (3, 4) and parsed.layer is None and not parsed.use_covariance


def test_subject_last_token_and_targets(tiny_lm):
    tok = tiny_lm("gpt2").tokenizer
    found = subject_prompt(tok, "The Space Needle is in", "The Space Needle")
    assert tok.decode(found.ids[: found.subject_last + 1]) == "The Space Needle"
    assert tok.decode(found.ids[found.subject_last + 1 :]) == " is in"
    bare, prefixed = prefixed_subject_prompts(tok, "Berlin is a city in", "Berlin", ["Toko plays"])
    assert prefixed.text == "Toko plays. Berlin is a city in"
    assert tok.decode(prefixed.ids[: prefixed.subject_last + 1]).endswith(" Berlin")
    assert tok.decode(bare.ids[: bare.subject_last + 1]) == "Berlin"
    for target in ("Paris", " Paris", "Paris "):
        ids = target_ids(tok, "The capital of France is", target)
        assert tok.decode(ids) == " Paris"
        assert encode(tok, "The capital of France is") + ids == encode(tok, "The capital of France is Paris")


@pytest.mark.parametrize("use_covariance", [False, True])
@pytest.mark.parametrize("family", FAMILIES)
def test_rome_every_family(tiny_lm, family, use_covariance):
    lm = tiny_lm(family)
    before = state_fingerprint(lm.model)
    delta = ROME.compute(lm, FACTS, fast(lm, use_covariance=use_covariance))
    assert state_fingerprint(lm.model) == before
    params = dict(lm.model.named_parameters())
    assert len(delta.updates) == 2 and delta.fact_ids == tuple(f.id for f in FACTS)
    for update in delta.updates:
        assert update.param == lm.spec.mlp_out_weight(1)
        assert update.left.shape[1] == 1 and update.dense().shape == params[update.param].shape
    assert delta.hparams["use_covariance"] == use_covariance and delta.info["layer"] == 1
    receipt = apply_delta(lm.model, delta)
    assert state_fingerprint(lm.model) != before
    revert_delta(lm.model, receipt)
    assert state_fingerprint(lm.model) == before


@pytest.mark.parametrize("family", ["gpt2", "llama"])  # Conv1D (in, out) and nn.Linear (out, in)
def test_update_writes_v_star_at_the_bare_key(tiny_lm, family):
    lm = tiny_lm(family)
    fact = FACTS[0]
    module = lm.spec.mlp_out_module(1)
    prompt = subject_prompt(lm.tokenizer, fact.prompt, fact.subject)
    v0 = capture_at(lm, [module], [prompt.ids], [prompt.subject_last]).outputs[module][0]
    delta = ROME.compute(lm, [fact], fast(lm))
    with delta_applied(lm.model, delta):
        v_new = capture_at(lm, [module], [prompt.ids], [prompt.subject_last]).outputs[module][0]
    assert (v_new - v0).norm() == pytest.approx(delta.info["facts"][0]["delta_norm"], rel=1e-3)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_insertion_aware_optimises_the_edited_model_itself(tiny_lm, family):
    """Insertion-aware, the NLL the optimisation ends on is the edited model's, exactly
    (the update's effect at every position was in the loss); optimised at the subject
    token alone, it is off (measured 6e-4 to 2e-3 relative on these tiny models)."""
    lm = tiny_lm(family)
    fact = FACTS[0]
    gaps = {}
    for aware in (True, False):
        hp = fast(lm, prefix_counts=(), prefix_lengths=(), insertion_aware=aware, essence_samples=2, v_steps=8)
        delta = ROME.compute(lm, [fact], hp)
        with delta_applied(lm.model, delta):
            edited = target_nll(lm, fact)
        gaps[aware] = abs(edited - delta.info["facts"][0]["nll"]) / delta.info["facts"][0]["nll"]
    assert gaps[True] < 1e-5 and gaps[False] > 1e-4, gaps


def test_essence_texts_are_about_the_subject_and_spare_the_answers(tiny_lm):
    from core.methods.keys import subject_samples

    lm = tiny_lm("gpt2")
    texts = subject_samples(lm, "Berlin", 6, 5, seed=3)
    assert texts and len(set(texts)) == len(texts) and all(t.startswith("Berlin") for t in texts)
    banned = texts[0][len("Berlin"):].split()[0]
    assert all(banned.lower() not in t.lower() for t in subject_samples(lm, "Berlin", 6, 5, seed=3, exclude=[banned]))
    hp = fast(lm, essence_samples=6, essence_tokens=5, essence_factor=3.0, kl_factor=0.5)
    problem = rome_module.value_problem(lm, FACTS[1], hp, [])
    pairs = problem.kl_pairs(0)
    assert sum(w for row, _, w in pairs if row == 0) == pytest.approx(0.5)  # "{} is a": its last token
    assert sum(w for row, _, w in pairs if row > 0) == pytest.approx(3.0)  # spread over the samples' tokens
    essence = problem.kl_prompts[1:]
    assert essence and all(p.text.startswith("Berlin") for p in essence)
    assert {pos for row, pos, _ in pairs if row == 1} == set(range(essence[0].subject_last, len(essence[0].ids)))


def test_deterministic(tiny_lm):
    lm = tiny_lm("gpt_neox")
    assert ROME.compute(lm, FACTS[:1], fast(lm)).sha256 == ROME.compute(lm, FACTS[:1], fast(lm)).sha256


def cancelling_after(steps: int):
    stop, seen = threading.Event(), []

    def on_report(event):
        if "loss" in event.values:
            seen.append(event)
            if len(seen) == steps:
                stop.set()

    return Progress(on_report, stop), seen


@pytest.mark.parametrize("steps", [2, 8])  # in the first fact; in the second, after the first was applied
def test_cancel_mid_edit_leaves_model_unchanged(tiny_lm, steps):
    lm = tiny_lm("gpt2")
    before = state_fingerprint(lm.model)
    progress, seen = cancelling_after(steps)
    with pytest.raises(Cancelled):
        ROME.compute(lm, FACTS, fast(lm, v_loss_threshold=0.0), progress)
    assert len(seen) == steps
    assert state_fingerprint(lm.model) == before
    assert all(not m._forward_hooks for m in lm.model.modules())


def test_error_mid_edit_leaves_model_unchanged(tiny_lm, monkeypatch):
    lm = tiny_lm("llama")
    before = state_fingerprint(lm.model)
    calls = []
    real = rome_module._value_loss

    def failing(*args):
        calls.append(1)
        if len(calls) == 9:
            raise RuntimeError("out of memory, say")
        return real(*args)

    monkeypatch.setattr(rome_module, "_value_loss", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        ROME.compute(lm, FACTS, fast(lm, v_loss_threshold=0.0))
    assert state_fingerprint(lm.model) == before
    assert all(not m._forward_hooks for m in lm.model.modules())


def test_bad_requests_raise_edit_error(tiny_lm):
    lm = tiny_lm("gpt2")
    with pytest.raises(EditError, match="does not occur"):
        ROME.compute(lm, [Fact(subject="Rome", prompt="The Space Needle is in", target_new="Paris")], fast(lm))
    with pytest.raises(EditError, match="out of range"):
        ROME.compute(lm, FACTS, fast(lm, layer=9))
    with pytest.raises(EditError):
        ROME.compute(lm, [], fast(lm))


# --- teacher-forced evaluation (methods.md §2), used by the demo-model quality test ----------

def argmax_at_answers(lm, pairs):
    """For each (prompt, answer): (answer ids, argmax ids at the positions predicting them)."""
    from core.model.tokens import model_batch

    rows = [(encode(lm.tokenizer, p), target_ids(lm.tokenizer, p, a)) for p, a in pairs]
    ids, mask = model_batch(lm, [p + a for p, a in rows])
    with torch.no_grad():
        predicted = lm.model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
    return [(a, predicted[i, len(p) - 1 : len(p) + len(a) - 1].tolist()) for i, (p, a) in enumerate(rows)]


def token_accuracy(found) -> float:
    return sum(sum(x == y for x, y in zip(a, g, strict=True)) / len(a) for a, g in found) / len(found)


def evaluate_edit(lm, fact, delta) -> dict:
    """Reliability, generality, locality of one edit, teacher-forced."""
    local = [(p.prompt, p.answer) for p in fact.locality]
    pre = [g for _, g in argmax_at_answers(lm, local)]
    with delta_applied(lm.model, delta):
        prompts = [fact.prompt, *fact.paraphrases]
        edited = argmax_at_answers(lm, [(p, fact.target_new) for p in prompts])
        post = [g for _, g in argmax_at_answers(lm, local)]
    return {
        "reliability": token_accuracy(edited[:1]),
        "generality": token_accuracy(edited[1:]) if fact.paraphrases else float("nan"),
        "locality": token_accuracy(list(zip(pre, post, strict=True))) if local else float("nan"),
    }


def evaluate_independent(lm, facts, hparams) -> dict:
    """Mean metrics over independent single-fact edits."""
    scores = [evaluate_edit(lm, f, ROME.compute(lm, [f], hparams)) for f in facts]
    return {k: sum(s[k] for s in scores) / len(scores) for k in scores[0]}


log = logging.getLogger(__name__)
ISSUE_TARGET = {"reliability": 0.95, "locality": 0.90}  # issue 3, teacher-forced, independent edits


@pytest.mark.slow
def test_demo_model_quality(demo_lm):
    """The small preset on the 60 demo counterfactuals (tuned on dev_edits.jsonl only).
    Measured: reliability 0.992, generality 0.665, locality 0.905."""
    from core.util.paths import demo_edits_file

    lines = demo_edits_file().read_text(encoding="utf-8").splitlines()
    facts = [fact_from_dict(json.loads(line)) for line in lines if line.strip()]
    before = state_fingerprint(demo_lm.model)
    scores = evaluate_independent(demo_lm, facts, ROME.preset(demo_lm))
    assert state_fingerprint(demo_lm.model) == before
    log.warning("ROME on %d demo edits (teacher-forced): %s", len(facts), scores)
    assert scores["reliability"] >= ISSUE_TARGET["reliability"], scores
    assert scores["locality"] >= ISSUE_TARGET["locality"], scores


@pytest.mark.slow
def test_demo_model_ten_sequential_edits(demo_lm):
    """10 ROME edits piled up on the demo model: each measured right after it lands, all
    re-measured at the end (retention); the model comes back bit-identical. Figures are
    reported, not asserted; bench/continual.py measures sequences to 1,000 edits."""
    from core.util.paths import demo_edits_file
    from core.workflows.runs import run_sequential

    lines = demo_edits_file().read_text(encoding="utf-8").splitlines()[:10]
    facts = [fact_from_dict(json.loads(line)) for line in lines]
    before = state_fingerprint(demo_lm.model)
    report = run_sequential(demo_lm, facts, "rome")
    assert state_fingerprint(demo_lm.model) == before
    assert len(report["edits"]) == 10
    retention = report["retention"]["after_all_edits"]
    log.warning("ROME, 10 sequential demo edits: right after each %s; after all 10 %s; %.1f s/edit",
                report["aggregate"]["post"], retention, report["seconds_per_edit"])
    assert set(retention) >= {"reliability", "locality"}
    assert all(0.0 <= v <= 1.0 for v in retention.values() if v == v)
    assert report["aggregate"]["post"]["reliability"] > report["aggregate"]["pre"]["reliability"]


def test_prefix_counts_without_lengths_take_the_reference_lengths(tiny_lm):
    """The small preset has no prefixes; setting only their counts (as the GUI's field does)
    must not fail on the empty lengths."""
    from core.methods.keys import PrefixSpec, prefix_specs

    hp = dataclasses.replace(ROME.preset(tiny_lm("gpt2")), prefix_counts=(1, 2))
    assert hp.prefix_lengths == ()
    specs = prefix_specs(hp.prefix_counts, hp.prefix_lengths, ROMEHParams().prefix_lengths)
    assert specs == [PrefixSpec(1, 5), PrefixSpec(2, 10)]
    with pytest.raises(EditError, match="same number"):
        ROME.compute(tiny_lm("gpt2"), FACTS[:1], dataclasses.replace(hp, prefix_lengths=(5,)))


def test_prefixes_key_only_average_the_key_and_fit_the_bare_prompt(tiny_lm):
    """``prefixes_key_only``: the prefixed prompts move k* (so u), but δ is fitted to the bare
    prompt alone, so the NLL the optimisation ends on is the edited model's on that prompt."""
    lm = tiny_lm("gpt2")  # Conv1D: the update's left factor is u
    fact = FACTS[0]
    common = dict(insertion_aware=True, essence_samples=0, v_steps=8, use_covariance=False)
    only = ROME.compute(lm, [fact], fast(lm, prefix_counts=(3,), prefix_lengths=(4,), prefixes_key_only=True,
                                         **common))
    bare = ROME.compute(lm, [fact], fast(lm, prefix_counts=(), prefix_lengths=(), **common))
    u_only, u_bare = only.updates[0].left[:, 0], bare.updates[0].left[:, 0]
    assert float(torch.dot(u_only, u_bare)) < 0.999, "the prefixed prompts' keys moved u"
    with delta_applied(lm.model, only):
        edited = target_nll(lm, fact)
    fitted = only.info["facts"][0]["nll"]
    assert abs(edited - fitted) / fitted < 1e-5
