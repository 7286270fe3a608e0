"""Tools → Train editor…, driven as a reviewer would on a tiny GPT-2: pick the file, start,
watch the progress and the curves, cancel, resume; the checkpoint then shows in the method
panel (another model's disabled, with the reason) and the run it makes records it."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app import file_dialogs
from app.widgets.checkpoint_choice import NONE_YET
from core import demo_editor_train_file
from core.methods.editor_ckpt import Checkpoint, default_checkpoint, editors_dir, read_checkpoint, save_checkpoint
from core.workflows.train import TrainOptions, train_editor, trainable_methods
from tests.app.helpers import open_window, wait_job
from tests.core.test_mend import FAST, TRAIN

pytestmark = pytest.mark.gui


def _write(path, facts):
    path.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in facts), encoding="utf-8")
    return path


def _menu_action(window, menu: str, text: str):
    for top in window.menuBar().actions():
        if top.text().replace("&", "") == menu:
            return next(a for a in top.menu().actions() if a.text() == text)
    raise KeyError(menu)


@pytest.fixture
def window(qtbot, tiny_model_dir):
    window = open_window(qtbot, model_path=tiny_model_dir("gpt2"))
    yield window
    window.close()


def _click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _pick(qtbot, monkeypatch, field, path):
    """Browse… and pick ``path`` in the file chooser."""
    monkeypatch.setattr(file_dialogs, "open_file_name", lambda *a, **k: str(path))
    _click(qtbot, field.browse_button)


def test_start_waits_for_a_chosen_training_file(qtbot, window, tmp_path, monkeypatch):
    _menu_action(window, "Tools", "Train editor…").trigger()
    dialog = window.train_dialog
    offered = [dialog.method.itemText(i) for i in range(dialog.method.count())]
    assert dialog.isVisible() and offered == trainable_methods() == ["mend", "ke", "instructedit", "recipe"]
    assert dialog.method.currentText() == "mend"
    assert dialog.data.path.text() == "" and "Demo training set" in dialog.data.path.placeholderText()
    assert not dialog.start_button.isEnabled() and not dialog.resume_button.isEnabled()
    dialog.start()  # Enter or a stray call: no file, no job
    assert not window.lane.busy and dialog.job is None
    _click(qtbot, dialog.data.demo_button)
    assert dialog.data.chosen() == demo_editor_train_file()
    assert dialog.data.info.text().startswith("1,555 requests")
    assert dialog.start_button.isEnabled()
    assert dialog.out.text() == str(default_checkpoint("mend", window.lm.info.fingerprint))
    _pick(qtbot, monkeypatch, dialog.val, tmp_path / "missing.jsonl")
    assert "no such file" in dialog.val.info.text() and not dialog.start_button.isEnabled()
    dialog.val.choose("")
    assert dialog.start_button.isEnabled(), "validation is optional"
    # trial 37: Enter in the training file's path opened Browse…'s file chooser
    monkeypatch.setattr(file_dialogs, "open_file_name", lambda *a, **k: pytest.fail("a file chooser opened"))
    dialog.activateWindow()  # typed into as a reviewer does, the field having the keys (the main window's
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=5_000)  # queue has them at start)
    dialog.data.path.setFocus()
    dialog.data.path.selectAll()
    qtbot.keyClicks(dialog.data.path, str(tmp_path / "nope.jsonl"))
    assert dialog.data.info.text().startswith("Press Enter") and not dialog.start_button.isEnabled()
    qtbot.keyClick(dialog.data.path, Qt.Key.Key_Return)
    assert "no such file" in dialog.data.info.text()


def _start_and_cancel(qtbot, dialog, window):
    _click(qtbot, dialog.start_button)
    job = dialog.job
    assert job is not None and not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    seen = []
    with qtbot.waitSignal(job.progressed, timeout=120_000,
                          check_params_cb=lambda e: seen.append(e) or (e.done >= 3 and "loss" in e.values)):
        pass
    assert "/ 40 steps" in seen[-1].message and "step/s" in seen[-1].message and "left" in seen[-1].message
    _click(qtbot, dialog.cancel_button)
    wait_job(qtbot, job)
    assert job.state.value == "cancelled"
    return seen


def _open_from_the_method_panel(qtbot, window):
    """Choose mend: no editor for this model yet, so Train… opens the dialog for it."""
    panel = window.method_panel
    panel.method.setCurrentText("mend")
    assert panel.trained and not panel.checkpoint_row.isHidden()
    assert panel.checkpoint.currentText() == NONE_YET
    _click(qtbot, panel.train_button)
    dialog = window.train_dialog
    assert dialog.isVisible() and dialog.method.currentText() == "mend"
    return dialog


def _fill(qtbot, monkeypatch, dialog, train, val, out):
    _pick(qtbot, monkeypatch, dialog.data, train)
    _pick(qtbot, monkeypatch, dialog.val, val)
    dialog.steps.setValue(40)
    dialog.val_every.setValue(3)
    dialog.save_every.setValue(2)
    dialog.out.clear()
    qtbot.keyClicks(dialog.out, str(out))
    qtbot.keyClick(dialog.out, Qt.Key.Key_Return)
    assert dialog.job is None, "Enter in a field starts nothing"
    assert dialog.out_info.text().startswith("No checkpoint there yet")


def test_train_cancel_resume_then_edit_with_the_checkpoint(qtbot, window, stranger, tmp_path, monkeypatch):
    train = _write(tmp_path / "train.jsonl", TRAIN)
    val = _write(tmp_path / "val.jsonl", [dataclasses.replace(TRAIN[0], target_new="Seattle")])
    out = tmp_path / "editors" / "mine.safetensors"
    out.parent.mkdir()
    dialog = _open_from_the_method_panel(qtbot, window)
    _fill(qtbot, monkeypatch, dialog, train, val, out)
    _start_and_cancel(qtbot, dialog, window)
    saved = read_checkpoint(out, "mend").record.step
    assert saved >= 3 and len(dialog.loss.losses) == saved, "every finished step is saved on cancel"
    assert dialog.state.text() == (f"Cancelled after step {saved}: the checkpoint now holds all {saved} steps "
                                   f"({saved} from this run, saved on cancel); Resume continues it")
    # trial 33: the bar went back to 0 on cancel, as if nothing was kept; it shows the checkpoint's share
    assert dialog.bar.value() == int(1000 * saved / 40)
    assert dialog.bar.text() == f"{saved} of 40 steps kept", "trial 38: a bare percentage read as still running"
    assert dialog.validation.empty_text() == "", "a validation set was chosen: its figures show"
    assert [s for s, _ in dialog.validation.points["reliability"]][:1] == [3]
    assert dialog.resume_button.isEnabled() and dialog.record.step == saved
    dialog.steps.setValue(saved + 2)
    _click(qtbot, dialog.resume_button)
    job = wait_job(qtbot, dialog.job)
    assert job.state.value == "done", dialog.error.text()
    record = read_checkpoint(out, "mend").record
    assert record.step == saved + 2 and dialog.loss.losses == pytest.approx(list(record.losses), abs=1e-6)
    assert dialog.state.text().startswith(f"Done: {saved + 2} steps") and str(out) in dialog.state.text()
    _resume_on_other_data_says_why(qtbot, dialog, window, tmp_path, monkeypatch)
    _checkpoint_in_the_method_panel(window, out)
    _run_records_the_checkpoint(qtbot, window, train, out)


def test_after_a_restart_the_dialog_is_ready_to_resume_and_says_what_training_writes(qtbot, window, tmp_path,
                                                                                       monkeypatch):
    """Trial 36: after a restart Resume stayed grey until the training file was chosen again, and
    while training the path still read "No checkpoint there yet"."""
    from app.dialogs.train_dialog import TrainDialog

    train = _write(tmp_path / "train.jsonl", TRAIN)
    out = tmp_path / "mine.safetensors"
    dialog = _open_from_the_method_panel(qtbot, window)
    window.preview_panel.state.setText(window.method_panel.missing_editor())  # what Preview said before
    _fill(qtbot, monkeypatch, dialog, train, train, out)
    _click(qtbot, dialog.start_button)
    assert dialog.out_info.text().startswith("Training into this checkpoint: saved every 2 steps")
    with qtbot.waitSignal(dialog.job.progressed, timeout=120_000, check_params_cb=lambda e: e.done >= 3):
        pass
    _click(qtbot, dialog.cancel_button)
    wait_job(qtbot, dialog.job)
    assert window.preview_panel.state.text().startswith("Editor trained (mine.safetensors)"), "not still missing"
    again = TrainDialog(window.session, window, window.settings)  # as a restarted app builds it
    assert (again.method.currentText(), again.data.chosen(), again.val.chosen(), again.out_path()) == (
        "mend", train, train, out)
    assert again.record is not None and again.resume_button.isEnabled(), again.out_info.text()
    again.close()
    # a default path an earlier version saved is not the reviewer's own: the default follows the model
    from core.methods.editor_ckpt import default_checkpoint

    window.settings.set_value("train/out", str(default_checkpoint("mend", "c" * 64)))
    third = TrainDialog(window.session, window, window.settings)
    assert third.out_path() == default_checkpoint("mend", window.lm.info.fingerprint)
    third.close()
    own = default_checkpoint("mend", "c" * 64).with_name("mend-my-data.safetensors")  # the reviewer's, there
    window.settings.set_value("train/out", str(own))
    fourth = TrainDialog(window.session, window, window.settings)
    assert fourth.out_path() == own
    fourth.close()


def _resume_on_other_data_says_why(qtbot, dialog, window, tmp_path, monkeypatch):
    _pick(qtbot, monkeypatch, dialog.data, _write(tmp_path / "other.jsonl", TRAIN[:2]))
    dialog.steps.setValue(dialog.record.step + 1)
    _click(qtbot, dialog.resume_button)
    assert wait_job(qtbot, dialog.job).state.value == "failed"
    assert "was trained on other data" in dialog.error.text() and "Open log" not in dialog.error.text()
    assert "\n" not in dialog.error.text(), "one line here, and all there is to it (bad input, trial 42)"
    logged = window.log_file.read_text(encoding="utf-8")
    assert "Traceback" not in logged and "was trained on other data" in logged


@pytest.fixture
def stranger(window, tmp_path):
    """Another model's mend checkpoint in the (session-wide) editors folder, for this test only."""
    theirs = train_editor(window.lm, "mend", TRAIN, (), TrainOptions(steps=1), tmp_path / "x.safetensors", FAST)
    editor = read_checkpoint(theirs.path, "mend").editor
    record = dataclasses.replace(theirs.record, fingerprint="f" * 64, model_name="someone-else")
    path = save_checkpoint(editors_dir() / "mend-stranger.safetensors", Checkpoint(record, editor, None))
    yield path
    path.unlink(missing_ok=True)


