"""A tree that keeps its sideways scroll when an item is clicked or selected by keys."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QTreeWidget


class SteadyTree(QTreeWidget):
    """Qt scrolls a clicked cell of a column wider than the view into sight, sideways, and the
    first columns (History's # and commit id) stayed hidden (trial 46); rows still scroll into
    sight up and down."""

    def scrollTo(self, index, hint=QAbstractItemView.ScrollHint.EnsureVisible) -> None:
        keep = self.horizontalScrollBar().value()
        super().scrollTo(index, hint)
        self.horizontalScrollBar().setValue(keep)
