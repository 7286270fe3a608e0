"""MEND and the training job on tiny random GPT-2 and Llama models."""

from __future__ import annotations

import hashlib

import pytest

from core.edit.deltas import LowRankUpdate
from core.facts.fact import fact_from_dict
from core.methods import get_method
from core.methods.editor_ckpt import CheckpointError, read_checkpoint
from core.methods.hparams import with_overrides
from core.methods.mend import MEND, MENDHParams
from core.model.fingerprint import state_fingerprint
from core.util.progress import Progress
from core.workflows.train import TrainOptions, facts_sha256, train_editor
from tests.core.trained_editor_checks import (
    assert_applies_and_reverts_exactly,
    assert_cancel_keeps_the_model_and_the_last_step,
    assert_refused_for_another_model,
    cli_edit_json,
    cli_json,
    cli_train_args,
    loaded_editor,
)

TRAIN = [fact_from_dict(r) for r in (
    {"subject": "France", "prompt": "The capital of France is", "target_new": "Berlin",
     "paraphrases": ["France's capital is"],
     "locality": [{"prompt": "The currency of Japan is the", "answer": "Yen"}]},
    {"subject": "Germany", "prompt": "The official language of Germany is", "target_new": "French",
     "paraphrases": ["Germany's official language is"],
     "locality": [{"prompt": "The Space Needle is in", "answer": "Seattle"}]},
    {"subject": "Japan", "prompt": "The currency of Japan is the", "target_new": "Paris",
     "paraphrases": ["Japan pays with the"],
     "locality": [{"prompt": "Berlin is a city in", "answer": "Germany"}]},
)]
FACT = fact_from_dict({"subject": "The Space Needle", "prompt": "The Space Needle is in", "target_new": "Paris",
                       "target_true": "Seattle"})
# every step edits all three requests, so the loss curve is not the noise of sampling
FAST = {"edits_per_step": "3", "lr": "1e-2", "lr_lr": "1e-2", "rank": "8"}


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    yield


def _train(lm, out, steps=8, resume=False, progress=None, save_every=100, val=()):
    options = TrainOptions(steps=steps, save_every=save_every, val_every=100, val_size=2, resume=resume)
    return train_editor(lm, "mend", TRAIN, val, options, out, FAST, progress)


def test_registry_and_preset_edit_the_last_three_blocks(tiny_lm):
    lm = tiny_lm("gpt2")
    assert get_method("mend") is MEND
    assert MEND.preset(lm).layers == (1, 2, 3)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_training_lowers_the_loss_and_compute_gives_a_low_rank_delta(tiny_lm, tmp_path, family):
    lm = tiny_lm(family)
    before = state_fingerprint(lm.model)
    result = _train(lm, tmp_path / "mend.safetensors", steps=12)
    losses = result.record.losses
    assert len(losses) == 12 and losses[-1] < 0.95 * losses[0], losses
    hp = with_overrides(MEND.preset(lm), {"checkpoint": str(result.path)})
    delta = MEND.compute(lm, [FACT], hp, Progress())
    assert state_fingerprint(lm.model) == before  # training and compute leave the model alone
    params = dict(lm.model.named_parameters())
    assert delta.params == sorted(lm.spec.mlp_out_weight(i) for i in (1, 2, 3))
    for update in delta.updates:
        assert isinstance(update, LowRankUpdate)
        assert update.shape == tuple(params[update.param].shape) and update.dense().abs().max() > 0
    assert delta.info["checkpoint_sha256"] == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert delta.info["checkpoint_step"] == 12
    assert_applies_and_reverts_exactly(lm, delta, before)


def test_checkpoint_round_trip_and_refusal_for_another_model(tiny_lm, tmp_path):
    gpt2, llama = tiny_lm("gpt2"), tiny_lm("llama")
    out = tmp_path / "mend.safetensors"
    result = _train(gpt2, out, steps=2)
    ckpt = read_checkpoint(out, "mend", gpt2.info.fingerprint)
    record = ckpt.record
    assert record.fingerprint == gpt2.info.fingerprint and record.step == 2
    assert record.data_sha256 == facts_sha256(TRAIN) and record.hparams["rank"] == 8
    assert {"torch", "transformers", "safetensors"} <= set(record.versions)
    assert out.with_suffix(".json").is_file() and result.record == record
    loaded_editor(MEND, gpt2, ckpt)
    assert_refused_for_another_model(MEND, gpt2, llama, out, [FACT], "ft-m")


