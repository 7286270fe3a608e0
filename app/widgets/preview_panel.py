"""The preview: compute an edit in the background and show what it does, before and after."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.jobs import Job
from app.widgets.generations_view import GenerationsView
from app.widgets.loss_curve import LossCurve
from app.widgets.metrics_view import MetricsView
from app.widgets.token_view import TokenView

# the verdict leads the result: a failed edit is never shown as a success
_VERDICT_COLOURS = {"took": "#1e7d32", "partial": "#b36b00", "side effects": "#b36b00", "failed": "#b3261e"}


class PreviewPanel(QGroupBox):
    preview_requested = Signal(list)  # free prompts

    def __init__(self, thresholds: Mapping[str, float], parent: QWidget | None = None) -> None:
        super().__init__("Preview", parent)
        self.job: Job | None = None
        self.outcome: Any = None
        self.run: Any = None
        self.free_prompts = QPlainTextEdit()
        self.free_prompts.setPlaceholderText("Your own prompts to compare, one per line (optional)")
        self.free_prompts.setMaximumHeight(60)
        self.preview_button = QPushButton("Preview edit (Ctrl+P)")
        self.preview_button.clicked.connect(self.request)
        self.cancel_button = QPushButton("Cancel (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.state = QLabel("Select one or more facts, then preview")
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.loss = LossCurve()
        self.generations = GenerationsView()
        self.metrics = MetricsView(thresholds)
        self.tokens = TokenView()
        self.token_fact = QComboBox()
        self.token_fact.currentIndexChanged.connect(self._show_tokens)
        self.tabs = QTabWidget()
        self._layout()

    def _layout(self) -> None:
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.bar, 1)
        tokens = QWidget()
        token_layout = QVBoxLayout(tokens)
        token_layout.addWidget(self.token_fact)
        token_layout.addWidget(self.tokens, 1)
        self.tabs.addTab(self.generations, "Generations")
        self.tabs.addTab(self.metrics, "Metrics")
        self.tabs.addTab(tokens, "Next tokens")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.loss)
        splitter.addWidget(self.tabs)
        splitter.setSizes([110, 400])
        layout = QVBoxLayout(self)
        layout.addWidget(self.free_prompts)
        layout.addLayout(buttons)
        layout.addWidget(self.state)
        layout.addWidget(splitter, 1)

    def prompts(self) -> list[str]:
        return [line.strip() for line in self.free_prompts.toPlainText().splitlines() if line.strip()]

    def request(self) -> None:
        if self.preview_button.isEnabled():
            self.preview_requested.emit(self.prompts())

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.state.setText("Cancelling…")

    def track(self, job: Job) -> None:
        """Follow a running preview job: progress, live loss, cancel."""
        self.job = job
        self.loss.reset()
        self.bar.setValue(0)
        self.preview_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.state.setText("Waiting for the model…")
        job.progressed.connect(self._on_progress)
        job.succeeded.connect(self.show_result)
        job.cancelled.connect(lambda: self.state.setText("Cancelled: the model is unchanged and nothing was recorded"))
        job.failed.connect(lambda exc: self.state.setText(f"Failed: {exc}"))
        job.finished.connect(self._on_finished)

    def _on_progress(self, event) -> None:
        self.loss.add_event(event)
        if event.fraction is not None:
            self.bar.setValue(int(event.fraction * 1000))
        if event.message:
            self.state.setText(event.message)

    def _on_finished(self) -> None:
        self.job = None
        self.preview_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def show_result(self, result: Any) -> None:
        """A ``session.PreviewResult``: the outcome and the run it was recorded as."""
        self.outcome, self.run = result.outcome, result.run
        outcome = result.outcome
        verdict = outcome.verdict
        colour = _VERDICT_COLOURS.get(verdict.verdict, "#333")
        advice = f" Try: {'; '.join(verdict.advice)}." if verdict.advice else ""
        self.state.setText(f"<b style='color:{colour}'>{verdict.summary}</b><br>{outcome.method}: edit computed in "
                           f"{outcome.seconds:.1f}s for {len(outcome.facts)} fact(s), recorded as run {result.run.id} "
                           f"(not committed).{advice}")
        self.generations.set_previews(outcome.previews)
        self.metrics.set_metrics(outcome.metrics())
        self.token_fact.blockSignals(True)
        self.token_fact.clear()
        self.token_fact.addItems([f"{f.subject}: {f.target_true or '?'} → {f.target_new}" for f in outcome.facts])
        self.token_fact.blockSignals(False)
        self._show_tokens(0)

    def _show_tokens(self, index: int) -> None:
        if self.outcome is not None and 0 <= index < len(self.outcome.facts):
            self.tokens.set_outcome(self.outcome, index)
