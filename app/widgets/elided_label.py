"""A one-line label that never pushes its neighbours: long text is elided, the full text is in
the tooltip (and what ``text()`` returns). A path in the text loses its folders first, in the
middle, so the file name stays readable."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._path = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)

    def setText(self, text: str, tip: str | None = None, path: str = "") -> None:
        """``tip``: a fuller tooltip than the text; ``path``: a path in ``text`` to elide in its middle."""
        self._full = text
        self._path = path if path and path in text else ""
        self.setToolTip(text if tip is None else tip)
        self._elide()

    def text(self) -> str:
        """The full text (what is shown may be elided: ``shown_text``)."""
        return self._full

    def shown_text(self) -> str:
        return super().text()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 0)
        shown = self._full
        if self._path and self.fontMetrics().horizontalAdvance(shown) > width:
            shown = self._elide_path(width)
        super().setText(self.fontMetrics().elidedText(shown, Qt.TextElideMode.ElideRight, width))

    def _elide_path(self, width: int) -> str:
        """The text with the path's folders elided in the middle to fit ``width`` (its name kept)."""
        metrics, path = self.fontMetrics(), self._path
        cut = max(path.rfind("/"), path.rfind("\\")) + 1
        folders, name = path[:cut], path[cut:]
        before, _, after = self._full.partition(path)
        room = width - metrics.horizontalAdvance(before + name + after) - 2
        folders = (metrics.elidedText(folders, Qt.TextElideMode.ElideMiddle, room) if room > 0 else "") or "…/"
        return f"{before}{folders}{name}{after}"

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 8, super().sizeHint().height())
