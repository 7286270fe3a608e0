"""A trained editor's validation figures as they come in: reliability, generality and locality
of single edits of held-out requests against the training step (``val_*`` progress values)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from app.widgets.loss_curve import IntegerAxis
from core import ProgressEvent

FIGURES = {"reliability": "#2f6fb0", "generality": "#1e7d32", "locality": "#b36b00"}


class ValidationCurve(pg.PlotWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w", axisItems={"bottom": IntegerAxis("bottom")})
        self.setObjectName("validation-curve")
        self.setLabel("left", "validation")
        self.setLabel("bottom", "training step")
        self.setYRange(0.0, 1.0)
        self.setMouseEnabled(False, False)
        self.addLegend(offset=(-10, -10))
        self.points: dict[str, list[tuple[int, float]]] = {name: [] for name in FIGURES}
        self._lines = {name: self.plot([], [], name=name, pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                                       symbolBrush=colour) for name, colour in FIGURES.items()}

        self.empty = pg.TextItem("", color="#555", anchor=(0.5, 0.5))
        self.addItem(self.empty)
        self.empty.setPos(0.5, 0.5)

    def set_empty_text(self, text: str) -> None:
        """What the chart says while it has no figures (e.g. that there is no validation set)."""
        self.empty.setText(text)
        self._draw()

    def empty_text(self) -> str:
        """The note shown now ("" when the chart has figures or nothing to say)."""
        return self.empty.toPlainText() if self.empty.isVisible() else ""

    def reset(self) -> None:
        self.set_history(())

    def set_history(self, validations: Iterable[Mapping[str, Any]]) -> None:
        """Start from the figures a checkpoint recorded (``EditorRecord.validation``)."""
        self.points = {name: [] for name in FIGURES}
        for figures in validations:
            self._add(int(figures["step"]), figures)
        self._draw()

    def add_event(self, event: ProgressEvent) -> None:
        figures = {k.removeprefix("val_"): v for k, v in (event.values or {}).items() if k.startswith("val_")}
        if figures:
            self._add(int(event.done), figures)
            self._draw()

    def _add(self, step: int, figures: Mapping[str, Any]) -> None:
        for name, points in self.points.items():
            if figures.get(name) is not None:
                points.append((step, float(figures[name])))

    def _draw(self) -> None:
        self.empty.setVisible(not any(self.points.values()))
        for name, points in self.points.items():
            self._lines[name].setData([s for s, _ in points], [v for _, v in points])
