"""What the app's "Train editor…" dialog and method panel need from core: per-step figures
with the rate, validation figures during training, the list of checkpoints with the reason
another model's cannot be used, and the checkpoint a run used in its record."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from core.ledger import Workspace
from core.methods.editor_ckpt import (
    Checkpoint,
    CheckpointError,
    default_checkpoint,
    editor_checkpoints,
    read_checkpoint,
    read_record,
    save_checkpoint,
)
from core.util.progress import Progress, rate_text
from core.workflows.editing import compute_edit
from core.workflows.train import TrainOptions, is_trainable, train_editor, trainable_methods
from tests.core.test_mend import FACT, FAST, TRAIN


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    yield


def _train(lm, out, steps, events=None, val=(), val_every=100):
    progress = Progress(events.append) if events is not None else None
    options = TrainOptions(steps=steps, save_every=2, val_every=val_every, val_size=2)
    return train_editor(lm, "mend", TRAIN, val, options, out, FAST, progress)


def test_each_step_reports_its_figures_rate_and_time_left_and_validation_its_figures(tiny_lm, tmp_path):
    lm, events = tiny_lm("gpt2"), []
    val = [dataclasses.replace(TRAIN[0], target_new="Seattle")]
    record = _train(lm, tmp_path / "mend.safetensors", 4, events, val, val_every=2).record
    steps = [e for e in events if "loss" in e.values]
    assert [e.done for e in steps] == [1, 2, 3, 4] and all(e.total == 4 for e in steps)
    assert [e.values["loss"] for e in steps] == pytest.approx(list(record.losses), abs=1e-6)
    assert all(e.values["rate"] > 0 and e.values["total_units"] == 4 for e in steps[1:])
    assert steps[-1].values["seconds_left"] == 0 and "seconds_left" not in steps[0].values, "step 1 sets up"
    assert "1 / 4 steps" in steps[0].message and "step/s" in steps[1].message and "left" in steps[1].message
    checks = [e for e in events if "val_reliability" in e.values]
    assert [e.done for e in checks] == [2, 4] == [v["step"] for v in record.validation]
    assert checks[-1].values["val_locality"] == record.validation[-1]["locality"]


def test_a_slow_rate_keeps_its_decimal():
    assert rate_text(3, 40, 0.44, "steps", "step") == "3 / 40 steps · 0.4 step/s · 1 min 24 s left"
    assert rate_text(12_800, 40_000, 3_100.4) == "12,800 / 40,000 tokens · 3,100 tok/s · 9 s left"


def test_the_registry_names_its_trained_editors():
    assert trainable_methods() == ["mend", "ke", "instructedit", "recipe"]
    assert is_trainable("mend") and not is_trainable("rome")


def test_checkpoints_are_listed_with_why_another_models_cannot_be_used(tiny_lm, tmp_path, monkeypatch):
    lm = tiny_lm("gpt2")
    monkeypatch.setenv("FACTSMITH_CACHE_DIR", str(tmp_path / "cache"))  # its editors folder is this test's
    mine = _train(lm, default_checkpoint("mend", lm.info.fingerprint), 2)
    _train(lm, tmp_path / "elsewhere.safetensors", 2)
    other = dataclasses.replace(mine.record, fingerprint="f" * 64, model_name="someone-else")
    save_checkpoint(tmp_path / "other.safetensors", Checkpoint(other, read_checkpoint(mine.path, "mend").editor, None))
    save_checkpoint(tmp_path / "ke.safetensors", Checkpoint(dataclasses.replace(mine.record, method="ke"), {}, None))
    (tmp_path / "broken.safetensors").write_bytes(b"not a checkpoint")
    extra = [tmp_path / n for n in ("elsewhere", "other", "ke", "broken", "missing")]
    entries = editor_checkpoints("mend", lm.info.fingerprint, [p.with_suffix(".safetensors") for p in extra])
    names = [e.path.name for e in entries]
    assert names[:2] == [mine.path.name, "elsewhere.safetensors"], "usable ones first, the default path leading"
    assert [e.usable for e in entries[:2]] == [True, True] and entries[0].record.step == 2
    assert "ke.safetensors" not in names and "missing.safetensors" not in names
    by_name = {e.path.name: e for e in entries}
    assert by_name["other.safetensors"].problem.startswith("fingerprint mismatch: trained for someone-else")
    assert not by_name["broken.safetensors"].usable and "unreadable" in by_name["broken.safetensors"].problem
    assert read_record(mine.path) == mine.record
    with pytest.raises(CheckpointError, match="not a readable editor checkpoint"):
        read_checkpoint(tmp_path / "broken.safetensors", "mend")


def test_a_run_records_the_checkpoint_that_made_it(tiny_lm, tiny_model_dir, tmp_path):
    lm = tiny_lm("gpt2")
    out = _train(lm, tmp_path / "mend.safetensors", 2).path
    outcome = compute_edit(lm, [FACT], "mend", overrides={"checkpoint": str(out)}, preview_tokens=0)
    used = outcome.environment["editor_checkpoint"]
    assert used == {"path": str(out), "sha256": hashlib.sha256(out.read_bytes()).hexdigest(), "step": 2,
                    "fingerprint": lm.info.fingerprint}
    with Workspace.create(tmp_path / "w.factsmith", tiny_model_dir("gpt2"), author="alice") as ws:
        ws.add_facts([FACT])
        run = ws.record_outcome(outcome)
        assert ws.run(run.id).environment["editor_checkpoint"] == used
        direct = ws.record_run(facts=[FACT], delta=outcome.delta, computed_on=ws.head().state_fingerprint)
        assert direct.environment["editor_checkpoint"] == used, "recorded however the run was stored"
        ft = compute_edit(lm, [FACT], "ft-m", overrides={"steps": "1"}, preview_tokens=0)
        assert "editor_checkpoint" not in ws.record_outcome(ft).environment


def test_a_cancel_saves_the_checkpoint_at_the_last_finished_step(tiny_lm, tmp_path):
    from core.util.progress import Cancelled

    lm, out = tiny_lm("gpt2"), tmp_path / "cancelled.safetensors"

    def stop_after_five(event) -> None:
        if "loss" in event.values and event.done == 5:
            progress.cancel()

    progress = Progress(stop_after_five)
    options = TrainOptions(steps=40, save_every=4, val_every=100)
    with pytest.raises(Cancelled):
        train_editor(lm, "mend", TRAIN, (), options, out, FAST, progress)
    record = read_checkpoint(out, "mend").record
    assert record.step == 5 and len(record.losses) == 5, "step 5 was finished: not lost to the checkpoint of step 4"


def test_a_resume_without_steps_continues_the_runs_own_budget_not_the_presets(tiny_lm, tmp_path):
    """The record keeps the run's budget (which a decaying rate spans): a resume that names no
    steps goes on to it, never to the preset's (600 for MEND), and one already there runs nothing."""
    from core.util.progress import Cancelled

    lm, out = tiny_lm("gpt2"), tmp_path / "mend.safetensors"

    def stop_after_step_3(event):
        if event.values.get("loss") is not None and event.done >= 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        train_editor(lm, "mend", TRAIN, (), TrainOptions(steps=6, save_every=2), out, FAST,
                     Progress(stop_after_step_3))
    stopped = read_record(out)
    assert stopped.total_steps == 6 and 0 < stopped.step < 6
    resumed = train_editor(lm, "mend", TRAIN, (), TrainOptions(save_every=2, resume=True), out, FAST)
    assert resumed.record.step == 6 and resumed.record.total_steps == 6 and resumed.resumed_from == stopped.step
    again = train_editor(lm, "mend", TRAIN, (), TrainOptions(resume=True), out, FAST)
    assert again.record.step == 6 and again.resumed_from == 6, "already at its budget: nothing ran"


