"""A live curve of the loss values a running edit reports (ProgressEvent.values["loss"])."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from core import ProgressEvent


class LossCurve(pg.PlotWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setObjectName("loss-curve")
        self.setLabel("left", "loss")
        self.setLabel("bottom", "optimisation step")
        self.setMouseEnabled(False, False)
        self.losses: list[float] = []
        self._line = self.plot([], [], pen=pg.mkPen("#2f6fb0", width=2), symbol="o", symbolSize=4)

    def reset(self) -> None:
        self.losses = []
        self._line.setData([], [])

    def add_event(self, event: ProgressEvent) -> None:
        loss = event.values.get("loss") if event.values else None
        if loss is None:
            return
        self.losses.append(float(loss))
        self._line.setData(list(range(1, len(self.losses) + 1)), self.losses)
