"""GRACE: codebook adaptor state as a delta, exact apply/revert, and quality on the demo model."""

import dataclasses
import json
import logging
import time

import pytest
import torch

from core.edit.adaptors import FILE_NAME, ids_tensor, live_states, registry
from core.edit.deltas import AdaptorUpdate, Delta, DeltaError, apply_delta, delta_applied, revert_delta
from core.edit.hooks import get_module
from core.facts.fact import Fact, fact_from_dict
from core.methods import EditError, get_method
from core.methods.grace import GRACE, GRACEHParams
from core.methods.hparams import with_overrides
from core.model.fingerprint import state_fingerprint
from core.model.generation import SamplingOptions, continuations
from core.model.loading import LoadOptions, load_model
from core.util.progress import Cancelled, Progress
from tests.conftest import FAMILIES

log = logging.getLogger(__name__)

FACTS = [
    Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris"),
    Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan"),
]
# quick settings for random tiny models: mechanics, not quality
FAST = dict(layer=1, steps=5, lr=0.5, loss_threshold=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fast(lm, **overrides) -> GRACEHParams:
    return dataclasses.replace(GRACE.preset(lm), **{**FAST, **overrides})


def hooks_on(lm, hp) -> int:
    return len(get_module(lm.model, lm.spec.mlp_out_module(hp.layer))._forward_hooks)


def test_registry_and_presets(tiny_lm):
    lm = tiny_lm("gpt2")
    assert get_method("grace") is GRACE and GRACE.hparams_class is GRACEHParams
    small = GRACE.preset(lm)
    assert small.layer == 2 and small.loss_threshold > 0
    big = dataclasses.replace(lm, info=dataclasses.replace(lm.info, layers=48, parameters=1_500_000_000))
    assert GRACE.preset(big) == dataclasses.replace(GRACEHParams(), layer=35)
    assert (GRACEHParams().eps_init, GRACEHParams().steps) == (1.0, 100)  # the paper's
    assert with_overrides(small, {"eps_init": "2.5", "layer": "none"}).eps_init == 2.5


@pytest.mark.parametrize("family", FAMILIES)
def test_apply_then_revert_is_exact(tiny_lm, family):
    lm = tiny_lm(family)
    hp = fast(lm)
    before, hooks = state_fingerprint(lm.model), hooks_on(lm, hp)
    delta = GRACE.compute(lm, FACTS, hp)
    assert state_fingerprint(lm.model) == before and not live_states(lm.model)  # compute left it as it was
    (update,) = delta.updates
    assert isinstance(update, AdaptorUpdate) and update.module == lm.spec.mlp_out_module(1)
    assert update.keys.shape[0] == 2 and update.labels == ("Paris", "Japan") and delta.params == []
    prompts = [f.prompt for f in FACTS] + ["Toko Yasuda plays the"]
    plain = continuations(lm, prompts, SamplingOptions(max_new_tokens=3))
    receipt = apply_delta(lm.model, delta)
    edited = state_fingerprint(lm.model)
    assert edited != before and hooks_on(lm, hp) == hooks + 1
    continuations(lm, prompts, SamplingOptions(max_new_tokens=3))  # cached decoding runs through the hook
    revert_delta(lm.model, receipt)
    assert state_fingerprint(lm.model) == before and hooks_on(lm, hp) == hooks and not live_states(lm.model)
    assert continuations(lm, prompts, SamplingOptions(max_new_tokens=3)) == plain


def test_the_codebook_replaces_only_near_inputs(tiny_lm):
    lm = tiny_lm("gpt2")
    hp = fast(lm, steps=30, lr=1.0, eps_init=1e-3)
    delta = GRACE.compute(lm, FACTS[:1], hp)
    with delta_applied(lm.model, delta):
        after = continuations(lm, [FACTS[0].prompt, FACTS[1].prompt], SamplingOptions(max_new_tokens=1))
    before = continuations(lm, [FACTS[1].prompt], SamplingOptions(max_new_tokens=1))
    assert after[0].strip() == "Paris" and after[1] == before[0]


def test_sequential_edits_add_expand_split_and_supersede(tiny_lm):
    lm = tiny_lm("gpt2")
    wide = fast(lm, eps_init=1e6)  # every second key is "near" the first
    receipts = [apply_delta(lm.model, GRACE.compute(lm, FACTS[:1], wide))]
    same = Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Paris")
    other = Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan")
    expand = GRACE.compute(lm, [same], dataclasses.replace(wide, expansion="lecture"))  # ε += ε_init
    assert expand.info["facts"][0]["action"] == "expand" and expand.updates[0].keys.shape[0] == 0
    assert tuple(expand.updates[0].resized.shape) == (1, 32) and float(expand.updates[0].new_radii[0]) == 2e6
    covered = GRACE.compute(lm, [same], wide)  # the reference's coverage: d < ε already, radius kept
    assert covered.info["facts"][0]["action"] == "expand" and covered.updates[0].resized.shape[0] == 0
    split = GRACE.compute(lm, [other], wide)
    (entry,) = split.info["facts"]
    assert entry["action"] == "split" and float(split.updates[0].radii[0]) == pytest.approx(entry["distance"] / 2)
    receipts.append(apply_delta(lm.model, split))
    again = Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Rome")
    supersede = GRACE.compute(lm, [again], wide)
    assert supersede.info["facts"][0]["action"] == "supersede"
    assert supersede.updates[0].new_radii.tolist() == [-1.0]
    both = GRACE.compute(lm, [same, other], wide)  # one delta; alone, "other" would expand its twin
    assert [f["action"] for f in both.info["facts"]] == ["supersede", "supersede"]
    receipts.append(apply_delta(lm.model, supersede))  # the re-edit answers, not its disabled twin
    assert _output_at_last_token(lm, again, supersede.updates[0].module).equal(supersede.updates[0].values[0])
    for receipt in reversed(receipts):
        revert_delta(lm.model, receipt)
    assert not live_states(lm.model)


def _output_at_last_token(lm, fact, module):
    from core.methods.keys import capture_at
    from core.model.tokens import encode_pair

    ids = encode_pair(lm.tokenizer, fact.prompt, fact.target_new).prompt_ids
    return capture_at(lm, [module], [ids], [len(ids) - 1]).outputs[module][0].cpu()


def test_cancel_and_errors_leave_the_model_and_its_codebook_unchanged(tiny_lm):
    lm = tiny_lm("llama")
    hp = fast(lm, steps=50)
    apply_delta(lm.model, GRACE.compute(lm, FACTS[:1], hp))
    before, book = state_fingerprint(lm.model), registry(lm.model).get(lm.spec.mlp_out_module(1))
    progress = Progress(lambda event: progress.cancel() if "step 3" in event.message else None)
    with pytest.raises(Cancelled):
        GRACE.compute(lm, FACTS, hp, progress)
    assert state_fingerprint(lm.model) == before
    assert registry(lm.model).get(lm.spec.mlp_out_module(1)) is book
    with pytest.raises(EditError, match="out of range"):
        GRACE.compute(lm, FACTS, fast(lm, layer=9))
    with pytest.raises(EditError, match="no facts"):
        GRACE.compute(lm, [], hp)
    assert state_fingerprint(lm.model) == before


def test_delta_bytes_round_trip_and_hash(tiny_lm):
    lm = tiny_lm("gpt_neox")
    delta = GRACE.compute(lm, FACTS, fast(lm))
    copy = Delta.from_bytes(delta.to_bytes())
    assert copy.sha256 == delta.sha256 and copy.updates[0].labels == ("Paris", "Japan")
    assert torch.equal(copy.updates[0].values, delta.updates[0].values)
    relabelled = dataclasses.replace(delta, updates=(dataclasses.replace(delta.updates[0], labels=("A", "B")),))
    assert relabelled.sha256 != delta.sha256
    data = bytearray(delta.to_bytes())
    data[-1] ^= 0xFF
    with pytest.raises(DeltaError, match="does not match"):
        Delta.from_bytes(bytes(data))


def test_reverts_out_of_order_and_misfits_are_refused(tiny_lm):
    lm = tiny_lm("gptj")
    hp = fast(lm)
    first = apply_delta(lm.model, GRACE.compute(lm, FACTS[:1], hp))
    second = apply_delta(lm.model, GRACE.compute(lm, FACTS[1:], hp))
    with pytest.raises(DeltaError, match="changed after"):
        revert_delta(lm.model, first)
    revert_delta(lm.model, second)
    revert_delta(lm.model, first)
    update, before = GRACE.compute(lm, FACTS[:1], hp).updates[0], state_fingerprint(lm.model)
    gone = dataclasses.replace(update, resized=ids_tensor([bytes(32)]), new_radii=torch.tensor([1.0]))
    with delta_applied(lm.model, Delta("grace", (gone,))):  # an entry reverted away: nothing to resize
        assert len(registry(lm.model).get(update.module)) == 1
    malformed = dataclasses.replace(update, resized=torch.zeros(1, 5, dtype=torch.uint8), new_radii=torch.ones(1))
    with pytest.raises(DeltaError, match="malformed ids"):
        apply_delta(lm.model, Delta("grace", (malformed,)))
    assert state_fingerprint(lm.model) == before and not live_states(lm.model)


def test_a_saved_folder_reloads_with_its_codebook(tiny_lm, tmp_path):
    from core.model.saving import save_model_folder

    lm = tiny_lm("gpt2")
    save_model_folder(lm, tmp_path / "plain")
    assert not (tmp_path / "plain" / FILE_NAME).exists()
    apply_delta(lm.model, GRACE.compute(lm, FACTS, fast(lm)))
    save_model_folder(lm, tmp_path / "edited")
    again = load_model(tmp_path / "edited", LoadOptions(device="cpu"))
    assert (tmp_path / "edited" / FILE_NAME).is_file()
    assert state_fingerprint(again.model) == state_fingerprint(lm.model)
    options = SamplingOptions(max_new_tokens=3)
    assert continuations(again, [f.prompt for f in FACTS], options) == continuations(lm, [f.prompt for f in FACTS],
                                                                                         options)


# -- the demo model ---------------------------------------------------------------------------------------


def _demo_facts(name: str) -> list[dict]:
    from core.util.paths import demo_model_dir

    return [json.loads(line) for line in (demo_model_dir() / name).read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_demo_reliability(demo_lm, record_property):
    """Every demo request edited alone from the base model (teacher-forced protocol)."""
    from core.metrics.evaluation import aggregate, capture_reference, evaluate

    facts = [fact_from_dict(r) for r in _demo_facts("demo_edits.jsonl")]
    before, hp = state_fingerprint(demo_lm.model), GRACE.preset(demo_lm)
    reference = capture_reference(demo_lm, facts)
    started, reports = time.perf_counter(), []
    for fact in facts:
        delta = GRACE.compute(demo_lm, [fact], hp)
        reports.append(evaluate(demo_lm, [fact], edit=delta, reference=reference, protocols=("teacher_forced",)))
    summary = aggregate(reports)
    log.info("GRACE demo set (teacher_forced): %s in %.1fs", summary, time.perf_counter() - started)
    record_property("grace_demo_teacher_forced", json.dumps(summary))
    assert state_fingerprint(demo_lm.model) == before and not live_states(demo_lm.model)
    assert summary["reliability"] >= 0.9


@pytest.mark.slow
def test_200_sequential_edits_keep_locality(demo_lm, record_property):
    """The 60 demo requests then 140 more drawn from the demo model's facts, edits piling up."""
    from core.demo_build.lifelong import lifelong_requests, read_knowledge
    from core.metrics.evaluation import capture_reference, evaluate
    from core.util.paths import demo_model_dir

    demo, dev = _demo_facts("demo_edits.jsonl"), _demo_facts("dev_edits.jsonl")
    extra = lifelong_requests(read_knowledge(demo_model_dir() / "facts.jsonl"), 200 - len(demo), seed=2024,
                              existing=demo, reserved=dev)
    facts = [fact_from_dict(r) for r in demo + extra]
    before, hp = state_fingerprint(demo_lm.model), GRACE.preset(demo_lm)
    reference = capture_reference(demo_lm, facts)
    receipts, started = [], time.perf_counter()
    try:
        for fact in facts:
            receipts.append(apply_delta(demo_lm.model, GRACE.compute(demo_lm, [fact], hp)))
        seconds = time.perf_counter() - started
        final = evaluate(demo_lm, facts, reference=reference, protocols=("teacher_forced",)).summary()
        entries = len(live_states(demo_lm.model)[demo_lm.spec.mlp_out_module(hp.layer)])
    finally:
        for receipt in reversed(receipts):
            revert_delta(demo_lm.model, receipt)
    figures = {"edits": len(facts), "codebook_entries": entries, "locality": final["locality"],
               "retention": final["reliability"], "generality": final["generality"],
               "seconds_per_edit": round(seconds / len(facts), 3)}
    log.info("GRACE, 200 sequential edits on the demo model (teacher_forced, after all edits): %s", figures)
    record_property("grace_200_sequential", json.dumps(figures))
    assert state_fingerprint(demo_lm.model) == before and not live_states(demo_lm.model)
    assert final["locality"] >= 0.95
