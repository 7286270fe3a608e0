"""Status-bar widget: the running job's name, a progress bar and a cancel button."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from app.jobs import Job, JobLane, outcome_word
from app.widgets.elided_label import ElidedLabel
from app.widgets.focus import set_enabled_keeping_focus


def fixed_width_text(label: QLabel, width: int) -> None:
    """A label whose changing text never re-lays out (and repaints) the window around it."""
    label.setFixedWidth(width)
    label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)


OUTCOME_SHOWN_MS = 30_000  # how long "Previewing rome: done" stays before the line reads "Ready"


class JobStatus(QWidget):
    def __init__(self, lane: JobLane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._job: Job | None = None
        self.label = ElidedLabel("Ready")
        fixed_width_text(self.label, 300)  # "Tuning ft-m (40 facts): candidate 7 of 8, fact 1 of 4"
        self.bar = QProgressBar()
        self.bar.setFixedWidth(160)
        self.bar.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.label, self.bar, self.cancel_button):
            layout.addWidget(w)
        lane.job_started.connect(self._on_started)
        lane.job_finished.connect(self._on_finished)
        # a finished job's outcome is news for a while, then stale beside later work (trial 42: "Loading
        # files: failed" stood through minutes of previews); its errors are in their own boxes
        self._outcome_timer = QTimer(self)
        self._outcome_timer.setSingleShot(True)
        self._outcome_timer.setInterval(OUTCOME_SHOWN_MS)
        self._outcome_timer.timeout.connect(lambda: self._job is None and self.label.setText("Ready"))
        self._idle()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.label.setText(f"{self._job.name}: cancelling…")

    def _idle(self) -> None:
        """Disabled, not hidden: showing and hiding would re-lay out the whole window per job."""
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setEnabled(False)
        set_enabled_keeping_focus({self.cancel_button: False})

    def _on_started(self, job: Job) -> None:
        self._job = job
        self.label.setText(job.name)
        self.bar.setRange(0, 0)  # busy until the first report
        self.bar.setEnabled(True)
        self.cancel_button.setEnabled(True)
        job.progressed.connect(self._on_progress)

    def _on_progress(self, event) -> None:
        if self._job is None:
            return
        if event.fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(event.fraction * 1000))
        if event.message:
            self.label.setText(f"{self._job.name}: {event.message}")

    def _on_finished(self, job: Job) -> None:
        if job is self._job:
            self._job = None
            self.label.setText(f"{job.name}: {outcome_word(job)}")  # "Committing: refused" beside its box
            self._outcome_timer.start()
            self._idle()
