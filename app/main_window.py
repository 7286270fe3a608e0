"""The main window: loads a model off the GUI thread and lets the user try prompts."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QMainWindow, QMessageBox, QVBoxLayout, QWidget

from app.jobs import Job, JobLane
from app.widgets.job_status import JobStatus
from app.widgets.model_summary import ModelSummary
from app.widgets.prompt_panel import PromptPanel
from core.generation import SamplingOptions, continuation
from core.loading import LoadedModel, LoadOptions, load_model
from core.paths import demo_model_dir

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    model_changed = Signal(object)  # LoadedModel | None

    def __init__(self, model_path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Factsmith")
        self.resize(900, 600)
        self.lane = JobLane(self)
        self.lm: LoadedModel | None = None
        self.summary = ModelSummary()
        self.prompt_panel = PromptPanel()
        self.prompt_panel.submitted.connect(self.generate)
        self.job_status = JobStatus(self.lane)
        self.statusBar().addPermanentWidget(self.job_status, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.summary)
        layout.addWidget(self.prompt_panel, 1)
        self.setCentralWidget(central)
        QShortcut(QKeySequence("Esc"), self, activated=self.job_status.cancel)
        self.model_path = Path(model_path) if model_path else demo_model_dir()

    def start(self) -> Job:
        """Begin loading the chosen model (the demo model unless another was given)."""
        return self.load(self.model_path)

    def load(self, path: Path, options: LoadOptions | None = None) -> Job:
        self.prompt_panel.set_ready(False)
        job = self.lane.submit(f"Loading {Path(path).name}", lambda progress: load_model(path, options, progress))
        job.succeeded.connect(self._on_loaded)
        job.failed.connect(lambda exc: self.show_error(f"Could not load {path}", exc))
        return job

    def _on_loaded(self, lm: LoadedModel) -> None:
        self.lm = lm
        self.summary.show_info(lm.info)
        self.prompt_panel.set_ready(True)
        self.statusBar().showMessage(f"Loaded {lm.info.name} on {lm.info.device}", 5000)
        self.model_changed.emit(lm)

    def generate(self, prompt: str, max_new_tokens: int = 12) -> Job | None:
        if self.lm is None:
            return None
        lm, options = self.lm, SamplingOptions(max_new_tokens=max_new_tokens)
        job = self.lane.submit("Generating", lambda progress: continuation(lm, prompt, options))
        job.succeeded.connect(lambda text: self.prompt_panel.show_result(prompt, text))
        job.failed.connect(lambda exc: self.show_error("Generation failed", exc))
        return job

    def show_error(self, title: str, exc: BaseException) -> None:
        """A non-blocking dialog that says what happened and what to do."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, str(exc) or type(exc).__name__, parent=self)
        box.setInformativeText("Check the model folder and settings, then try again.")
        box.open()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.lane.shutdown()
        super().closeEvent(event)
