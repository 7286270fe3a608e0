"""Checks the tests of trained editors (MEND, KE, InstructEdit, RECIPE) share: an edit that
applies and reverts bit-exactly, a checkpoint that reloads and is refused for another model,
a cancelled training and edit, and the command line's train-then-edit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.edit.deltas import apply_delta, revert_delta
from core.methods.editor_ckpt import CheckpointError, read_checkpoint
from core.methods.hparams import with_overrides
from core.model.fingerprint import state_fingerprint
from core.util.progress import Cancelled, Progress
from core.workflows.train import TrainOptions, train_editor


def with_checkpoint(method, lm, path: Path):
    """The method's preset for ``lm``, editing with the editor saved at ``path``."""
    return with_overrides(method.preset(lm), {"checkpoint": str(path)})


def assert_applies_and_reverts_exactly(lm, delta, before: str) -> None:
    """The delta changes the model (fingerprint ``before``), and reverting it puts back the very bits."""
    receipt = apply_delta(lm.model, delta)
    assert state_fingerprint(lm.model) != before
    revert_delta(lm.model, receipt)
    assert state_fingerprint(lm.model) == before  # bit-exact


def loaded_editor(method, lm, checkpoint):
    """The checkpoint's editor loaded for ``lm``, asserted to hold the checkpoint's very tensors."""
    editor = method.load_editor(lm, checkpoint)
    assert all((editor.state_dict()[k] == v).all() for k, v in checkpoint.editor.items())
    return editor


def assert_refused_for_another_model(method, trained_for, other, path: Path, facts, wrong_method=None) -> None:
    """An edit of ``other`` with the editor trained for ``trained_for`` is refused, naming both
    fingerprints; with ``wrong_method``, reading the file as that method's editor is refused too."""
    with pytest.raises(CheckpointError, match="trained for the model with fingerprint") as refused:
        method.compute(other, facts, with_checkpoint(method, other, path))
    assert trained_for.info.fingerprint[:16] in str(refused.value) and other.info.fingerprint[:16] in str(refused.value)
    if wrong_method is not None:
        with pytest.raises(CheckpointError, match=f"holds a {method.name} editor, not a {wrong_method} one"):
            read_checkpoint(path, wrong_method)


def assert_cancel_keeps_the_model_and_the_last_step(lm, method, train, hparams, out: Path, fact) -> None:
    """Training cancelled in step 4 of 10 saves step 3 (and no temporary file) and leaves the model
    alone; an edit cancelled before it returns gives no delta and leaves the model alone too."""
    before = state_fingerprint(lm.model)
    progress = Progress()

    def on_report(event):
        if event.done >= 3:
            progress.cancel()

    with pytest.raises(Cancelled):
        train_editor(lm, method.name, train, (), TrainOptions(steps=10, save_every=2, val_every=100), out, hparams,
                     Progress(on_report, progress._cancel))
    assert state_fingerprint(lm.model) == before
    assert read_checkpoint(out, method.name, lm.info.fingerprint).record.step == 3, "step 3 finished: saved on cancel"
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")] == []
    cancelled = Progress()
    cancelled.cancel()
    with pytest.raises(Cancelled):
        method.compute(lm, [fact], with_checkpoint(method, lm, out), cancelled)
    assert state_fingerprint(lm.model) == before


def cli_json(capsys, args: list[str]) -> dict:
    """Run the command line (it must exit 0); its JSON report."""
    from core.cli.main import main

    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def cli_train_args(method: str, model: Path, facts, hparams: dict, out: Path, folder: Path) -> list[str]:
    """``factsmith train --json`` of ``method`` on ``facts`` (written to ``folder/train.jsonl``)."""
    path = Path(folder) / "train.jsonl"
    path.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in facts), encoding="utf-8")
    sets = [a for k, v in hparams.items() for a in ("--set", f"{k}={v}")]
    return ["train", "--method", method, "--model", str(model), "--device", "cpu", "--facts", str(path),
            "--out", str(out), "--json", *sets]


def cli_edit_json(capsys, method: str, model: Path, facts, out: Path, folder: Path) -> dict:
    """``factsmith edit --json`` of the facts in ``folder/train.jsonl`` with the checkpoint ``out``;
    its report, asserted to be of ``method`` with one edit per fact."""
    report = cli_json(capsys, ["edit", "--model", str(model), "--device", "cpu", "--facts",
                               str(Path(folder) / "train.jsonl"), "--method", method, "--set", f"checkpoint={out}",
                               "--json"])
    assert report["method"] == method and len(report["edits"]) == len(facts)
    return report


def cli_train_and_edit(capsys, method: str, model: Path, facts, hparams: dict, out: Path, folder: Path) -> dict:
    """Train ``method`` by the command line (2 steps), then edit the same facts with the checkpoint;
    the training's report."""
    trained = cli_json(capsys, [*cli_train_args(method, model, facts, hparams, out, folder), "--steps", "2"])
    cli_edit_json(capsys, method, model, facts, out, folder)
    return trained
