"""A training run keeps, beside its last editor, the validated one that best met the verdict's
targets, and edits with it; a resume continues from the last and keeps the kept one."""

from __future__ import annotations

import pytest

import core.workflows.train as train_module
from core.facts.fact import fact_from_dict
from core.methods import get_method
from core.methods.editor_ckpt import read_checkpoint
from core.methods.hparams import with_overrides
from core.workflows.train import TrainOptions, train_editor
from core.workflows.train_keep import KeptEditor, validation_margin
from tests.core.test_mend import FACT, FAST, TRAIN

# step → the validation figures the scripted validation reports there
SCRIPT = {2: {"reliability": 0.90, "generality": 0.85, "locality": 0.95},  # margin -0.05 (reliability)
          4: {"reliability": 0.97, "generality": 0.82, "locality": 0.93},  # margin +0.02: the best
          6: {"reliability": 0.99, "generality": 0.60, "locality": 0.99},  # margin -0.20 (generality)
          8: {"reliability": 0.97, "generality": 0.85, "locality": 0.85}}  # margin -0.05 (locality)


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    yield


@pytest.fixture
def scripted(monkeypatch):
    """Validation reports SCRIPT's figures in turn (steps 2, 4, 6, 8, then 2's again)."""
    calls = []

    def validate(lm, method, editor, hp, facts):
        calls.append(1)
        return dict(SCRIPT[2 * ((len(calls) - 1) % len(SCRIPT) + 1)])

    monkeypatch.setattr(train_module, "validate", validate)
    return calls


# validation requests apart from the training ones, which a run leaves out of validation (review 47)
VAL = [fact_from_dict({"subject": "Italy", "prompt": "The capital of Italy is", "target_new": "Madrid"}),
       fact_from_dict({"subject": "Spain", "prompt": "The capital of Spain is", "target_new": "Rome"})]


def _train(lm, out, steps=8, keep="best", resume=False):
    options = TrainOptions(steps=steps, save_every=2, val_every=2, val_size=2, resume=resume, keep=keep)
    return train_editor(lm, "mend", TRAIN, VAL, options, out, FAST)


def test_the_margin_is_the_figure_furthest_below_its_target():
    assert validation_margin(SCRIPT[4]) == pytest.approx(0.02)
    assert validation_margin(SCRIPT[6]) == pytest.approx(-0.20)
    assert validation_margin({"reliability": 0.95}) == pytest.approx(0.0), "a figure not measured is not judged"
    assert validation_margin({}) is None


def test_a_tie_keeps_the_later_editor():
    class Editor:
        def __init__(self, value):
            import torch

            self.value = torch.tensor([value])

        def state_dict(self):
            return {"w": self.value}

    kept = KeptEditor()
    assert kept.offer(2, SCRIPT[4], Editor(1.0)) and kept.offer(4, SCRIPT[4], Editor(2.0))
    assert not kept.offer(6, SCRIPT[6], Editor(3.0))
    assert kept.step == 4 and float(kept.state["w"]) == 2.0
    assert kept.stored(4) == (0, None) and kept.stored(6)[0] == 4


def test_the_best_validated_editor_edits_and_the_last_is_resumed(tiny_lm, tmp_path, scripted):
    lm, out = tiny_lm("gpt2"), tmp_path / "mend.safetensors"
    result = _train(lm, out)
    assert (result.record.step, result.record.best_step, result.record.editing_step) == (8, 4, 4)
    assert result.record.editing_validation["step"] == 4
    checkpoint = read_checkpoint(out, "mend", lm.info.fingerprint)
    assert checkpoint.best is not None and checkpoint.editing is checkpoint.best
    assert any(not (checkpoint.best[k] == v).all() for k, v in checkpoint.editor.items()), "step 4 is not step 8"
    method = get_method("mend")
    delta = method.compute(lm, [FACT], with_overrides(method.preset(lm), {"checkpoint": str(out)}))
    assert delta.info["checkpoint_step"] == 4, "the edit names the editor that made it"

    resumed = _train(lm, out, steps=10, resume=True)  # step 10 validates as step 2 did: step 4 stays
    assert (resumed.record.step, resumed.record.best_step) == (10, 4)
    again = read_checkpoint(out, "mend", lm.info.fingerprint)
    assert all((again.best[k] == v).all() for k, v in checkpoint.best.items()), "the kept editor is kept as it was"


