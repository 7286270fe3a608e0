"""The preview: compute an edit in the background and show what it does, before and after."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QMargins, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.advice import gui_advice, verdict_colour
from app.jobs import Job
from app.widgets.generations_view import GenerationsView
from app.widgets.job_follow import FollowsJob, keep_bar_text
from app.widgets.loss_curve import LossCurve
from app.widgets.metrics_view import MetricsView
from app.widgets.run_choice import RunChoice
from app.widgets.token_view import TokenView, fact_label
from core import verdict_headline

# the verdict leads the result: a failed edit is never shown as a success


LOSS_HEIGHT = 110  # the loss curve's share of the splitter, in pixels
LOSS_MIN = 50  # squeezed below this the curve is a flat line with one tick (trial 42): it folds away
STATE_LINES, SHORT_STATE_LINES = 8, 4  # the verdict's lines before it scrolls, on a tall and a short pane
MIN_STATE_LINES = 2  # a crowded short pane still shows the verdict's headline and a line of what it is
SHORT_PANE = 480  # below this pane height the loss curve folds away (423 at 1024×640, 555 at 1366×768)
SHORT_TABS_LINES = 15  # a short pane keeps the tabs this many text lines: three prompts' before and after
SHOWING_LINES, SHORT_SHOWING_LINES = 6, 3  # the Showing notes' lines before they scroll, tall and short pane
SHORT_SPACING, SHORT_MARGIN = 3, 4  # px between and around the rows of a short pane (6 and 9 when tall)


class _StateLabel(QLabel):
    """The verdict label; says when its text changes, so a short pane can fit its box to it."""

    text_set = Signal()

    def setText(self, text: str) -> None:  # Qt's name
        super().setText(text)
        self.text_set.emit()


class PreviewPanel(FollowsJob, QGroupBox):
    preview_requested = Signal(list)  # free prompts
    waiting_text = "Waiting for the model…"
    cancelled_text = "Cancelled: the model is unchanged and nothing was recorded"

    def __init__(self, thresholds: Mapping[str, float], parent: QWidget | None = None) -> None:
        super().__init__("Preview", parent)
        self.job: Job | None = None
        self.run: Any = None
        self._losses: dict[int, list[float]] = {}  # run id → its loss curve, as drawn live this session
        self._token_entries: list | None = []  # the shown run's stored next tokens (None: not stored)
        self.showing = _StateLabel("Showing: nothing yet")
        self.showing.text_set.connect(self._fit_showing)
        self.showing.setObjectName("preview-showing")
        self.showing.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.showing.setWordWrap(True)  # the method note is never cut off
        self.free_prompts = QPlainTextEdit()
        self.free_prompts.setPlaceholderText("Your own prompts to compare, one per line (optional)")
        self.free_prompts.setMaximumHeight(2 * self.free_prompts.fontMetrics().lineSpacing() + 16)  # it scrolls
        self.preview_button = QPushButton("Preview edit (Ctrl+P)")
        self.preview_button.clicked.connect(self.request)
        self.start_button = self.preview_button
        self.cancel_button = QPushButton("Cancel (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.state = _StateLabel("Select one or more facts, then preview")
        self.state.text_set.connect(self._refit_state)
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.state.setWordWrap(True)  # the whole verdict, never cut off at the right
        self.loss = LossCurve(foldable=True)
        self.generations = GenerationsView()
        self.metrics = MetricsView(thresholds)
        self.tokens = TokenView()
        self.token_fact = QComboBox()
        self.token_fact.currentIndexChanged.connect(self._show_tokens)
        self.tabs = QTabWidget()
        self.run_choice = RunChoice()
        self._layout()

    def _layout(self) -> None:
        buttons = QHBoxLayout()  # the bar shrinks first (never below its 100%): the buttons keep their labels
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.bar, 1)
        keep_bar_text(self.bar)
        self.bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        tokens = QWidget()
        token_layout = QVBoxLayout(tokens)
        token_layout.addWidget(self.token_fact)
        token_layout.addWidget(self.tokens, 1)
        self.tabs.addTab(self.generations, "Generations")
        self.tabs.addTab(self.metrics, "Metrics")
        self.tabs.addTab(tokens, "Next tokens")
        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.loss)
        splitter.addWidget(self.tabs)
        splitter.setSizes([LOSS_HEIGHT, 400])
        splitter.installEventFilter(self)
        self._short: bool | None = None  # as last laid out: None before the first resize
        self._tall: tuple | None = None  # the layout's spacing and margins on a tall pane
        layout = QVBoxLayout(self)
        layout.addWidget(self.free_prompts)
        layout.addLayout(buttons)
        layout.addWidget(self.run_choice)
        layout.addLayout(self._showing_row())
        layout.addWidget(self._state_area())
        layout.addWidget(splitter, 1)

    def _showing_row(self) -> QHBoxLayout:
        """What is shown; beside it, on a short pane, the way back to the folded loss curve (the
        bare splitter handle left no sign that the curve was there)."""
        self.loss_toggle = toggle = QToolButton()
        toggle.setText("Loss curve")
        toggle.setCheckable(True)
        toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toggle.setToolTip("On a short window the loss curve folds away: click to show or hide it above the tabs "
                          "(or drag the bar above the tabs)")
        toggle.clicked.connect(lambda shown: self._fold_loss(not shown))
        toggle.hide()  # a tall pane shows the curve
        self.splitter.splitterMoved.connect(lambda *_: self._sync_toggle())
        self.showing_area = area = QScrollArea()  # its notes scroll, never cut (trial 45: "HEAD is now 77b7…")
        area.setWidget(self.showing)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        area.verticalScrollBar().setSingleStep(self.showing.fontMetrics().lineSpacing())
        row = QHBoxLayout()
        row.addWidget(area, 1)
        row.addWidget(toggle, 0, Qt.AlignmentFlag.AlignTop)
        return row

    def _fit_showing(self) -> None:  # a slot: returns None (app/slots.py)
        """As many whole lines as the notes take, up to a few (fewer on a short pane); the rest scrolls."""
        line = self.showing.fontMetrics().lineSpacing()
        cap = SHORT_SHOWING_LINES if getattr(self, "_short", False) else SHOWING_LINES  # set on the first resize
        width = max(self.showing_area.viewport().width(), 1)
        needed = -(-self.showing.heightForWidth(width) // line)
        self.showing_area.setFixedHeight(max(1, min(cap, needed)) * line + 2)

    def _state_area(self) -> QScrollArea:
        """The verdict and its advice scroll within a few lines: at 1024×640 a long advice was cut
        off mid-sentence with no way to read the rest (trial 34), and taking all the height it wants
        would leave the tabs none."""
        self.state_area = area = QScrollArea()
        area.setWidget(self.state)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        area.verticalScrollBar().setSingleStep(self.state.fontMetrics().lineSpacing())  # a line at a time
        self._cap_state(STATE_LINES)
        return area

    def _cap_state(self, lines: int) -> None:
        line = self.state.fontMetrics().lineSpacing()
        self.state_area.setMinimumHeight(0)
        self.state_area.setMaximumHeight(lines * line + 4)

    def resizeEvent(self, event) -> None:
        """On a short pane (1024×640) the loss curve folds away and the rows close up, so the tabs
        get the height for three prompts; "Loss curve" or the splitter's handle brings the curve
        back. Only crossing the height changes the split, so a split the user dragged stays."""
        super().resizeEvent(event)
        short = event.size().height() < SHORT_PANE
        if short != self._short:
            self._short = short
            self._close_up(short)
            self._fold_loss(short)
        QTimer.singleShot(0, self, self._fit_showing)  # after the layout gave the notes their new width

    def eventFilter(self, watched, event) -> bool:
        """The splitter's height changes with the pane's and with the rows above it (Run: shown,
        a longer Showing line): each time, the verdict and the tabs share what is left again."""
        if watched is self.splitter and event.type() == QEvent.Type.Resize:
            if self._short:
                self._fit_state()
            else:  # the filter runs before the splitter lays out its new height: check after it
                QTimer.singleShot(0, self, self._fold_if_squeezed)  # not after the panel is gone
        return super().eventFilter(watched, event)

    def _fold_if_squeezed(self) -> None:
        """A long verdict (and a warning above it) took the height: fold the curve, not flatten it."""
        if not self._short and 0 < self.splitter.sizes()[0] < LOSS_MIN:
            self._fold_loss(True)

    def _close_up(self, short: bool) -> None:
        """Tighter spacing and margins on a short pane: 30 px more for the tabs at 1024×640."""
        layout = self.layout()
        if self._tall is None:
            self._tall = (layout.spacing(), layout.contentsMargins())
        spacing, margins = self._tall
        layout.setSpacing(SHORT_SPACING if short else spacing)
        layout.setContentsMargins(QMargins(*[SHORT_MARGIN] * 4) if short else margins)
        self.loss_toggle.setVisible(short)
        if not short:
            self._cap_state(STATE_LINES)

    def _fold_loss(self, fold: bool) -> None:
        total = sum(self.splitter.sizes())
        loss = 0 if fold else LOSS_HEIGHT
        self.splitter.setSizes([loss, max(total - loss, 1)])
        self._sync_toggle()

    def _sync_toggle(self) -> None:
        shown = self.splitter.sizes()[0] > 0
        self.loss_toggle.setVisible(bool(self._short) or not shown)  # the way back to a folded curve
        self.loss_toggle.setChecked(shown)
        self.loss_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _refit_state(self) -> None:  # a slot: returns None (app/slots.py)
        if getattr(self, "_short", False):
            self._fit_state()

    def _fit_state(self) -> None:
        """The verdict in whole lines on a short pane, as many (2 to 4) as leave the tabs three
        prompts, and no more than its text takes: squeezed by the layout it showed a line and a
        half, its words cut through; a one-line message kept four lines from the tabs."""
        line = self.state.fontMetrics().lineSpacing()
        room = self.state_area.height() + self.splitter.height() - self.splitter.sizes()[0]
        lines = max(MIN_STATE_LINES, min(SHORT_STATE_LINES, room // line - SHORT_TABS_LINES))
        needed = -(-self.state.heightForWidth(max(self.state_area.viewport().width(), 1)) // line)
        self.state_area.setFixedHeight(max(1, min(lines, needed)) * line)

    def prompts(self) -> list[str]:
        return [line.strip() for line in self.free_prompts.toPlainText().splitlines() if line.strip()]

    def request(self) -> None:
        if self.preview_button.isEnabled():
            self.preview_requested.emit(self.prompts())

    def job_started(self, job: Job) -> None:
        """A new preview: nothing of the previous one stays (its curve, generations, metrics)."""
        self._clear_views()
        self.run = None
        self.run_choice.clear()
        self.showing.setText(f"Showing: {job.name} — running…")

    def job_stopped(self, how: str) -> None:
        """No "running…" left beside "Cancelled" (trial 32): nothing is shown, and the bar does not
        keep the stopped job's percentage (trial 34)."""
        self.bar.setValue(0)
        self.showing.setText(f"Showing: nothing (the preview {'was cancelled' if how == 'cancelled' else how})")

    def job_progress(self, event) -> None:
        self.loss.add_event(event)

    def show_result(self, result: Any) -> None:
        """A ``session_work.PreviewResult``: the run it was recorded as, with the loss curve drawn live."""
        self._losses[result.run.id] = list(self.loss.losses)
        self.show_run(result.run)

    def show_run(self, run: Any, committed_in: str | None = None, reverted_in: str | None = None) -> None:
        """A recorded run (a core ``RunRecord``) as stored: its verdict, generations and metrics,
        without recomputing. ``committed_in``: the commit that applied this run, if any;
        ``reverted_in``: the revert that took this run's edit out again."""
        self.run = run
        self.state.setText(run_summary(run, committed_in, reverted_in))
        self.showing.setText(f"Showing: run {run.id}, {run.method}, as stored")
        losses = self._losses.get(run.id) or (run.metrics or {}).get("losses")  # drawn live, else as stored
        if losses:
            self.loss.set_losses(losses)
            self.loss.setTitle(None)
        else:
            self.loss.show_absent("loss curve not stored for this run")
        answers = {e["fact_id"]: e["target_new"] for e in run.metrics.get("next_tokens") or () if "target_new" in e}
        self.generations.set_previews(_preview_rows(run.previews), run.metrics.get("verdict"), answers)
        self.metrics.set_metrics(run.metrics)
        self._set_tokens(run.metrics.get("next_tokens"))

    def _set_tokens(self, entries: list | None) -> None:
        """The run's stored next tokens, per fact (older runs stored none: said in the table)."""
        self._token_entries = entries
        self.token_fact.blockSignals(True)
        self.token_fact.clear()
        self.token_fact.addItems([fact_label(e) for e in entries or ()])
        self.token_fact.blockSignals(False)
        self._show_tokens(0)

    def clear_result(self, text: str) -> None:
        """Nothing recorded for the selection: say so rather than show another fact's run."""
        self.run = None
        self.run_choice.clear()
        self.bar.setValue(0)  # not the last preview's 100%: nothing of the selection has run
        self.state.setText(text)
        self.showing.setText("Showing: nothing (no preview of the selection)")
        self._clear_views()

    def _clear_views(self) -> None:
        self.loss.reset()
        self.loss.setTitle(None)
        self.generations.set_previews([])
        self.metrics.set_metrics({})
        self._token_entries = []
        self.token_fact.clear()
        self.tokens.setRowCount(0)

    def _show_tokens(self, index: int) -> None:
        entries = self._token_entries
        if entries is None:
            self.tokens.set_entry(None)
        elif 0 <= index < len(entries):
            self.tokens.set_entry(entries[index])


def _preview_rows(previews: Any) -> list:
    if isinstance(previews, dict):
        return list(previews.get("rows") or previews.get("previews") or [])
    return list(previews or [])


def run_summary(run: Any, committed_in: str | None = None, reverted_in: str | None = None) -> str:
    """The verdict first (coloured), then what the run is and whether it is committed."""
    verdict = run.metrics.get("verdict") or {}
    colour = verdict_colour(verdict)
    advice = gui_advice(verdict)
    tip = f" Try: {'; '.join(advice)}." if advice else ""
    where = ("not committed" if not committed_in else f"committed in {committed_in}, then reverted in {reverted_in}"
             if reverted_in else f"committed in {committed_in}")
    said = escape(verdict_headline(verdict)) if verdict else "No verdict recorded"
    head = f"<b style='color:{colour}'>{said}</b><br>"
    editor = (getattr(run, "environment", None) or {}).get("editor_checkpoint")
    made = f" with the editor {Path(editor['path']).name} ({editor.get('step', '?')} steps)" if editor else ""
    return (f"{head}{run.method}: edit computed in {run.seconds:.1f}s{made} for {len(run.fact_ids)} fact(s), "
            f"recorded as run {run.id} ({where}).{tip}")
