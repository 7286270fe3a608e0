"""InstructEdit (MEND on instructed edit inputs) on tiny random GPT-2 and Llama models."""

from __future__ import annotations

import pytest
import torch

from core.edit.deltas import LowRankUpdate
from core.facts.fact import fact_from_dict
from core.methods import get_method
from core.methods import mend_net as mend_net_module
from core.methods.base import EditError
from core.methods.editor_ckpt import read_checkpoint
from core.methods.hparams import with_overrides
from core.methods.instructedit import INSTRUCTEDIT, InstructEditHParams, resolve_tasks
from core.methods.instructedit_net import prompt_states
from core.methods.instructions import GENERIC, TASK_NAMES, TASKS, for_relation
from core.methods.mend import MENDHParams
from core.model.fingerprint import state_fingerprint
from core.model.tokens import encode_text
from core.workflows.train import TrainOptions, train_editor
from tests.core.trained_editor_checks import (
    assert_applies_and_reverts_exactly,
    assert_cancel_keeps_the_model_and_the_last_step,
    assert_refused_for_another_model,
    cli_train_and_edit,
    loaded_editor,
)

TRAIN = [fact_from_dict(r) for r in (
    {"subject": "France", "relation": "capital", "prompt": "The capital of France is", "target_new": "Berlin",
     "paraphrases": ["France's capital is"],
     "locality": [{"prompt": "The currency of Japan is the", "answer": "Yen"}]},
    {"subject": "Germany", "relation": "language", "prompt": "The official language of Germany is",
     "target_new": "French", "paraphrases": ["Germany's official language is"],
     "locality": [{"prompt": "The Space Needle is in", "answer": "Seattle"}]},
    {"subject": "Japan", "relation": "currency", "prompt": "The currency of Japan is the", "target_new": "Paris",
     "paraphrases": ["Japan pays with the"],
     "locality": [{"prompt": "Berlin is a city in", "answer": "Germany"}]},
    {"subject": "Berlin", "relation": "city_country", "prompt": "Berlin is a city in", "target_new": "France",
     "paraphrases": ["Berlin can be found in"],
     "locality": [{"prompt": "The capital of France is", "answer": "Paris"}]},
)]
CITY = fact_from_dict({"subject": "The Space Needle", "prompt": "The Space Needle is in", "target_new": "Paris",
                       "target_true": "Seattle"})
FAST = {"edits_per_step": "3", "lr": "1e-2", "lr_lr": "1e-2", "rank": "8", "held_out": "city_country"}
PAPER = {"plain_gradient": "false"}  # the instructed sequence alone (the small preset adds the plain one)


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    yield


def _train(lm, out, steps=8, overrides=None):
    options = TrainOptions(steps=steps, save_every=100, val_every=100)
    return train_editor(lm, "instructedit", TRAIN, (), options, out, {**FAST, **(overrides or {})})


@pytest.fixture
def spy_inputs(monkeypatch):
    """The token ids of every edit input the editor's gradient is taken on."""
    seen: list[tuple[int, ...]] = []
    real = mend_net_module.gradient_factors

    def spy(lm, modules, params, encoded):
        seen.extend(pair.ids for pair in encoded)
        return real(lm, modules, params, encoded)

    monkeypatch.setattr(mend_net_module, "gradient_factors", spy)
    return seen


def test_registry_preset_and_hparams_extend_mends(tiny_lm):
    lm = tiny_lm("gpt2")
    assert get_method("instructedit") is INSTRUCTEDIT
    hp = INSTRUCTEDIT.preset(lm)
    assert isinstance(hp, MENDHParams) and hp.layers == (1, 2, 3) and hp.held_out == () and hp.plain_gradient
    assert not InstructEditHParams().plain_gradient
    with pytest.raises(AttributeError):
        InstructEditHParams().held_out = ("capital",)  # type: ignore[misc]


