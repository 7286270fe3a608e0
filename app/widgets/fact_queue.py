"""The fact queue: a filterable, searchable, multi-select table of the workspace's facts."""

from __future__ import annotations

from contextlib import contextmanager

from PySide6.QtCore import QByteArray, QEvent, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
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

from app.models.fact_table import COLUMNS, FACT_ID_ROLE, FactFilterProxy, FactTableModel
from app.settings import AppSettings
from core import STATUSES

HEADER_KEY = "queue/header"
FIT_PROMPT_KEY = "queue/fit_prompt"  # "0" once the user has sized a column: their widths stand
PROMPT_COLUMN = COLUMNS.index("Prompt")
PROMPT_WIDTHS = (56, 300)  # the fitted Prompt column's least and most (px)
# Status, Subject, Old answer, New answer: the columns a reviewer reads in a row
BEFORE_ANSWERS_END = tuple(COLUMNS.index(name) for name in ("Status", "Subject", "Old answer", "New answer"))


class FactQueue(QGroupBox):
    selection_changed = Signal(list)  # fact ids, in view order
    import_requested = Signal()
    new_requested = Signal()
    open_requested = Signal(str)  # a fact id, to fix in the fact editor

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Fact queue", parent)
        self.settings = settings
        self._fit_prompt_on = settings is None or settings.value(FIT_PROMPT_KEY, "1") != "0"
        self._fitting = False  # the widths being set here, not by the user
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
        self._open_actions()
        self._column_menu()

    def _open_actions(self) -> None:
        """Double-click, Enter or the context menu open the current fact in the fact editor."""
        self.table.doubleClicked.connect(lambda index: self._open(index))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        action = QAction("Open in fact editor", self.table)  # the menu shows its key once: "Enter"
        action.setShortcuts([QKeySequence(Qt.Key.Key_Enter), QKeySequence(Qt.Key.Key_Return)])
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(lambda: self._open(self.table.currentIndex()))
        self.table.addAction(action)
        self.open_action = action

    def _open(self, index) -> None:
        if index.isValid():
            self.open_requested.emit(self.proxy.index(index.row(), 0).data(FACT_ID_ROLE))

    def _column_menu(self) -> None:
        """The header's context menu shows or hides columns; widths and choices persist."""
        header = self.table.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.column_actions: list[QAction] = []
        for column, name in enumerate(COLUMNS):
            action = QAction(name, header, checkable=True, checked=True)
            action.toggled.connect(lambda shown, c=column: self.show_column(c, shown))
            header.addAction(action)
            self.column_actions.append(action)
        state = self.settings.value(HEADER_KEY, "") if self.settings else ""
        if state:
            header.restoreState(QByteArray.fromBase64(state.encode()))
            for column, action in enumerate(self.column_actions):
                action.setChecked(not header.isSectionHidden(column))
        header.sectionResized.connect(lambda column, *_: self._section_resized(column))
        header.sectionMoved.connect(lambda *_: self._save_header())

    def show_column(self, column: int, shown: bool) -> None:
        visible = [c for c in range(len(COLUMNS)) if not self.table.isColumnHidden(c) and c != column]
        if not shown and not visible:  # the last visible column stays
            self.column_actions[column].setChecked(True)
            return
        with self._fitting_widths():
            self.table.setColumnHidden(column, not shown)
            self._fit_prompt()
        self._save_header()

    def _save_header(self) -> None:
        if self.settings is not None:
            state = self.table.horizontalHeader().saveState().toBase64().data().decode()
            self.settings.set_value(HEADER_KEY, state)

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
        # Prompt takes what the pane leaves (_fit_prompt), so both answers show; Status widens to
        # its text (_fit_status); Method, also in the preview panel, goes last, where overflow lands.
        labels = header.fontMetrics()  # a bold header font needs more than the cells' for "New answer"
        for column, width in enumerate((72, 80, 130, 80, 80, 55, 72, 60)):
            table.setColumnWidth(column, max(width, labels.horizontalAdvance(COLUMNS[column]) + 12))
        header.moveSection(COLUMNS.index("Method"), len(COLUMNS) - 1)
        table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # import order until a header is clicked
        table.selectionModel().selectionChanged.connect(lambda *_: self.selection_changed.emit(self.selected_ids()))
        table.viewport().installEventFilter(self)
        return table

    def eventFilter(self, watched, event) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_prompt()
        return super().eventFilter(watched, event)

    def _fit_prompt(self) -> None:
        """Until the user sizes a column, Prompt gets the width the pane leaves beside the
        columns through New answer (within PROMPT_WIDTHS): the answers never need a sideways
        scroll at 1024×640 or 1366×768 (trial 36); the whole prompt is in the row's tooltip."""
        if not self._fit_prompt_on:
            return
        table, least, most = self.table, *PROMPT_WIDTHS
        with self._fitting_widths():  # reading a width may emit a hide's deferred resize
            others = sum(table.columnWidth(c) for c in BEFORE_ANSWERS_END if not table.isColumnHidden(c))
            table.setColumnWidth(PROMPT_COLUMN, max(least, min(most, table.viewport().width() - others)))

    @contextmanager
    def _fitting_widths(self):
        """Widths set (or hidden) here are no choice of the user's: _section_resized ignores them."""
        outer, self._fitting = self._fitting, True
        try:
            yield
        finally:
            self._fitting = outer

    def _stretched_column(self) -> int:
        """The last visible column, which the header stretches to the pane's edge by itself."""
        header = self.table.horizontalHeader()
        shown = [header.logicalIndex(v) for v in range(header.count())
                 if not header.isSectionHidden(header.logicalIndex(v))]
        return shown[-1] if shown else -1

    def _section_resized(self, column: int) -> None:
        by_user = not self._fitting and column != self._stretched_column()
        if by_user and self._fit_prompt_on:  # the user's own width: it stands from now on
            self._fit_prompt_on = False
            if self.settings is not None:
                self.settings.set_value(FIT_PROMPT_KEY, "0")
        self._save_header()

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

    def set_facts(self, facts, runs=(), reverted=None, decisions=None, to_commit=None, fallen=None) -> None:
        """The whole queue; only changed rows are redrawn. The selection, the current row and the
        scroll position stay where they were."""
        self._keeping_view(lambda: self.model.set_facts(facts, runs, reverted, decisions, to_commit, fallen))

    def update_facts(self, records, decisions=None) -> None:
        """Some facts as they are now (reviewed, added); the rest of the queue is left alone."""
        self._keeping_view(lambda: self.model.update_facts(records, decisions))

    def _keeping_view(self, update) -> None:
        """Run ``update``; reselect only when it reset the model (else Qt kept the selection),
        then say what is selected (the rows' runs may have changed)."""
        selected = self.selected_ids()
        bars = (self.table.verticalScrollBar(), self.table.horizontalScrollBar())
        scrolled = [bar.value() for bar in bars]
        self.table.selectionModel().blockSignals(True)
        try:
            if update():
                self.select(selected, scroll=False)
        finally:
            self.table.selectionModel().blockSignals(False)
        self._fit_status()
        for bar, value in zip(bars, scrolled, strict=True):
            bar.setValue(value)
        self.selection_changed.emit(self.selected_ids())

    def _fit_status(self) -> None:
        """Widen the Status column to its longest text ("reverted → run 12"), so a status is
        never cut; narrower is left as it is."""
        metrics, model = self.table.fontMetrics(), self.model
        texts = {model.data(model.index(row, 0)) for row in range(model.rowCount())}
        needed = max((metrics.horizontalAdvance(t) for t in texts if t), default=0) + 16
        if needed > self.table.columnWidth(0):
            with self._fitting_widths():
                self.table.setColumnWidth(0, needed)
                self._fit_prompt()

    def focus_search(self) -> None:
        """Ctrl+F: the search box, its text selected, so typing replaces it (trial 37: "LyonLyon")."""
        self.search.setFocus()
        self.search.selectAll()

    def selected_ids(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.proxy.index(row, 0).data(FACT_ID_ROLE) for row in rows]

    def select(self, fact_ids: list[str], scroll: bool = True) -> None:
        """Select these facts (those visible under the current filter); the first becomes current."""
        selection = self.table.selectionModel()
        selection.clearSelection()
        flags = selection.SelectionFlag.Select | selection.SelectionFlag.Rows
        for fact_id in fact_ids:
            row = self.model.row_of(fact_id)
            index = self.proxy.mapFromSource(self.model.index(row, 0)) if row >= 0 else None
            if index is not None and index.isValid():
                if fact_id == fact_ids[0]:
                    selection.setCurrentIndex(index, selection.SelectionFlag.NoUpdate)
                selection.select(index, flags)
                if scroll:
                    self.table.scrollTo(index)

    def select_row(self, row: int) -> None:
        index = self.proxy.index(row, 0)
        if index.isValid():
            self.select([index.data(FACT_ID_ROLE)])
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)