def _checkpoint_in_the_method_panel(window, out):
    """Listed as soon as training wrote it: chosen, with another model's disabled and why."""
    record, panel = read_checkpoint(out, "mend").record, window.method_panel
    choice = panel.checkpoint
    items = {choice.itemText(i): choice.model().item(i).isEnabled() for i in range(choice.count())}
    assert items == {
        f"mine.safetensors · {record.step} steps · val. reliability {record.validation[-1]['reliability']:.2f}": True,
        "mend-stranger.safetensors: fingerprint mismatch (for someone-else)": False}
    assert choice.currentText().startswith("mine.safetensors"), "the usable one is chosen, not another model's"
    assert panel.overrides()["checkpoint"] == str(out.resolve())
    panel.method.setCurrentText("rome")
    assert not panel.trained and panel.checkpoint_row.isHidden()
    panel.method.setCurrentText("mend")
    assert choice.currentText().startswith("mine.safetensors")


def _run_records_the_checkpoint(qtbot, window, train, out):
    wait_job(qtbot, window.import_facts(train), 60_000)
    window.queue.select_row(0)
    job = wait_job(qtbot, window.preview_selected())
    assert job.state.value == "done", getattr(window, "last_error", None) and window.last_error.text()
    run = window.ws.runs()[-1]
    assert run.method == "mend" and run.environment["editor_checkpoint"] == {
        "path": str(out.resolve()), "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "step": read_checkpoint(out, "mend").record.step, "fingerprint": window.lm.info.fingerprint}
    assert "with the editor mine.safetensors" in window.preview_panel.state.text()


@pytest.mark.parametrize("method", ["ke", "instructedit"])
def test_ke_and_instructedit_train_in_the_dialog_and_edit(qtbot, window, tmp_path, monkeypatch, method):
    """The other trained editors go through the same dialog and the same method panel."""
    train = _write(tmp_path / "train.jsonl", TRAIN)
    out = tmp_path / "editors" / f"{method}.safetensors"
    out.parent.mkdir()
    panel = window.method_panel
    panel.method.setCurrentText(method)
    assert panel.trained and panel.checkpoint.currentText() == NONE_YET
    _click(qtbot, panel.train_button)
    dialog = window.train_dialog
    assert dialog.isVisible() and dialog.method.currentText() == method
    _pick(qtbot, monkeypatch, dialog.data, train)
    dialog.steps.setValue(2)
    dialog.out.clear()
    qtbot.keyClicks(dialog.out, str(out))
    _click(qtbot, dialog.start_button)
    job = wait_job(qtbot, dialog.job)
    assert job.state.value == "done", dialog.error.text()
    assert read_checkpoint(out, method, window.lm.info.fingerprint).record.step == 2
    assert panel.checkpoint.currentText().startswith(f"{method}.safetensors")
    wait_job(qtbot, window.import_facts(train), 60_000)
    window.queue.select_row(0)
    job = wait_job(qtbot, window.preview_selected())
    assert job.state.value == "done", getattr(window, "last_error", None) and window.last_error.text()
    run = window.ws.runs()[-1]
    assert run.method == method and run.environment["editor_checkpoint"]["path"] == str(out.resolve())


def test_without_a_validation_set_the_chart_says_so_and_a_resumed_cancel_counts_its_steps(qtbot, window, tmp_path,
                                                                                         monkeypatch):
    train = _write(tmp_path / "train.jsonl", TRAIN)
    out = tmp_path / "editors" / "noval.safetensors"
    out.parent.mkdir()
    train_editor(window.lm, "mend", TRAIN, (), TrainOptions(steps=2, save_every=2), out, FAST)
    dialog = _open_from_the_method_panel(qtbot, window)
    _pick(qtbot, monkeypatch, dialog.data, train)
    dialog.steps.setValue(40)
    dialog.out.setText(str(out))
    dialog.inspect_out()
    assert "No validation set" in dialog.validation.empty_text()
    _click(qtbot, dialog.resume_button)
    job = dialog.job
    with qtbot.waitSignal(job.progressed, timeout=120_000,
                          check_params_cb=lambda e: e.done >= 5 and "loss" in e.values):
        pass
    _click(qtbot, dialog.cancel_button)
    wait_job(qtbot, job)
    saved = read_checkpoint(out, "mend").record.step
    assert saved >= 5
    assert dialog.state.text() == (f"Cancelled after step {saved}: the checkpoint now holds all {saved} steps "
                                   f"({saved - 2} from this run, saved on cancel); Resume continues it")
    assert "No validation set" in dialog.validation.empty_text()
    window.close()


def test_a_checkpoints_stored_loss_curve_shows_when_the_dialog_points_at_it(qtbot, window, tmp_path, monkeypatch):
    """After a restart the training's curves come back from the checkpoint, not an empty chart."""
    out = tmp_path / "kept.safetensors"
    done = train_editor(window.lm, "mend", TRAIN, (), TrainOptions(steps=2), out, FAST)
    assert done.record.losses
    dialog = _open_from_the_method_panel(qtbot, window)
    monkeypatch.setattr(file_dialogs, "save_file_name", lambda *a, **k: str(out))
    _click(qtbot, dialog.out_browse)
    assert dialog.loss.losses == pytest.approx(list(done.record.losses), abs=1e-6)
    dialog.close()


def test_steps_follow_the_methods_preset_budget_until_the_reviewer_sets_their_own(qtbot, window):
    """KE's small preset was chosen at 1,200 steps, RECIPE's at 1,500, MEND's at 600: Steps shows the chosen
    method's budget for the loaded model, and a number the reviewer typed stays."""
    _menu_action(window, "Tools", "Train editor…").trigger()
    dialog = window.train_dialog
    assert dialog.method.currentText() == "mend" and dialog.steps.value() == 600
    dialog.method.setCurrentText("ke")
    assert dialog.steps.value() == 1200
    dialog.method.setCurrentText("recipe")
    assert dialog.steps.value() == 1500
    dialog.steps.setValue(250)
    dialog.method.setCurrentText("ke")
    assert dialog.steps.value() == 250, "the reviewer's own budget is kept"


def test_another_method_drops_the_last_runs_words_and_curves(qtbot, window, tmp_path, monkeypatch):
    """Trial 33: after MEND was cancelled, choosing instructedit kept "Cancelled after step 94 …
    Resume continues it" and MEND's curves; and the hint to choose the requests outlived the choice."""
    train = _write(tmp_path / "train.jsonl", TRAIN)
    val = _write(tmp_path / "val.jsonl", [dataclasses.replace(TRAIN[0], target_new="Seattle")])
    out = tmp_path / "mine.safetensors"
    dialog = _open_from_the_method_panel(qtbot, window)
    assert dialog.state.text() == "Choose the training requests, then Start"
    _fill(qtbot, monkeypatch, dialog, train, val, out)
    assert dialog.state.text() == "Start trains a new editor"
    _start_and_cancel(qtbot, dialog, window)
    saved = read_checkpoint(out, "mend").record.step
    assert dialog.state.text().startswith("Cancelled after step")
    dialog.method.setCurrentText("instructedit")
    assert dialog.state.text() == "Start trains a new editor", "the path holds a MEND editor: nothing to resume"
    assert dialog.loss.losses == [] and not any(dialog.validation.points.values())
    dialog.method.setCurrentText("mend")  # its checkpoint's curves come back with it
    assert len(dialog.loss.losses) == saved and dialog.state.text().startswith("Resume continues the checkpoint")


def test_a_checkpoint_another_process_is_training_waits(qtbot, window, tmp_path, monkeypatch):
    """Trial 33: while `factsmith train` wrote the checkpoint, the dialog showed that run's state
    and offered Start and Resume, which would have overwritten each other's steps."""
    import socket
    import subprocess
    import sys

    from core.util.pid_lock import lock_path

    train = _write(tmp_path / "train.jsonl", TRAIN)
    out = tmp_path / "busy.safetensors"
    dialog = _open_from_the_method_panel(qtbot, window)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock_path(out).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                              "since": "2026-12-06T10:00:00", "program": "factsmith train"}))
        _pick(qtbot, monkeypatch, dialog.data, train)
        dialog.out.setText(str(out))
        dialog.inspect_out()
        assert dialog.out_info.text().startswith(f"Being trained by factsmith train (process {other.pid}")
        assert not dialog.start_button.isEnabled() and not dialog.resume_button.isEnabled()
    finally:
        other.kill()
        other.wait()
    qtbot.waitUntil(dialog.start_button.isEnabled, timeout=10_000)  # it looks again until the run ends
    assert dialog.out_info.text().startswith("No checkpoint there yet")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:  # closed, the dialog stops looking, and a path change behind it does not restart the timer
        lock_path(out).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                              "since": "2026-12-06T10:00:00", "program": "factsmith train"}))
        dialog.inspect_out()
        assert dialog._recheck.isActive()
        dialog.hide()
        assert not dialog._recheck.isActive()
        dialog.inspect_out()
        assert not dialog._recheck.isActive()
        dialog.show()
        assert dialog._recheck.isActive() and dialog.out_info.text().startswith("Being trained by")
    finally:
        other.kill()
        other.wait()
        dialog.close()


