"""What a training run refuses before spending its budget (review 47, trial 46): a fresh run
over a checkpoint (the README's own command replaced the editor a commit used), a resume of a
checkpoint that is not there, a resume with other hyperparameters, a checkpoint named .json,
and a checkpoint whose record or tensors this version cannot use."""

from __future__ import annotations

import json

import pytest
import torch

from core.methods.base import EditError
from core.methods.editor_ckpt import CheckpointError, read_checkpoint
from core.workflows.train import TrainOptions, train_editor
from tests.core.test_mend import FAST, TRAIN


@pytest.fixture
def trained(tiny_lm, tmp_path, one_torch_thread):
    lm, out = tiny_lm("gpt2"), tmp_path / "mend.safetensors"
    train_editor(lm, "mend", TRAIN, (), TrainOptions(steps=2), out, FAST)
    return lm, out


def test_a_fresh_run_over_a_checkpoint_is_refused_unless_told(trained):
    lm, out = trained
    before = out.read_bytes()
    with pytest.raises(EditError, match="already holds a checkpoint: resume it, or replace it"):
        train_editor(lm, "mend", TRAIN, (), TrainOptions(steps=2), out, FAST)
    assert out.read_bytes() == before
    train_editor(lm, "mend", TRAIN, (), TrainOptions(steps=2, replace=True), out, FAST)


def test_a_resume_needs_the_checkpoint_and_its_hyperparameters(trained, tmp_path):
    lm, out = trained
    with pytest.raises(EditError, match=r"no checkpoint at .*missing\.safetensors to resume"):
        train_editor(lm, "mend", TRAIN, (), TrainOptions(steps=4, resume=True), tmp_path / "missing.safetensors",
                     FAST)
    with pytest.raises(EditError, match=r"trained with rank 8 \(asked 16\); a resume continues with its own"):
        train_editor(lm, "mend", TRAIN, (), TrainOptions(steps=4, resume=True), out, {**FAST, "rank": "16"})
    assert train_editor(lm, "mend", TRAIN, (), TrainOptions(steps=4, resume=True), out, FAST).record.step == 4


def test_a_checkpoint_named_json_is_refused_before_any_step(tiny_lm, tmp_path, one_torch_thread):
    from core.util.progress import Progress

    seen: list = []
    progress = Progress(seen.append)
    with pytest.raises(CheckpointError, match=r"ends in \.safetensors, not \.json"):
        train_editor(tiny_lm("gpt2"), "mend", TRAIN, (), TrainOptions(steps=20, save_every=20), tmp_path / "m.json",
                     FAST, progress)
    assert not (tmp_path / "m.json").exists() and seen == [], "refused before the first step"


def test_validation_the_split_rule_emptied_is_said_for_keep_best(tiny_lm, tmp_path, one_torch_thread):
    with pytest.raises(EditError, match="the split rule left none of the given ones: left out 3 that are training"):
        train_editor(tiny_lm("gpt2"), "mend", TRAIN, TRAIN, TrainOptions(steps=2, keep="best"),
                     tmp_path / "m.safetensors", FAST)


def _rewritten(out, record=None, scale=None):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(out), framework="pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    if record is not None:
        meta["record"] = json.dumps(record(json.loads(meta["record"])))
    if scale is not None:
        name = next(k for k in tensors if k.startswith("editor::"))
        tensors[name] = tensors[name] * scale
    save_file(tensors, str(out), metadata=meta)


def test_a_record_this_version_cannot_use_is_a_clear_error(trained):
    from core.methods.mend import MEND

    lm, out = trained
    _rewritten(out, record=lambda r: {**r, "hparams": {**r["hparams"], "from_the_future": 1, "rank": "big"}})
    with pytest.raises(CheckpointError, match=r"cannot use \(unknown from_the_future; of the wrong kind rank='big'\)"):
        MEND.load_editor(lm, read_checkpoint(out, "mend"))


def test_non_finite_editor_weights_are_refused(trained):
    lm, out = trained
    _rewritten(out, scale=float("nan"))
    with pytest.raises(CheckpointError, match=r"is damaged: editor::.* hold NaN or infinite values"):
        read_checkpoint(out, "mend")
    assert torch.isfinite(next(lm.model.parameters())).all()


def test_the_command_line_replaces_only_with_force(tiny_model_dir, tmp_path, capsys, one_torch_thread):
    from core.cli.main import main

    facts = tmp_path / "train.jsonl"
    facts.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in TRAIN), encoding="utf-8")
    args = ["train", "--method", "mend", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "--facts",
            str(facts), "--steps", "1", "--out", str(tmp_path / "m.safetensors"),
            *[a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert "already holds a checkpoint: resume it, or replace it (factsmith train --force)" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


@pytest.mark.parametrize(("key", "value", "said"), [
    ("edits_per_step", "0", "edits_per_step is 0; it must be at least 1"),
    ("lr", "-1", "lr is -1.0; it must be positive"),
    ("edit_scale", "0", "edit_scale is 0.0; it must be positive")])
def test_bad_counts_and_rates_are_refused_before_the_first_step(tiny_lm, tmp_path, key, value, said,
                                                                one_torch_thread):
    out = tmp_path / "m.safetensors"
    with pytest.raises(EditError, match=f"mend: {said}"):
        train_editor(tiny_lm("gpt2"), "mend", TRAIN, (), TrainOptions(steps=2), out, {**FAST, key: value})
    assert not out.exists()
