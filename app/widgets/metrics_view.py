"""Metrics before and after an edit: a table (pre, post, change, protocol) and a bar chart with thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QSplitter, QTableWidget, QTableWidgetItem, QWidget

from core import HEADLINE_METRICS


def protocol_of(name: str) -> str:
    if "." in name:
        return name.split(".", 1)[0]
    if name in ("fluency", "ppl_r"):
        return "fluency"
    return "teacher_forced"


def metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, float | None, float | None, str]]:
    """(name, pre, post, protocol): headline metrics first, then every other one."""
    pre, post = metrics.get("pre_all") or metrics.get("pre") or {}, metrics.get("post_all") or metrics.get("post") or {}
    names = [n for n in HEADLINE_METRICS if n in pre or n in post]
    names += sorted((set(pre) | set(post)) - set(names))
    return [(n, pre.get(n), post.get(n), protocol_of(n)) for n in names]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class MetricsView(QSplitter):
    def __init__(self, thresholds: Mapping[str, float], parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.thresholds = dict(thresholds)
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("metrics-table")
        self.table.setHorizontalHeaderLabels(["Metric", "Pre", "Post", "Change", "Protocol"])
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((170, 60, 60, 58)):
            self.table.setColumnWidth(column, width)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.chart = pg.PlotWidget(background="w")
        self.chart.setObjectName("metrics-chart")
        self.chart.setYRange(0, 1.3)  # room for the legend above the bars
        self.chart.setMouseEnabled(False, False)
        self.chart.addLegend(offset=(5, 5), colCount=2)
        self.addWidget(self.table)
        self.addWidget(self.chart)
        self.setSizes([440, 340])

    def set_metrics(self, metrics: Mapping[str, Any]) -> None:
        rows = metric_rows(metrics)
        self.table.setRowCount(len(rows))
        for r, (name, pre, post, protocol) in enumerate(rows):
            change = None if pre is None or post is None else post - pre
            texts = (name, _fmt(pre), _fmt(post), "—" if change is None else f"{change:+.3f}", protocol)
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(r, c, item)
        self._draw_chart(metrics)

    def _draw_chart(self, metrics: Mapping[str, Any]) -> None:
        self.chart.clear()
        pre, post = metrics.get("pre") or {}, metrics.get("post") or {}
        names = [n for n in HEADLINE_METRICS if n in pre or n in post]
        xs = list(range(len(names)))
        self.chart.addItem(pg.BarGraphItem(x=[x - 0.18 for x in xs], height=[pre.get(n, 0) for n in names],
                                           width=0.34, brush="#9bb7d4", name="pre"))
        self.chart.addItem(pg.BarGraphItem(x=[x + 0.18 for x in xs], height=[post.get(n, 0) for n in names],
                                           width=0.34, brush="#2f6fb0", name="post"))
        for x, name in enumerate(names):
            if name in self.thresholds:
                pen = pg.mkPen("#c0392b", width=2, style=Qt.PenStyle.DashLine)
                label = "threshold" if not any(n in self.thresholds for n in names[:x]) else None
                self.chart.addItem(pg.PlotDataItem([x - 0.4, x + 0.4], [self.thresholds[name]] * 2, pen=pen,
                                                   name=label))
        self.chart.getAxis("bottom").setTicks([list(zip(xs, names))])
        self.chart.setXRange(-0.6, max(len(names) - 0.4, 0.6))