def test_a_missing_checkpoint_says_how_to_train_one(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    hp = with_overrides(MEND.preset(lm), {"checkpoint": str(tmp_path / "none.safetensors")})
    with pytest.raises(CheckpointError, match="factsmith train --method mend"):
        MEND.compute(lm, [FACT], hp)


def test_resume_continues_from_the_saved_step_as_if_never_stopped(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    whole = _train(lm, tmp_path / "whole.safetensors", steps=6)
    first = _train(lm, tmp_path / "split.safetensors", steps=3)
    second = _train(lm, tmp_path / "split.safetensors", steps=6, resume=True)
    assert first.record.step == 3 and second.resumed_from == 3 and second.record.step == 6
    assert second.record.losses[:3] == first.record.losses
    assert second.record.losses == pytest.approx(whole.record.losses, rel=1e-4)
    with pytest.raises(CheckpointError, match="other data"):
        train_editor(lm, "mend", TRAIN[:2], (), TrainOptions(steps=8, resume=True),
                     tmp_path / "split.safetensors", FAST)


def test_cancel_saves_the_checkpoint_at_the_last_finished_step(tiny_lm, tmp_path):
    assert_cancel_keeps_the_model_and_the_last_step(tiny_lm("gpt2"), MEND, TRAIN, FAST, tmp_path / "mend.safetensors",
                                                    FACT)


def test_validation_figures_are_recorded(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    val = [fact_from_dict({**TRAIN[0].to_dict(), "target_new": "Seattle"})]
    record = _train(lm, tmp_path / "mend.safetensors", steps=2, val=val).record
    assert record.validation and record.validation[-1]["step"] == 2
    assert 0.0 <= record.validation[-1]["reliability"] <= 1.0


def test_hparams_are_a_frozen_dataclass():
    with pytest.raises(AttributeError):
        MENDHParams().rank = 3  # type: ignore[misc]


def test_cli_trains_resumes_and_edits_with_the_checkpoint(tiny_model_dir, tmp_path, capsys):
    model, out = tiny_model_dir("gpt2"), tmp_path / "mend.safetensors"
    args = cli_train_args("mend", model, TRAIN, FAST, out, tmp_path)
    first = cli_json(capsys, [*args, "--steps", "2"])
    assert first["steps"] == 2 and first["checkpoint"] == str(out) and first["hparams"]["rank"] == 8
    assert cli_json(capsys, [*args, "--steps", "3", "--resume"])["resumed_from"] == 2
    cli_edit_json(capsys, "mend", model, TRAIN, out, tmp_path)


def test_cli_training_says_its_progress_on_stderr(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """Trial 33: `factsmith train` printed nothing for 151 s, then its summary."""
    import json
    import logging

    from core.cli.main import main

    shown = logging.getLogger("factsmith.progress")
    monkeypatch.setattr(shown, "handlers", [])  # a handler on this test's stderr, the old one restored after
    model, out = tiny_model_dir("gpt2"), tmp_path / "mend.safetensors"
    assert main([*cli_train_args("mend", model, TRAIN, FAST, out, tmp_path), "--steps", "2"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["steps"] == 2, "stdout stays the JSON report alone"
    assert "training: " in captured.err and "2 steps" in captured.err, captured.err


def test_only_trained_editors_can_be_trained(tiny_lm, tmp_path):
    from core.methods.base import EditError

    with pytest.raises(EditError, match="not a trained editor"):
        train_editor(tiny_lm("gpt2"), "ft-m", TRAIN, (), TrainOptions(steps=1), tmp_path / "x.safetensors")


def test_lr_decay_schedules_both_of_mends_rates(tiny_lm, tmp_path):
    """MEND and InstructEdit take KE's schedule (issue 17's InstructEdit round): the network's
    rate and α's both fall by the same factor, from the rates the run started with."""
    out = tmp_path / "mend.safetensors"
    options = TrainOptions(steps=4, save_every=100, val_every=100, val_size=2)
    train_editor(tiny_lm("gpt2"), "mend", TRAIN, (), options, out, {**FAST, "lr_lr": "1e-3", "lr_decay": "linear"})
    network, alpha = read_checkpoint(out, "mend").optimizer["param_groups"]
    assert network["initial_lr"] == pytest.approx(1e-2) and alpha["initial_lr"] == pytest.approx(1e-3)
    assert network["lr"] == pytest.approx(1e-2 * 0.25) and alpha["lr"] == pytest.approx(1e-3 * 0.25)


def test_cli_training_into_the_default_place_says_editing_finds_it(tiny_model_dir, tmp_path, capsys, empty_cache):
    """Trial 45: the last line told the reviewer to `--set checkpoint=…` the very path `edit`
    reads by default; only a checkpoint elsewhere needs it."""
    from core.cli import main

    model = tiny_model_dir("gpt2")
    args = cli_train_args("mend", model, TRAIN, {**FAST, "rank": "4"}, tmp_path / "unused", tmp_path)
    at = args.index("--out")
    del args[at:at + 2]
    args.remove("--json")
    assert main([*args, "--steps", "1"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert "where editing finds it" in last and "--set checkpoint" not in last
    assert main([*args, "--steps", "1", "--out", str(tmp_path / "mine.safetensors")]) == 0
    assert "--set checkpoint=" in capsys.readouterr().out.splitlines()[-1]
