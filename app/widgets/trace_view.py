"""The causal trace of one fact: a layers × tokens heatmap of how much of P(answer) comes
back when that cell is restored into a subject-corrupted run (ROME's trace), with the
layer ``layer: auto`` would edit marked. Runs in the job lane with progress and cancel."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.jobs import Job
from app.widgets.job_follow import FollowsJob
from core import AUTO_LAYER_MIN_EFFECT, TRACE_MIN_CLEAN_P, TraceOptions, trace_fact

KIND_LABELS = {"mlp": "MLP outputs (window of layers)", "state": "hidden states (block outputs)"}
_COLOURS = {"mlp": (35, 132, 67), "state": (84, 39, 143)}
MARK_PEN = pg.mkPen("#d62728", width=3)
EMPTY_TEXT = "No trace yet: select a fact in the queue, then Trace selected fact"
IDLE_STATE = "Select a fact in the queue, then trace it: where does the model recall it?"


class TraceView(FollowsJob, QWidget):
    trace_requested = Signal()
    waiting_text = "Tracing…"
    cancelled_text = "Cancelled: nothing was traced"
    failed_text = "The trace failed: {exc}"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trace-view")
        self.job: Job | None = None
        self.result: Any = None
        self.target = ""  # the whole answer asked for (the fact's target_true) of the trace shown
        self.kind = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.kind.currentIndexChanged.connect(lambda _: self._draw())
        self.trace_button = QPushButton("Trace selected fact")
        self.trace_button.clicked.connect(self.trace_requested.emit)
        self.start_button = self.trace_button
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.state = QLabel(IDLE_STATE)
        self.state.setWordWrap(True)
        self._build_plot()
        self._build_layout()

    def _build_plot(self) -> None:
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMouseEnabled(False, False)
        self.plot.invertY(True)  # layer 0 at the top
        self.plot.setLabel("left", "layer")
        self.plot.setLabel("bottom", "token (* = subject)")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.marker = pg.PlotDataItem([], [], pen=MARK_PEN)
        self.plot.addItem(self.marker)
        self.empty = pg.TextItem(EMPTY_TEXT, color="#555", anchor=(0.5, 0.5))
        self.plot.addItem(self.empty)
        # the colour bar drives the image's colours (one colour map, one pair of levels): they always agree
        self.colour_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=self._colour_map("mlp"), interactive=False,
                                          label="P(answer), restored", width=14)
        self.colour_bar.setImageItem(self.image, insert_in=self.plot.getPlotItem())
        self.clear()

    def clear(self, text: str = EMPTY_TEXT) -> None:
        """Draw nothing but ``text``: no heatmap, tokens, title or marker of an earlier trace, which
        read as the new fact's while it was traced (trial: Bangladesh's heatmap under Fiji's progress)."""
        self.result = None
        self.image.clear()
        self.marker.setData([], [])
        self.plot.setTitle(None)
        self.plot.getPlotItem().titleLabel.setText("")
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTicks([[]])  # no meaningless 0…1 numbers without a trace
        self.empty.setText(text)
        self.empty.setPos(0.5, 0.5)
        self.empty.show()
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1))

    def _build_layout(self) -> None:
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Restore:"))
        controls.addWidget(self.kind)
        controls.addStretch(1)
        controls.addWidget(self.trace_button)
        controls.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.bar)
        layout.addWidget(self.state)
        layout.addWidget(self.plot, 1)

    @staticmethod
    def _colour_map(kind: str) -> pg.ColorMap:
        return pg.ColorMap([0.0, 1.0], [(255, 255, 255), _COLOURS[kind]])

    def cell_colour(self, token: int, layer: int):
        """The colour the heatmap draws at (token, layer), as rendered."""
        self.image.render()
        return self.image.qimage.pixelColor(token, layer)

    def current_kind(self) -> str:
        return self.kind.currentData()

    def trace(self, job: Job, target: str) -> None:
        """Follow ``job``, the trace of a fact whose whole old answer is ``target`` (its target_true)."""
        # connected before track's show_result, so it is set when that names the answer
        job.succeeded.connect(lambda _: setattr(self, "target", target))
        self.track(job)

    def job_started(self, job: Job) -> None:
        self.clear(f"{job.name}…")

    def job_stopped(self, how: str) -> None:
        self.clear()

    def show_result(self, result: Any) -> None:
        """A core ``TraceResult``."""
        self.result = result
        self.bar.setValue(1000)
        first, end = result.subject_range
        subject = "".join(result.tokens[first:end]).strip()
        note = "" if result.replaced_answer else self._first_token_note(result.answer)
        answer = f"{result.answer!r} ({note}, which a trace follows)" if note else repr(result.answer)
        text = (f"{result.prompt!r} → {answer}: P {result.clean_p:.3f} clean, {result.corrupted_p:.3f} with "
                f"{subject!r} corrupted ({result.samples} noise draws). ")
        if result.replaced_answer:
            note = self._first_token_note(result.replaced_answer)
            asked = result.replaced_answer.strip()
            text = (f"P({asked!r}{', ' + note if note else ''}) is only {result.replaced_p:.3f} on the "
                    f"current model (below {TRACE_MIN_CLEAN_P}), so its top answer {result.answer.strip()!r} is "
                    "traced instead. ") + text
        self.state.setText(text + self._layer_text(result))
        self._draw()

    def first_token_only(self, token: str) -> bool:
        """Whether ``token`` is only the first token of the longer answer asked for."""
        return bool(self.target.strip()) and token.strip() != self.target.strip()

    def _first_token_note(self, token: str) -> str:
        """E.g. "the first token of 'Yen'" when ``token`` only starts the answer asked for, else empty."""
        return f"the first token of {self.target.strip()!r}" if self.first_token_only(token) else ""

    @staticmethod
    def _layer_text(result: Any) -> str:
        if not result.meaningful:
            return (f"<b>No layer chosen</b>: the trace is not meaningful (clean P {result.clean_p:.3f}, needs "
                    f"{TRACE_MIN_CLEAN_P}; largest effect {result.chosen_effect:+.2f}, needs {AUTO_LAYER_MIN_EFFECT}), "
                    "so layer auto keeps the preset's layer for this fact.")
        return (f"Chosen layer <b>{result.chosen_layer}</b>: the largest {result.chosen_kind} effect at the subject's "
                f"last token ({result.chosen_effect:+.2f}; MLP window {result.window}); layer auto edits there.")

    def matrix(self, kind: str | None = None) -> np.ndarray:
        """The shown scores as (tokens, layers): ImageItem's x is the first axis."""
        scores = self.result.scores[kind or self.current_kind()]
        return np.asarray(scores, dtype=float).T

    def marked_cell(self) -> tuple[int, int] | None:
        """(token, layer) of the chosen-layer marker: the subject's last token at the chosen layer, in
        every view (a layer of the MLP view is a block, as in the hidden-state one), when one was chosen."""
        if self.result is None or not self.result.meaningful or self.current_kind() not in self.result.scores:
            return None
        return self.result.subject_last, self.result.chosen_layer

    def _draw(self) -> None:
        if self.result is None:
            return
        if self.current_kind() not in self.result.scores:
            self.state.setText(f"This trace has no {self.current_kind()} restoration")
            return
        data = self.matrix()
        low, high = float(data.min()), float(max(data.max(), data.min() + 1e-9))
        self.empty.hide()
        self.image.setImage(data, autoLevels=False)
        self.colour_bar.setColorMap(self._colour_map(self.current_kind()))
        self.colour_bar.setLevels((low, high))  # sets the image's levels and colours too
        # short: a long title widens the plot past the widget and cuts off the colour bar
        mark = " (red: chosen layer)" if self.marked_cell() is not None else " (no layer chosen)"
        answer = self.result.answer.strip()
        if not self.result.replaced_answer and self.first_token_only(answer):
            answer += "…"  # only the answer's first token: the state line says so
        self.plot.setTitle(f"P({answer}) restored, {low:.3g}–{high:.3g}{mark}", size="9pt")
        self._axes()
        self._mark()

    def _axes(self) -> None:
        first, end = self.result.subject_range
        tokens = [(i + 0.5, f"{t.strip() or repr(t)}{'*' if first <= i < end else ''}")
                  for i, t in enumerate(self.result.tokens)]
        self.plot.getAxis("bottom").setTicks([tokens])
        self.plot.getAxis("left").setTicks([[(i + 0.5, str(i)) for i in range(self.result.n_layers)]])
        self.plot.setLabel("bottom", "token (* = subject)")
        self.plot.setRange(xRange=(0, len(self.result.tokens)), yRange=(0, self.result.n_layers), padding=0.02)

    def _mark(self) -> None:
        cell = self.marked_cell()
        if cell is None:
            self.marker.setData([], [])
            return
        x, y = cell
        self.marker.setData([x, x + 1, x + 1, x, x], [y, y, y + 1, y + 1, y])


