"""Metrics before and after an edit: a table (pre, post, change, protocol) and a bar chart with thresholds."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.advice import gui_advice, verdict_colour
from core import HEADLINE_METRICS, VERDICT_RULES, verdict_headline

PROTOCOL_HELP = {
    "teacher_forced": "Teacher-forced token accuracy (EasyEdit's default): the share of the answer's tokens "
                      "that are the model's top prediction, given the tokens before them.",
    "probability": "ROME/CounterFact comparison: the share of prompts where P(new answer) > P(old answer) "
                   "(locality: P(true answer) > P(new)); *_magnitude is the mean probability gap.",
    "generation": "Exact match of a greedy decode as long as the expected answer (locality: the pre-edit decode).",
    "fluency": "Fluency: n-gram entropy of free generations (×100, higher is better) and ppl_r (lower is better). "
               "Often identical before and after: a good edit does not change how the model writes.",
    "top_k": "The top next tokens at the answer position.",
}
# Said on each group row, not only in its tooltip (trial 47: the probability protocol's reliability
# 0 → 1 in green beside an edit that did not take read as a contradiction).
PROTOCOL_NOTES = {
    "teacher_forced": "the verdict's figures",
    "probability": "new answer against old answer only, not what the model says",
    "generation": "what the model says, which the verdict checks too",
}
# One line per metric whose meaning is not plain from its name (the trial's questions).
METRIC_HELP = {
    "reliability": "Teacher-forced: the share of the new answer's tokens the model predicts, each given the "
                   "prompt and the answer's earlier tokens. Pre-edit it is often above 0: shared tokens "
                   "(a common first word, ' the') are already predicted before any edit.",
    "fluency": "Weighted bigram/trigram entropy of free generations, in bits ×100 (mean of 2/3·H2 and 4/3·H3): "
               "higher is more varied text; a drop means repetition.",
    "fluency.diversity": "Fluency as a share of the most a text of its length can score (1.00: no word pair or "
                         "triple repeats): unlike fluency it does not grow with length, so the verdict judges "
                         "damage by it.",
    "ppl_r": "ICE's perplexity ratio of the continuation given the prompt and new answer: lower is better.",
    "probability.generality_magnitude": "Mean of P(new answer) − P(old answer) over the paraphrase prompts "
                                        "(from −1 to 1; above 0: paraphrases now prefer the new answer).",
    "probability.reliability_magnitude": "P(new answer) − P(old answer) on the edit prompt (−1 to 1).",
    "probability.locality_magnitude": "Mean of P(true answer) − P(new answer) on locality prompts (−1 to 1; "
                                      "above 0: unrelated prompts keep their answers).",
}
HEADER_HELP = ("Hover a metric for what it measures",
               "Before the edit (teacher-forced scores: the model is given the answer's earlier tokens)",
               "After the edit, measured the same way", "Post − Pre (green: better, red: worse)",
               "How the metric is measured (hover a group row for the protocol)")
FLUENCY_SAME = ("Identical before and after is expected, not a bug: a local edit leaves the model's "
                "free-running text as varied as it was.")
GOOD, BAD = QColor("#d4edd4"), QColor("#f6d0d0")
PRE_COLOUR, POST_COLOUR, THRESHOLD_COLOUR = "#9bb7d4", "#2f6fb0", "#c0392b"
TARGET_COLOUR = "#7f8c8d"  # the verdict's own target where the commit gate checks nothing (generality)
LEGEND_HTML = (f"<span style='color:{PRE_COLOUR}'>■</span> pre &nbsp; <span style='color:{POST_COLOUR}'>■</span> post"
               f" &nbsp; <span style='color:{THRESHOLD_COLOUR}'>- - -</span> threshold"
               f" &nbsp; <span style='color:{TARGET_COLOUR}'>· · ·</span> target")


def protocol_of(name: str) -> str:
    if "." in name:
        return name.split(".", 1)[0]
    if name in ("fluency", "ppl_r"):
        return "fluency"
    return "teacher_forced"


def metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, float | None, float | None, str]]:
    """(name, pre, post, protocol), grouped by protocol (headline metrics first within the default)."""
    pre, post = metrics.get("pre_all") or metrics.get("pre") or {}, metrics.get("post_all") or metrics.get("post") or {}
    names = [n for n in HEADLINE_METRICS if n in pre or n in post]
    names += sorted((set(pre) | set(post)) - set(names))
    order = {p: i for i, p in enumerate(PROTOCOL_HELP)}
    rows = [(n, pre.get(n), post.get(n), protocol_of(n)) for n in names]
    return sorted(rows, key=lambda row: order.get(row[3], len(order)))  # stable: keeps the order within


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


# Which way each metric should move (core/metrics/results.py): +1 higher is better, -1 lower is better.
_HIGHER = ("reliability", "generality", "locality", "portability", "fluency", "diversity", "p_new")
_LOWER = ("ppl_r", "p_old")  # the old answer should lose probability


def metric_direction(name: str) -> int:
    """+1 (higher is better), -1 (lower is better) or 0 (unknown) for a flat metric name."""
    leaf = name.rsplit(".", 1)[-1].removesuffix("_magnitude")  # a gap that should grow, as its rate
    return 1 if leaf in _HIGHER else -1 if leaf in _LOWER else 0


def _change_colour(name: str, change: float | None) -> QColor | None:
    """Green where this metric moved the better way, red where worse, as the header says; none when
    unchanged or its direction is unknown. The verdict row, not these cells, says whether the edit took."""
    direction = metric_direction(name)
    if change is None or abs(change) < 1e-9 or direction == 0:
        return None
    return GOOD if change * direction > 0 else BAD


CHART_MIN_STACKED = 200  # px of height below which the chart under the table is hidden (245 at 1366×768)
CHART_MIN_HEIGHT = 80  # px: the bars, the value axis and the names under them


class MetricsView(QSplitter):
    def __init__(self, thresholds: Mapping[str, float], parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.thresholds = dict(thresholds)
        self._shown: tuple | None = None  # (metrics, thresholds) drawn
        self._names: list[str] = []  # the chart's bars
        self._table_width = 0  # the columns' width when the table last had rows
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("metrics-table")
        self.table.setHorizontalHeaderLabels(["Metric", "Pre", "Post", "Change", "Protocol"])
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)  # every column as wide as its contents
        header.setMinimumSectionSize(40)
        self.table.verticalHeader().setDefaultSectionSize(22)
        for column, tip in enumerate(HEADER_HELP):  # what Pre and Post mean, without a line of the pane's height
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.addWidget(self.table)
        self.chart_box = self._chart_box()
        self.addWidget(self.chart_box)
        self.setSizes([560, 220])
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)

    def _chart_box(self) -> QWidget:
        self.chart = pg.PlotWidget(background="w")
        self.chart.setObjectName("metrics-chart")
        self.chart.setYRange(0, 1.05)
        self.chart.setMouseEnabled(False, False)
        self.chart.setMinimumWidth(170)
        self.chart.setMinimumHeight(CHART_MIN_HEIGHT)  # under it the bars' names were cut off (trial 38)
        self.chart.getAxis("bottom").setHeight(self.chart.fontMetrics().height() + 14)  # whole names, never halved
        # the legend is a line under the chart, never drawn over the bars
        self.legend = QLabel(LEGEND_HTML)
        self.legend.setObjectName("metrics-legend")
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.legend.setWordWrap(True)  # a narrow chart wraps it: it never widens the pane (1024×640)
        chart_box = QWidget()
        box = QVBoxLayout(chart_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(self.chart, 1)
        box.addWidget(self.legend)
        return chart_box

    def set_metrics(self, metrics: Mapping[str, Any]) -> None:
        """The verdict heads the table; then the metrics, grouped by protocol under a header row."""
        shown = (copy.deepcopy(dict(metrics)), dict(self.thresholds))  # a copy: callers may change theirs
        if shown == self._shown:
            return  # the same run shown again (a refresh of the queue): the chart is slow to redraw
        self._shown = shown
        self.table.setRowCount(0)
        verdict = metrics.get("verdict") or {}
        if verdict:
            text = f"Verdict: {verdict_headline(verdict)}"
            advice = "\n".join(f"Try: {a}" for a in gui_advice(verdict))
            self._span_row(text, f"{text}\n{advice}".strip(), verdict_colour(verdict, None))
        protocol = None
        for name, pre, post, row_protocol in metric_rows(metrics):
            if row_protocol != protocol:
                protocol = row_protocol
                note = f" — {PROTOCOL_NOTES[protocol]}" if protocol in PROTOCOL_NOTES else ""
                self._span_row(f"{protocol} protocol{note}", PROTOCOL_HELP.get(protocol, ""), None)
            self._metric_row(name, pre, post, protocol)
        self._fit_columns()
        if metrics:
            self._draw_chart(metrics)
        else:  # no old labels left on an empty chart (they overlapped once it was narrow)
            self.chart.clear()
            self._names = []
            self._fit_chart_labels()

    def resizeEvent(self, event) -> None:
        """Side by side when the table fits beside the chart, else the chart goes below (1366×768)."""
        columns = sum(self.table.columnWidth(c) for c in range(self.table.columnCount()))
        if self.table.rowCount():  # an empty table's narrow columns would flip the layout (trial 38)
            self._table_width = columns
        needed = (self._table_width or columns) + 30
        wide = event.size().width() >= needed + self.chart.minimumWidth()
        self.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        # stacked and short, the chart would squeeze the table to a row: the numbers win
        self.chart_box.setVisible(wide or event.size().height() >= CHART_MIN_STACKED)
        super().resizeEvent(event)
        self._fit_span_rows()
        self._fit_chart_labels()

    def _fit_columns(self) -> None:
        """Columns as wide as their metric rows (the long verdict and group rows span them all)."""
        metrics = self.table.fontMetrics()
        rows = [r for r in range(self.table.rowCount()) if self.table.columnSpan(r, 0) == 1]
        for c in range(self.table.columnCount()):
            texts = [self.table.horizontalHeaderItem(c).text()] + [self.table.item(r, c).text() for r in rows]
            self.table.setColumnWidth(c, max(metrics.horizontalAdvance(t) for t in texts) + 14)
        self.resizeEvent(QResizeEvent(self.size(), self.size()))

    def _fit_span_rows(self) -> None:
        """The verdict and group rows as tall as their wrapped text: a long verdict is read whole."""
        width = min(self.table.viewport().width(),
                    sum(self.table.columnWidth(c) for c in range(self.table.columnCount()))) - 8
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if self.table.columnSpan(r, 0) > 1 and item is not None and width > 40:
                metrics = QFontMetrics(item.font())
                box = metrics.boundingRect(QRect(0, 0, width, 10_000), Qt.TextFlag.TextWordWrap, item.text())
                self.table.setRowHeight(r, max(22, box.height() + 6))

    def _span_row(self, text: str, tip: str, colour: str | None) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        item = QTableWidgetItem(text)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setToolTip(tip or text)
        font = QFont(item.font())
        font.setBold(True)
        item.setFont(font)
        if colour:
            item.setForeground(QColor(colour))
        self.table.setItem(r, 0, item)
        self.table.setSpan(r, 0, 1, self.table.columnCount())

    def _metric_row(self, name: str, pre: float | None, post: float | None, protocol: str) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        change = None if pre is None or post is None else post - pre
        tip = "\n".join(t for t in (METRIC_HELP.get(name, ""), PROTOCOL_HELP.get(protocol, "")) if t)
        if protocol == "fluency" and change is not None and abs(change) < 1e-9:
            tip = f"{tip}\n{FLUENCY_SAME}"
        # under its protocol's header row the prefix says nothing new, and it cost the narrow
        # pane (1024×640) its Pre and Post columns; the full name stays in the tooltip and data
        shown = name.split(".", 1)[1] if name.startswith(f"{protocol}.") else name
        texts = (shown, _fmt(pre), _fmt(post), "—" if change is None else f"{change:+.3f}", protocol)
        for c, text in enumerate(texts):
            item = QTableWidgetItem(text)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(f"{name}: {tip}" if c == 0 and shown != name else tip)
            self.table.setItem(r, c, item)
        self.table.item(r, 0).setData(Qt.ItemDataRole.UserRole, name)
        colour = _change_colour(name, change)
        if colour is not None:
            self.table.item(r, 3).setBackground(colour)

    def _fit_chart_labels(self) -> None:
        """The bars' names, shortened (rel., gen., loc.) when the chart is too narrow for them whole."""
        names = self._names
        room = (self.chart.width() - 40) / max(len(names), 1) - 8  # less the value axis
        whole = all(self.chart.fontMetrics().horizontalAdvance(n) <= room for n in names)
        labels = names if whole else [f"{n[:3]}." for n in names]
        self.chart.getAxis("bottom").setTicks([list(enumerate(labels))] if names else [[]])
        self.chart.setToolTip(", ".join(names))

    def change_colour(self, row: int) -> QColor | None:
        """The Change cell's background colour at ``row`` (None: not coloured)."""
        item = self.table.item(row, 3)
        brush = item.background() if item is not None else None
        return brush.color() if brush is not None and brush.style() != Qt.BrushStyle.NoBrush else None

    def _draw_chart(self, metrics: Mapping[str, Any]) -> None:
        self.chart.clear()
        pre, post = metrics.get("pre") or {}, metrics.get("post") or {}
        names = [n for n in HEADLINE_METRICS if n in pre or n in post]
        xs = list(range(len(names)))
        self.chart.addItem(pg.BarGraphItem(x=[x - 0.18 for x in xs], height=[pre.get(n, 0) for n in names],
                                           width=0.34, brush=PRE_COLOUR))
        self.chart.addItem(pg.BarGraphItem(x=[x + 0.18 for x in xs], height=[post.get(n, 0) for n in names],
                                           width=0.34, brush=POST_COLOUR))
        # the gate's thresholds, and dotted, the verdict's own target where the gate has none (trial 39)
        targets = {"generality": (VERDICT_RULES.generality, TARGET_COLOUR, Qt.PenStyle.DotLine),
                   **{n: (v, THRESHOLD_COLOUR, Qt.PenStyle.DashLine) for n, v in self.thresholds.items()}}
        for x, name in enumerate(names):
            if name in targets:
                value, colour, style = targets[name]
                pen = pg.mkPen(colour, width=2, style=style)
                self.chart.addItem(pg.PlotDataItem([x - 0.4, x + 0.4], [value] * 2, pen=pen))
        self._names = names
        self._fit_chart_labels()
        self.chart.setXRange(-0.6, max(len(names) - 0.4, 0.6))
