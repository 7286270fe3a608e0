"""The fact queue: a filterable, searchable, multi-select table of the workspace's facts."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.models.fact_table import FACT_ID_ROLE, FactFilterProxy, FactTableModel
from core import STATUSES


class FactQueue(QGroupBox):
    selection_changed = Signal(list)  # fact ids, in view order
    import_requested = Signal()
    new_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Fact queue", parent)
        self.model = FactTableModel(self)
        self.proxy = FactFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.status_filter = QComboBox()
        self.status_filter.addItem("All statuses", "")
        for status in STATUSES:
            self.status_filter.addItem(status.capitalize().replace("-", " "), status)
        self.status_filter.currentIndexChanged.connect(
            lambda _: self.proxy.set_status(self.status_filter.currentData()))
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search subject, prompt, answers (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.set_search)
        self.table = self._make_table()
        self.import_button = QPushButton("Import… (Ctrl+I)")
        self.import_button.clicked.connect(self.import_requested)
        self.new_button = QPushButton("New fact (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        self._layout()

    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.proxy)
        table.setSortingEnabled(True)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(24)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((150, 110, 210, 90, 90, 55, 75, 60)):
            table.setColumnWidth(column, width)
        table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # import order until a header is clicked
        table.selectionModel().selectionChanged.connect(lambda *_: self.selection_changed.emit(self.selected_ids()))
        return table

    def _layout(self) -> None:
        filters = QHBoxLayout()
        filters.addWidget(self.status_filter)
        filters.addWidget(self.search, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def set_facts(self, facts, runs=()) -> None:
        selected = self.selected_ids()
        self.model.set_facts(facts, runs)
        self.select(selected)

    def selected_ids(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.proxy.index(row, 0).data(FACT_ID_ROLE) for row in rows]

    def select(self, fact_ids: list[str]) -> None:
        """Select these facts (those visible under the current filter)."""
        selection = self.table.selectionModel()
        selection.clearSelection()
        flags = selection.SelectionFlag.Select | selection.SelectionFlag.Rows
        for fact_id in fact_ids:
            row = self.model.row_of(fact_id)
            index = self.proxy.mapFromSource(self.model.index(row, 0)) if row >= 0 else None
            if index is not None and index.isValid():
                selection.select(index, flags)
                self.table.scrollTo(index)

    def select_row(self, row: int) -> None:
        index = self.proxy.index(row, 0)
        if index.isValid():
            self.select([index.data(FACT_ID_ROLE)])
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)