def test_another_model_drops_the_last_runs_state_and_replacing_anothers_editor_says_whose(
        qtbot, window, stranger, tmp_path, monkeypatch):
    """Trial 45: after loading another model the dialog still said the last run's "Done …" with its
    curves at 100% beside a path holding nothing for the new model; and Start over another model's
    checkpoint asked to replace it without saying whose it was."""
    train = _write(tmp_path / "train.jsonl", TRAIN)
    val = _write(tmp_path / "val.jsonl", [dataclasses.replace(TRAIN[0], target_new="Seattle")])
    out = tmp_path / "mine.safetensors"
    dialog = _open_from_the_method_panel(qtbot, window)
    _fill(qtbot, monkeypatch, dialog, train, val, out)
    _start_and_cancel(qtbot, dialog, window)
    assert dialog.state.text().startswith("Cancelled after step") and dialog.bar.value() > 0
    out.unlink()  # nothing there for the model loaded next
    window.session.model_changed.emit(window.session.lm)
    assert dialog.state.text() == "Start trains a new editor" and dialog.bar.value() == 0
    assert dialog.loss.losses == [] and not any(dialog.validation.points.values())
    dialog.out.setText(str(stranger))
    dialog.inspect_out()
    dialog.start()
    assert "someone-else" in dialog.confirm.text() and "replaces it" in dialog.confirm.text()
    dialog.confirm.reject()
