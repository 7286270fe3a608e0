"""An editable list of rows (one or two text columns) with Add and Remove buttons."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class _LiveDelegate(QStyledItemDelegate):
    """Writes each keystroke to the cell, so the form validates (and names the fact) while a cell
    is still being typed; Escape puts the cell back as it was when its editor opened."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._opened: dict[int, tuple[QPersistentModelIndex, object]] = {}
        self.closeEditor.connect(self._closed)

    def createEditor(self, parent, option, index):  # Qt's name
        editor = super().createEditor(parent, option, index)
        if isinstance(editor, QLineEdit):
            self._opened[id(editor)] = (QPersistentModelIndex(index), index.data(Qt.ItemDataRole.EditRole))
            editor.textEdited.connect(lambda _text, e=editor: self.commitData.emit(e))
        return editor

    def setEditorData(self, editor, index) -> None:  # Qt's name
        # each keystroke written to the cell comes back here: refilling the editor would move the
        # cursor to the end and clear its undo
        if isinstance(editor, QLineEdit) and editor.text() == (index.data(Qt.ItemDataRole.EditRole) or ""):
            return
        super().setEditorData(editor, index)

    def destroyEditor(self, editor, index) -> None:  # Qt's name
        self._opened.pop(id(editor), None)  # closed without closeEditor (the row removed)
        super().destroyEditor(editor, index)

    def _closed(self, editor, hint) -> None:
        index, original = self._opened.pop(id(editor), (None, None))
        if hint == QAbstractItemDelegate.EndEditHint.RevertModelCache and index is not None and index.isValid():
            index.model().setData(index, original, Qt.ItemDataRole.EditRole)


class RowList(QWidget):
    changed = Signal()

    def __init__(self, headers: Sequence[str], noun: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(list(headers))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setMaximumHeight(110)
        self.table.setItemDelegate(_LiveDelegate(self.table))
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