def say_selected(window, ids: list[str]) -> None:
    """The idle trace view names the fact Trace selected fact would trace (trial 45: it said
    "Select a fact in the queue" with one selected)."""
    view: TraceView = window.trace_view
    ws = window.session.ws
    if view.job is not None or view.result is not None or ws is None:
        return  # a trace running or shown keeps its words
    if not ids:
        view.clear()
        view.state.setText(IDLE_STATE)
        return
    subject = ws.fact(ids[0]).fact.subject
    view.clear(f"No trace yet: Trace selected fact traces {subject}")
    view.state.setText(f"Trace selected fact: where does the model recall what it knows of {subject}?")


def trace_selected(window) -> Job | None:
    """Trace the first fact selected in the window's queue, in the job lane."""
    view: TraceView = window.trace_view
    ids = window.queue.selected_ids()
    lm, ws = window.session.lm, window.session.ws
    if not ids or lm is None or ws is None:
        view.state.setText("Select a fact in the queue first (with a model loaded)")
        return None
    fact = ws.fact(ids[0]).fact
    job = window.lane.submit(f"Tracing {fact.subject}", lambda progress: trace_fact(lm, fact, TraceOptions(),
                                                                                    progress))
    window.tabs.setCurrentWidget(view)
    view.trace(job, fact.target_true)
    return job
