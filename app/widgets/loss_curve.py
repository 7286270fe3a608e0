"""A live curve of the loss values a running edit reports (ProgressEvent.values["loss"])."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QWidget

from core import ProgressEvent


class IntegerAxis(pg.AxisItem):
    """An axis of counts (steps, commits): ticks only at whole numbers, no SI prefix."""

    def __init__(self, orientation: str = "bottom") -> None:
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N803 (pyqtgraph's names)
        levels = super().tickSpacing(minVal, maxVal, size)
        spacings = sorted({max(1, math.ceil(spacing)) for spacing, _ in levels}, reverse=True)
        return [(float(spacing), 0.0) for spacing in spacings]


class SparseAxis(pg.AxisItem):
    """A value axis whose labels never crowd: one level of ticks at a 1-2-5 step at least
    ``min_gap`` pixels apart (a short chart at 1366×768 otherwise draws labels over each
    other), never so wide that no tick is left; a fixed width holds labels like 0.0125; no SI
    prefix in the axis title."""

    def __init__(self, orientation: str = "left", min_gap: float = 18.0, width: int = 52) -> None:
        super().__init__(orientation)
        self.min_gap = min_gap
        self.setWidth(width)
        self.enableAutoSIPrefix(False)  # small losses read "loss (x0.001)", cut to "loss (x0.0" at 1366

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N803 (pyqtgraph's names)
        span = maxVal - minVal
        if span <= 0 or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        top = math.floor(math.log10(span))
        steps = [m * 10.0 ** e for e in range(top - 3, top + 2) for m in (1, 2, 5)]
        # a step wider than the range is fine while one of its ticks is in view (trial 40: a 25 px
        # chart of losses 0-4.5 crowded "4 2 0" into it; now it reads "0" alone)
        in_view = [step for step in steps if math.floor(maxVal / step) * step >= minVal] or steps[:1]
        roomy = [step for step in in_view if step * size / span >= self.min_gap]
        return [((roomy or in_view[-1:])[0], 0.0)]


class LossCurve(pg.PlotWidget):
    def minimumSizeHint(self) -> QSize:
        """``foldable``: no height of its own, since folded away in a short preview pane the
        view's 68 px would still count and push the window past a 640 px screen."""
        hint = super().minimumSizeHint()
        return QSize(hint.width(), 0) if self.foldable else hint

    def __init__(self, parent: QWidget | None = None, foldable: bool = False) -> None:
        self.foldable = foldable
        super().__init__(parent, background="w", axisItems={"bottom": IntegerAxis("bottom"),
                                                            "left": SparseAxis("left")})
        self.setObjectName("loss-curve")
        self.setLabel("left", "loss")
        self.setLabel("bottom", "optimisation step")
        self.setMouseEnabled(False, False)
        self.getPlotItem().setContentsMargins(0, 8, 6, 0)  # room for the top tick's label ("1.0" was cut)
        self.losses: list[float] = []
        self._line = self.plot([], [], pen=pg.mkPen("#2f6fb0", width=2), symbol="o", symbolSize=4)

    def reset(self) -> None:
        """No curve, and the empty chart's own axes (0-1), not the last run's."""
        self.losses = []
        self._axes(True)
        self._line.setData([], [])
        self.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.enableAutoRange()  # the next curve sets the axes again

    def show_absent(self, text: str) -> None:
        """No curve to draw (none stored for a run): the text alone, no empty axes with a stray "0"
        and a clipped axis title (trial 40)."""
        self.reset()
        self._axes(False)
        self.setTitle(text, size="8pt", color="#666")

    def _axes(self, shown: bool) -> None:
        for name in ("left", "bottom"):
            self.getPlotItem().showAxis(name, shown)
        if shown:
            self.setTitle(None)

    def set_losses(self, losses) -> None:
        """Start from a curve already drawn (a resumed training's first steps); none: ``reset``."""
        if not len(losses):
            self.reset()
            return
        self.losses = [float(v) for v in losses]
        self._axes(True)
        self._line.setData(list(range(1, len(self.losses) + 1)), self.losses)

    def add_event(self, event: ProgressEvent) -> None:
        loss = event.values.get("loss") if event.values else None
        if loss is None:
            return
        self.losses.append(float(loss))
        self._line.setData(list(range(1, len(self.losses) + 1)), self.losses)