def test_the_first_step_is_not_timed_so_the_first_estimate_is_not_wild():
    """Trial 37: "0.1 step/s · 1 h 13 min left" for a 10-minute run, the first step setting up."""
    from core.util.progress import RateMeter

    now = [0.0]
    meter = RateMeter(100, "steps", "step", clock=lambda: now[0], warmup=1)
    now[0] = 10.0  # the first step: 10 s, mostly setting up
    meter.mark(1)
    assert meter.rate(1) == 0.0 and "left" not in meter.text(1)
    now[0] = 11.0  # then 1 s a step
    meter.mark(2)
    assert meter.rate(2) == 1.0 and meter.text(2).endswith("1 min 38 s left")
    assert meter.rate(2) == meter.rate(2), "asking twice changes nothing"


def test_a_checkpoint_without_optimiser_state_resumes_and_says_so(tiny_lm, tmp_path):
    """A resume of a checkpoint that holds no optimiser state trained on with a fresh Adam,
    nothing said (the note's list of what was left undone)."""
    lm, out = tiny_lm("gpt2"), tmp_path / "mend.safetensors"
    first = _train(lm, out, 2)
    assert first.notes == ()
    stored = read_checkpoint(out, "mend", lm.info.fingerprint)
    save_checkpoint(out, Checkpoint(stored.record, stored.editor, None))
    options = TrainOptions(steps=4, save_every=2, val_every=100, val_size=2, resume=True)
    resumed = train_editor(lm, "mend", TRAIN, (), options, out, None)
    assert resumed.record.step == 4
    assert any("holds no optimiser state: training resumed with a fresh optimiser" in n for n in resumed.notes)
    again = train_editor(lm, "mend", TRAIN, (), dataclasses.replace(options, steps=6), out, None)
    assert again.notes == (), "the resumed run saved its optimiser: nothing to say the next time"
