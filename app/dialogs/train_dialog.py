"""Train editor…: train an editor network (MEND, KE, InstructEdit, RECIPE) for the loaded model, as a job on the lane.

The reviewer chooses the training requests (a file, or the demo training set: never none),
the method, the budget in steps, an optional validation file and where the checkpoint
goes (by default where editing looks). Start trains from step 0, Resume continues the
checkpoint there up to the budget. While it runs: the step, the rate and the time left, the
loss of every step and the validation figures as they come. Cancel stops before the next
step, and core saves the checkpoint at the last finished step, so a cancel loses no step;
the dialog says how many steps it holds. Without a validation set the validation chart
says so instead of standing empty. Errors are
said here in one line; the log file has the traceback.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import file_dialogs
from app.dialogs.train_checkpoint import checkpoint_state, kept_text
from app.dialogs.train_choices import remember_choices, restore_choices
from app.errors import confirm_box, is_user_error
from app.jobs import Job
from app.slots import no_result
from app.widgets.facts_file_field import FactsFileField
from app.widgets.focus import set_enabled_keeping_focus
from app.widgets.loss_curve import LossCurve
from app.widgets.validation_curve import ValidationCurve
from core import (
    DEFAULT_TRAINING_STEPS,
    EditorRecord,
    TrainOptions,
    default_checkpoint,
    default_training_steps,
    demo_editor_train_file,
    demo_editor_val_file,
    read_holder,
    trainable_methods,
)

RED = "color: #a33"


def _spin(value: int, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(1, 1_000_000)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def _button(text: str, slot, tip: str = "") -> QPushButton:
    button = QPushButton(text)
    button.setAutoDefault(False)  # Enter in a field starts nothing
    button.setToolTip(tip)
    button.clicked.connect(lambda _=False: no_result(slot)())
    return button


class TrainDialog(QDialog):
    trained = Signal(object)  # Path of a checkpoint written (training done, or cancelled after a save)

    def __init__(self, session, parent: QWidget | None = None, settings=None) -> None:
        super().__init__(parent)
        self.settings = settings  # app.settings.Settings: the last run's files and method, for a restart
        self.setWindowTitle("Train editor")
        self.resize(900, 640)
        self.session, self.job = session, None
        self.record: EditorRecord | None = None  # the checkpoint at the chosen path, when Resume can use it
        self._out_default = ""
        self._steps_default = DEFAULT_TRAINING_STEPS  # the budget Steps last showed for the method and model
        self.confirm = None  # the open "Replace the checkpoint?" question
        self._run_from, self._before = 0, None  # the running job's first step, the checkpoint before it
        self._budget = DEFAULT_TRAINING_STEPS  # the running job's steps
        self._hinting = True  # the state line says what to do next (no run said anything yet)
        self._elsewhere = False  # another process is training the checkpoint at the path
        self._recheck = QTimer(self)  # until that run ends, look again every 2 s
        self._recheck.setInterval(2000)
        self._recheck.timeout.connect(self.inspect_out)
        self._build_fields()
        self._build_run()
        self._layout()
        session.model_changed.connect(lambda _: self._model_changed())
        restore_choices(self, self.settings)
        self.refresh()
        self._say_validation()

    def _build_fields(self) -> None:
        defaults = TrainOptions()
        self.data = FactsFileField("Training requests", "Choose a file: Browse… or Demo training set",
                                   demo_editor_train_file(), "Demo training set")
        self.val = FactsFileField("Validation requests", "Optional: held-out requests, never trained on",
                                  demo_editor_val_file(), "Demo dev set", optional=True)
        self.method = QComboBox()
        self.method.addItems(trainable_methods())
        self.method.currentTextChanged.connect(lambda _: self._method_changed())
        self.steps = _spin(DEFAULT_TRAINING_STEPS, "Training steps in all (Resume continues up to this many); "
                           "the method's preset budget for this model until changed")
        self.steps.valueChanged.connect(lambda _: self._update_buttons())  # Resume: only below the budget
        self.val_every = _spin(defaults.val_every, "Validate every N steps (and at the end)")
        self.save_every = _spin(defaults.save_every, "Write the checkpoint every N steps (and at the end)")
        self.out = QLineEdit()
        self.out.setPlaceholderText("Where the checkpoint goes")
        self.out.editingFinished.connect(self.inspect_out)
        self.out_browse = _button("Browse…", self.browse_out)
        self.out_info = QLabel()
        self.out_info.setWordWrap(True)
        # two lines whatever it says, so the Start row below never jumps when a run starts (trial 40)
        self.out_info.setMinimumHeight(2 * self.out_info.fontMetrics().lineSpacing() + 4)
        for field in (self.data, self.val):
            field.changed.connect(self._update_buttons)
        self.val.changed.connect(self._say_validation)

    def _build_run(self) -> None:
        self.start_button = _button("Start", self.start, "Train a new editor from step 0")
        self.resume_button = _button("Resume", self.resume, "Continue the checkpoint up to the step budget")
        self.cancel_button = _button("Cancel", self.cancel, "Stop before the next step; the checkpoint is saved "
                                     "at the last finished step")
        self.close_button = _button("Close", self.reject, "Training goes on in the background (status bar)")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.state = QLabel("Choose the training requests, then Start")
        self.state.setObjectName("train-state")
        self.state.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("train-error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(RED)
        for label in (self.state, self.error):  # two wrapped lines, never squeezed by the curves
            label.setMinimumHeight(2 * label.fontMetrics().lineSpacing() + 4)
        self.loss = LossCurve()
        self.loss.setLabel("bottom", "training step")
        self.validation = ValidationCurve()

    def _layout(self) -> None:
        form = QFormLayout()
        form.addRow("Training data:", self.data)
        form.addRow("Method:", self.method)
        budget = QHBoxLayout()
        for label, box in (("Steps", self.steps), ("validate every", self.val_every),
                           ("checkpoint every", self.save_every)):
            budget.addWidget(QLabel(label))
            budget.addWidget(box)
        budget.addStretch(1)
        form.addRow("Budget:", budget)
        form.addRow("Validation:", self.val)
        out = QHBoxLayout()
        out.addWidget(self.out, 1)
        out.addWidget(self.out_browse)
        form.addRow("Checkpoint:", out)
        form.addRow("", self.out_info)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.resume_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addWidget(self.bar, 1)
        buttons.addWidget(self.close_button)
        curves = QHBoxLayout()
        curves.addWidget(self.loss, 1)
        curves.addWidget(self.validation, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.state)
        layout.addWidget(self.error)
        layout.addLayout(curves, 1)

    # -- choices -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Follow the loaded model and the method: the default checkpoint path, what is there."""
        lm = self.session.lm
        default = str(default_checkpoint(self.method.currentText(), lm.info.fingerprint)) if lm else ""
        if self.out.text().strip() in ("", self._out_default):  # the reviewer's own path stays
            self.out.setText(default)
        self._out_default = default
        if lm is not None:
            self._follow_preset_steps(default_training_steps(lm, self.method.currentText()))
        self.inspect_out()

    def hideEvent(self, event) -> None:
        """Closed (training goes on): no looking for another process's run behind the reviewer's back."""
        self._recheck.stop()
        super().hideEvent(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._elsewhere:
            self.inspect_out()  # that run may have ended while the dialog was closed

    def _method_changed(self) -> None:
        """Another method: the last run's words and curves were another editor's, so they go
        (a checkpoint of this method at the path brings its own curves back)."""
        self._forget_last_run()
        self.refresh()

    def _model_changed(self) -> None:
        """Another model: so were the last run's (trial 45: "Done: 100 steps" and its curves stayed
        beside a path that held no checkpoint for the new model)."""
        self._forget_last_run()
        self.refresh()

    def _forget_last_run(self) -> None:
        if self._idle():
            self._hinting = True
            self.loss.reset()
            self.validation.set_history(())
            self.bar.setValue(0)
            self.error.setText("")

    def _hint(self) -> str:
        if not self.data.ready() or not self.data.chosen():
            return "Choose the training requests, then Start"
        if self.record is not None:
            return "Resume continues the checkpoint; Start trains a new editor from step 0"
        return "Start trains a new editor"

    def _follow_preset_steps(self, preset: int) -> None:
        """Steps shows the method's preset budget (or the checkpoint's own, to resume) unless the
        reviewer has set their own."""
        if self.steps.value() == self._steps_default:
            self.steps.setValue(preset)
        self._steps_default = preset

    def browse_out(self) -> None:
        chosen = file_dialogs.save_file_name(self, "Checkpoint", self.out.text(), "Checkpoints (*.safetensors)")
        if chosen:
            self.out.setText(chosen)
            self.inspect_out()

    def out_path(self) -> Path | None:
        text = self.out.text().strip()
        return Path(text).expanduser() if text else None

    def inspect_out(self) -> None:
        """Say what the checkpoint path holds; Resume only for this model's and method's."""
        self.record = None  # the checkpoint there, when Resume can use it
        holder = read_holder(self.out_path()) if self.out_path() is not None else None
        self._elsewhere = holder is not None and not holder.is_this_process()
        if self._elsewhere and self.isVisible():  # closed: showEvent looks again on reopening
            self._recheck.start()
        else:
            self._recheck.stop()
        if self._elsewhere:
            text, error = f"Being trained by {holder.describe()}: Start and Resume wait until it ends", True
        else:
            text, error, self.record = checkpoint_state(self.out_path(), self.session.lm, self.method.currentText())
        self.out_info.setText(text)
        self.out_info.setStyleSheet(RED if error else "")
        if self._idle() and self.record is not None:  # the checkpoint's stored curves, after a restart too
            self.loss.set_losses(self.record.losses)
            self.validation.set_history(self.record.validation)
            if self.record.total_steps:  # Resume continues the run's own budget (its schedule spans it)
                self._follow_preset_steps(self.record.total_steps)
        self._update_buttons()

    def _say_validation(self, *_) -> None:
        """The validation chart says when there is no validation set, rather than stand empty."""
        chosen = self.val.ready() and bool(self.val.chosen())
        # short lines: the chart's note does not wrap, and a half-width chart cut one long line at both ends
        self.validation.set_empty_text("" if chosen else "No validation set: choose one\nunder Validation to see "
                                                          "reliability,\ngenerality and locality here")

    def _idle(self) -> bool:
        return self.job is None or not self.job.active

    def _update_buttons(self) -> None:
        can = (self._idle() and self.session.lm is not None and self.out_path() is not None
               and self.data.ready() and self.val.ready() and not self._elsewhere)
        done = self.record is not None and self.record.step >= self.steps.value()  # nothing left (trial 41)
        set_enabled_keeping_focus({self.start_button: can,
                                   self.resume_button: can and self.record is not None and not done,
                                   self.cancel_button: not self._idle()},
                                  heirs=(self.cancel_button, self.start_button))
        self.resume_button.setToolTip(f"The checkpoint has all {self.steps.value()} steps: raise Steps to continue "
                                      "it" if done else "Continue the checkpoint up to the step budget")
        if self._hinting and self._idle():
            self.state.setText(self._hint())

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Train from step 0; a checkpoint already at the path is replaced only when confirmed."""
        if not self.start_button.isEnabled():
            return
        path = self.out_path()
        if path.exists():
            held = self.out_info.text().removesuffix(": Start replaces it") if self.record is None else ""
            self.confirm = confirm_box(self, "Replace the checkpoint?", f"{path} already holds a checkpoint"
                                       f"{f' ({held})' if held else ''}. Start trains a new editor from step 0 "
                                       "and replaces it.", lambda: self._run(False, replace=True))
            return
        self._run(False)

    def resume(self) -> None:
        if not self.resume_button.isEnabled() or self.record is None:
            return
        if self.record.step >= self.steps.value():
            self.error.setText(f"The checkpoint already has {self.record.step} steps: raise Steps above "
                               f"{self.record.step} to continue it")
            return
        self._run(True)

    def _run(self, resume: bool, replace: bool = False) -> Job | None:
        options = TrainOptions(steps=self.steps.value(), save_every=self.save_every.value(),
                               val_every=self.val_every.value(), resume=resume, replace=replace)
        self.error.setText("")
        self._run_from, self._before = (self.record.step if resume and self.record else 0), self.record
        self._say_validation()
        self.loss.set_losses(self.record.losses if resume and self.record else ())
        self.validation.set_history(self.record.validation if resume and self.record else ())
        remember_choices(self, self.settings, self._out_default)
        try:
            job = self.session.train_editor(self.method.currentText(), self.data.facts(), self.val.facts(),
                                            options, self.out_path())
        except RuntimeError as exc:
            self._failed(exc)
            return None
        self.track(job)
        return job

    def track(self, job: Job) -> None:
        self.job, self._hinting, self._budget = job, False, self.steps.value()
        self.bar.setFormat("%p%")
        self.bar.setValue(0)
        self.state.setText("Waiting for the job lane…")
        # what the path held before is being replaced: say what happens there now (trial 36)
        self.out_info.setText(f"Training into this checkpoint: saved every {self.save_every.value()} steps, on "
                              "cancel and at the end")
        self.out_info.setStyleSheet("")
        job.progressed.connect(self._progress)
        job.succeeded.connect(self._done)
        job.cancelled.connect(self._cancelled)
        job.failed.connect(self._failed)
        job.finished.connect(self._finished)
        self._update_buttons()

    def cancel(self) -> None:
        if not self._idle():
            self.job.cancel()
            self.state.setText("Cancelling: training stops before the next step…")

    def _progress(self, event) -> None:
        if event.fraction is not None:
            self.bar.setValue(int(event.fraction * 1000))
        if event.message:
            self.state.setText(event.message)
        self.loss.add_event(event)
        self.validation.add_event(event)

    def _done(self, result) -> None:
        record = result.record
        notes = "".join(f" Note: {note}." for note in result.notes)  # the split rule (review 47)
        self.state.setText(f"Done: {record.step} steps ({record.seconds:.0f} s of training){kept_text(record)}. "
                           f"Checkpoint: {result.path}{notes}")
        self.trained.emit(result.path)

    def _cancelled(self) -> None:
        self.inspect_out()
        record, before = self.record, self._before
        # the bar shows how far the checkpoint got towards the budget, not 0 as if nothing was kept
        budget = self._budget  # the job's, not the box's as edited since
        self.bar.setValue(int(1000 * min(record.step / max(budget, 1), 1.0)) if record else 0)
        if record is not None:  # said in steps: a bare "91%" read as a job still running (trial 38)
            self.bar.setFormat(f"{record.step} of {budget} steps kept")
        if record is None or (before is not None and record.step == before.step and record.losses == before.losses):
            kept = (f"; the checkpoint there (step {before.step}) is untouched" if before is not None
                    else ": nothing was saved")
            self.state.setText(f"Cancelled before this run finished a step{kept}")
            return
        added = record.step - self._run_from
        self.state.setText(f"Cancelled after step {record.step}: the checkpoint now holds all {record.step} steps "
                           f"({added} from this run, saved on cancel); Resume continues it")
        self.trained.emit(self.out_path())

    def _failed(self, exc: BaseException) -> None:
        first = (str(exc) or type(exc).__name__).splitlines()[0]
        self.state.setText("Failed")
        self.error.setText(first if is_user_error(exc) else f"{first} (details: Help → Open log)")

    def _finished(self) -> None:
        self.job = None
        self.inspect_out()
