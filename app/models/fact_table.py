"""The fact queue as a Qt table model, and the proxy that filters it by status and search text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from core import FactRecord, RunRecord

COLUMNS = ("Status", "Subject", "Prompt", "Old answer", "New answer", "Method", "Reliability", "Locality")
FACT_ID_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_COLOURS = {"approved": QColor("#1e7d32"), "rejected": QColor("#b3261e"), "needs-rework": QColor("#b36b00")}
ALL_STATUSES = ""

_Index = QModelIndex | QPersistentModelIndex


def _metric(run: RunRecord | None, name: str) -> float | None:
    if run is None:
        return None
    value = (run.metrics.get("post") or {}).get(name)
    return None if value is None else float(value)


class FactTableModel(QAbstractTableModel):
    """Rows: the workspace's facts; columns: status, the fact, and its latest run's method and metrics."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._facts: list[FactRecord] = []
        self._latest: dict[str, RunRecord] = {}

    def set_facts(self, facts: Sequence[FactRecord], runs: Sequence[RunRecord] = ()) -> None:
        self.beginResetModel()
        self._facts = list(facts)
        self._latest = {}
        for run in runs:  # oldest first: later runs win
            for fact_id in run.fact_ids:
                self._latest[fact_id] = run
        self.endResetModel()

    def fact(self, row: int) -> FactRecord:
        return self._facts[row]

    def latest_run(self, fact_id: str) -> RunRecord | None:
        return self._latest.get(fact_id)

    def row_of(self, fact_id: str) -> int:
        for row, record in enumerate(self._facts):
            if record.id == fact_id:
                return row
        return -1

    def rowCount(self, parent: _Index | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._facts)

    def columnCount(self, parent: _Index | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.DisplayRole and horizontal and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._facts):
            return None
        record = self._facts[index.row()]
        if role == FACT_ID_ROLE:
            return record.id
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 0:
            return STATUS_COLOURS.get(record.status)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{record.fact.prompt} → {record.fact.target_new}\nfact {record.fact.short_id}"
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole):
            return self._cell(record, index.column(), role == Qt.ItemDataRole.UserRole)
        return None

    def _cell(self, record: FactRecord, column: int, raw: bool) -> Any:
        fact, run = record.fact, self._latest.get(record.id)
        if column == 0:
            return record.status + (" · committed" if record.committed else "")
        if column <= 4:
            return (fact.subject, fact.prompt, fact.target_true, fact.target_new)[column - 1]
        if column == 5:
            return run.method if run else ""
        value = _metric(run, "reliability" if column == 6 else "locality")
        if raw:
            return -1.0 if value is None else value
        return "" if value is None else f"{value:.2f}"


class FactFilterProxy(QSortFilterProxyModel):
    """Filters by status (exact, "" for all) and by text found in subject, prompt or answers."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._status = ALL_STATUSES
        self._search = ""
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_status(self, status: str) -> None:
        self.beginFilterChange()
        self._status = status
        self.endFilterChange()

    def set_search(self, text: str) -> None:
        self.beginFilterChange()
        self._search = text.strip().casefold()
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, FactTableModel) or source_row >= model.rowCount():
            return False
        record = model.fact(source_row)
        if self._status and record.status != self._status:
            return False
        if not self._search:
            return True
        fact = record.fact
        haystack = " ".join((fact.subject, fact.prompt, fact.target_new, fact.target_true, record.id)).casefold()
        return self._search in haystack