def test_the_instruction_is_prepended_at_training_and_held_out_tasks_are_never_trained(tiny_lm, tmp_path,
                                                                                          spy_inputs):
    lm = tiny_lm("gpt2")
    _train(lm, tmp_path / "ie.safetensors", steps=3, overrides=PAPER)
    expected = {tuple(encode_text(lm.tokenizer, for_relation(f.relation).prefix() + f.prompt)) for f in TRAIN[:3]}
    instructed = [ids for ids in spy_inputs if any(ids[: len(e)] == e for e in expected)]
    assert len(instructed) == len(spy_inputs) == 9  # 3 steps × 3 requests, every one instructed
    assert {ids[: len(e)] for ids in instructed for e in expected if ids[: len(e)] == e} == expected
    city = encode_text(lm.tokenizer, for_relation("city_country").prefix())
    assert not any(ids[: len(city)] == tuple(city) for ids in spy_inputs)  # held out


def test_the_instruction_is_prepended_at_edit_time(tiny_lm, tmp_path, spy_inputs):
    lm = tiny_lm("gpt2")
    trained = _train(lm, tmp_path / "i.safetensors", 2, PAPER)
    hp = with_overrides(INSTRUCTEDIT.preset(lm), {"checkpoint": str(trained.path)})
    spy_inputs.clear()
    delta = INSTRUCTEDIT.compute(lm, [TRAIN[3]], hp)
    prefix = encode_text(lm.tokenizer, TASKS["city_country"].prefix() + TRAIN[3].prompt)
    assert len(spy_inputs) == 1 and spy_inputs[0][: len(prefix)] == tuple(prefix)
    assert delta.info["tasks"] == [{"task": "city", "from": "relation"}]


def test_plain_gradient_adds_the_plain_prompt_beside_the_instructed_one(tiny_lm, tmp_path, spy_inputs):
    lm = tiny_lm("gpt2")
    result = _train(lm, tmp_path / "i.safetensors", 2, {"plain_gradient": "true"})
    assert len(spy_inputs) == 2 * 2 * 3  # steps × requests × (instructed, plain)
    hp = with_overrides(INSTRUCTEDIT.preset(lm), {"checkpoint": str(result.path)})  # the checkpoint says plain
    spy_inputs.clear()
    INSTRUCTEDIT.compute(lm, [TRAIN[3]], hp)
    prefix = encode_text(lm.tokenizer, TASKS["city_country"].prefix() + TRAIN[3].prompt)
    plain = encode_text(lm.tokenizer, TRAIN[3].prompt)
    assert len(spy_inputs) == 2 and spy_inputs[0][: len(prefix)] == tuple(prefix)
    assert spy_inputs[1][: len(plain)] == tuple(plain)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_training_lowers_the_loss_and_the_delta_leaves_the_model_bit_identical(tiny_lm, tmp_path, family):
    lm = tiny_lm(family)
    before = state_fingerprint(lm.model)
    result = _train(lm, tmp_path / "ie.safetensors", steps=12)
    losses = result.record.losses
    assert len(losses) == 12 and losses[-1] < 0.95 * losses[0], losses
    hp = with_overrides(INSTRUCTEDIT.preset(lm), {"checkpoint": str(result.path)})
    delta = INSTRUCTEDIT.compute(lm, [CITY, TRAIN[0]], hp)
    assert state_fingerprint(lm.model) == before
    assert all(isinstance(u, LowRankUpdate) and u.dense().abs().max() > 0 for u in delta.updates)
    assert_applies_and_reverts_exactly(lm, delta, before)