def test_keep_last_edits_with_the_last_step(tiny_lm, tmp_path, scripted):
    lm, out = tiny_lm("gpt2"), tmp_path / "mend.safetensors"
    result = _train(lm, out, keep="last")
    assert (result.record.best_step, result.record.editing_step) == (0, 8)
    assert read_checkpoint(out, "mend", lm.info.fingerprint).best is None


def test_a_run_whose_last_step_is_best_stores_no_second_editor(tiny_lm, tmp_path, scripted):
    lm, out = tiny_lm("gpt2"), tmp_path / "mend.safetensors"
    result = _train(lm, out, steps=4)
    assert (result.record.step, result.record.best_step, result.record.editing_step) == (4, 0, 4)
    assert read_checkpoint(out, "mend", lm.info.fingerprint).best is None


def test_the_command_line_says_which_editor_edits(tiny_model_dir, tmp_path, scripted, capsys):
    import json

    from core.cli.main import main

    facts = tmp_path / "train.jsonl"
    facts.write_text("\n".join(json.dumps(f.to_dict()) for f in TRAIN) + "\n", encoding="utf-8")
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(json.dumps(f.to_dict()) for f in VAL) + "\n", encoding="utf-8")
    args = ["train", "--method", "mend", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "--facts",
            str(facts), "--val", str(val), "--steps", "8", "--val-every", "2", "--save-every", "2",
            "--out", str(tmp_path / "m.safetensors"), *[a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]]
    assert main([*args, "--keep", "best"]) == 0
    out = capsys.readouterr().out
    assert "edits with the editor of step 4: its validation met the verdict's targets best" in out
    assert main([*args, "--json", "--out", str(tmp_path / "l.safetensors")]) == 0, "the last step's, by default"
    assert json.loads(capsys.readouterr().out)["kept_step"] == 8


def test_a_resume_keeps_the_runs_own_choice_unless_told(tiny_lm, tmp_path, scripted):
    """The review: resuming a --keep best checkpoint without saying --keep again dropped the kept editor."""
    lm, out = tiny_lm("gpt2"), tmp_path / "mend.safetensors"
    _train(lm, out)
    resumed = _train(lm, out, steps=10, keep=None, resume=True)
    assert (resumed.record.keep, resumed.record.best_step) == ("best", 4)
    dropped = _train(lm, out, steps=12, keep="last", resume=True)
    assert (dropped.record.keep, dropped.record.best_step, dropped.record.editing_step) == ("last", 0, 12)


def test_keeping_the_best_needs_validation_requests(tiny_lm, tmp_path):
    from core.methods.base import EditError

    options = TrainOptions(steps=2, keep="best")
    with pytest.raises(EditError, match=r"needs validation requests \(--val FILE\)"):
        train_editor(tiny_lm("gpt2"), "mend", TRAIN, (), options, tmp_path / "m.safetensors", FAST)


def test_a_kept_step_not_before_the_last_is_refused(tiny_lm, tmp_path, scripted):
    import dataclasses

    from core.methods.editor_ckpt import Checkpoint, CheckpointError, save_checkpoint

    lm, out = tiny_lm("gpt2"), tmp_path / "mend.safetensors"
    _train(lm, out)
    checkpoint = read_checkpoint(out, "mend", lm.info.fingerprint)
    broken = dataclasses.replace(checkpoint, record=dataclasses.replace(checkpoint.record, best_step=8))
    save_checkpoint(out, Checkpoint(broken.record, broken.editor, broken.optimizer, broken.best))
    with pytest.raises(CheckpointError, match="keeps the editor of step 8, not before its last step 8"):
        read_checkpoint(out, "mend", lm.info.fingerprint)
