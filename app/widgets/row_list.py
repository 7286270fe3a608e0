"""An editable list of rows (one or two text columns) with Add and Remove buttons."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class RowList(QWidget):
    changed = Signal()

    def __init__(self, headers: Sequence[str], noun: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(list(headers))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setMaximumHeight(110)
        self.table.itemChanged.connect(lambda _: self.changed.emit())
        # a row left empty when its editor closes goes (after the editor moved on, if it did)
        self.table.itemDelegate().closeEditor.connect(lambda *_: QTimer.singleShot(0, self.drop_empty_rows))
        self.add_button = QPushButton(f"Add {noun}")
        self.add_button.clicked.connect(self.add_and_edit)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QVBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def add_row(self, *values: str) -> None:
        row = self.table.rowCount()
        self.table.blockSignals(True)
        self.table.insertRow(row)
        for column in range(self.table.columnCount()):
            self.table.setItem(row, column, QTableWidgetItem(values[column] if column < len(values) else ""))
        self.table.blockSignals(False)
        self.changed.emit()

    def add_and_edit(self) -> None:
        """A new row, its first cell open for typing (what Add promises)."""
        self.add_row()
        row = self.table.rowCount() - 1
        self.table.setFocus()
        self.table.setCurrentCell(row, 0)
        self.table.editItem(self.table.item(row, 0))

    def drop_empty_rows(self) -> None:
        """Rows with nothing typed, except the one being edited."""
        editing = self.table.state() == QTableWidget.State.EditingState
        empty = [r for r in range(self.table.rowCount())
                 if not (editing and r == self.table.currentRow())
                 and not any((self.table.item(r, c) and self.table.item(r, c).text().strip())
                             for c in range(self.table.columnCount()))]
        for row in reversed(empty):
            self.table.removeRow(row)

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()} or {self.table.rowCount() - 1}, reverse=True)
        for row in rows:
            if row >= 0:
                self.table.removeRow(row)
        self.changed.emit()

    def rows(self) -> list[tuple[str, ...]]:
        """Non-empty rows, as typed (blank rows are skipped)."""
        out = []
        for r in range(self.table.rowCount()):
            cells = tuple((self.table.item(r, c).text() if self.table.item(r, c) else "")
                          for c in range(self.table.columnCount()))
            if any(cell.strip() for cell in cells):
                out.append(cells)
        return out

    def set_rows(self, rows: Sequence[Sequence[str]]) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.table.blockSignals(False)
        for row in rows:
            self.add_row(*row)