def test_a_request_without_relation_is_classified_or_gets_the_generic_instruction(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    hp = with_overrides(INSTRUCTEDIT.preset(lm), {"held_out": ""})
    editor = INSTRUCTEDIT.new_editor(lm, hp)
    assert resolve_tasks(lm, editor, [CITY], hp) == [(GENERIC, "generic")]  # nothing observed yet
    prompts = [f.prompt for f in TRAIN]
    editor.observe_tasks([TASK_NAMES.index(f.relation) for f in TRAIN], prompt_states(lm, prompts))
    bare = [fact_from_dict({**f.to_dict(), "relation": ""}) for f in TRAIN]
    assert resolve_tasks(lm, editor, bare, hp) == [(TASKS[f.relation], "classified") for f in TRAIN]
    strict = with_overrides(hp, {"min_similarity": "1.01"})  # no cosine reaches it
    assert resolve_tasks(lm, editor, bare[:1], strict) == [(GENERIC, "generic")]
    named = fact_from_dict({**CITY.to_dict(), "relation": "place_of_birth"})
    assert resolve_tasks(lm, editor, [named], hp)[0][0].prefix().startswith("Task: place of birth. Description: ")


def test_the_classifier_picks_the_nearest_seen_task_above_the_threshold(tiny_lm):
    lm = tiny_lm("gpt2")
    editor = INSTRUCTEDIT.new_editor(lm, INSTRUCTEDIT.preset(lm))
    d = lm.info.hidden_size
    basis = torch.eye(d)
    editor.observe_tasks([0, 0, 2], torch.stack([basis[0], basis[0], basis[1]]))
    states = torch.stack([basis[0] + 0.1 * basis[1], basis[1], basis[3], -basis[0]])
    assert editor.classify(states, 0.9) == [0, 2, None, None]  # task 1 never seen: never chosen


def test_all_training_requests_held_out_is_an_error(tiny_lm, tmp_path):
    with pytest.raises(EditError, match="held-out task"):
        _train(tiny_lm("gpt2"), tmp_path / "ie.safetensors", steps=1,
               overrides={"held_out": "capital,language,currency,city_country"})


def test_checkpoint_round_trip_keeps_the_classifier_and_is_refused_for_another_model(tiny_lm, tmp_path):
    gpt2, llama = tiny_lm("gpt2"), tiny_lm("llama")
    out = tmp_path / "ie.safetensors"
    _train(gpt2, out, steps=3)
    ckpt = read_checkpoint(out, "instructedit", gpt2.info.fingerprint)
    editor = loaded_editor(INSTRUCTEDIT, gpt2, ckpt)
    assert editor.task_counts[TASK_NAMES.index("city_country")] == 0 and editor.task_counts.sum() == 9
    assert ckpt.record.hparams["held_out"] == ["city_country"]
    assert_refused_for_another_model(INSTRUCTEDIT, gpt2, llama, out, [CITY], "mend")


def test_cli_trains_and_edits(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "ie.safetensors"
    trained = cli_train_and_edit(capsys, "instructedit", tiny_model_dir("gpt2"), TRAIN, FAST, out, tmp_path)
    assert trained["hparams"]["held_out"] == ["city_country"]


def test_cancel_leaves_the_model_unchanged_and_saves_the_last_finished_step(tiny_lm, tmp_path):
    assert_cancel_keeps_the_model_and_the_last_step(tiny_lm("gpt2"), INSTRUCTEDIT, TRAIN, FAST,
                                                    tmp_path / "ie.safetensors", CITY)


def test_balanced_batches_train_a_small_task_as_often_as_a_large_one():
    """Seed 001's finding 3: task imbalance hurts the multi-task editor; ``balance_tasks`` draws
    each request's task uniformly. A step's batch is a function of (seed, step), without repeats."""
    import dataclasses

    small, large = TRAIN[0], TRAIN[1]
    facts = [small] + [dataclasses.replace(large, subject=f"Land {i}") for i in range(9)]  # 1 : 9
    hp = with_overrides(InstructEditHParams(), {"balance_tasks": "true", "edits_per_step": "2"})
    batches = [INSTRUCTEDIT.batch(facts, step, hp) for step in range(400)]
    share = sum(b.count(small) for b in batches) / sum(len(b) for b in batches)
    assert 0.3 < share < 0.5  # its one request in three steps of four (0.375), not the data's 0.1
    assert all(len(b) == 2 for b in batches)
    assert all(len(b) == len(set(id(f) for f in b)) for b in batches)
    assert INSTRUCTEDIT.batch(facts, 7, hp) == batches[7]
    plain = dataclasses.replace(hp, balance_tasks=False)
    share_plain = sum(INSTRUCTEDIT.batch(facts, s, plain).count(small) for s in range(400)) / 800
    assert share_plain < 0.15
