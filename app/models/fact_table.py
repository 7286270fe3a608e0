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


def _run_id(run: RunRecord | None) -> int | None:
    return None if run is None else run.id  # a recorded run never changes


def _metric(run: RunRecord | None, name: str) -> float | None:
    if run is None:
        return None
    value = (run.metrics.get("post") or {}).get(name)
    return None if value is None else float(value)


def _latest_runs(runs: Sequence[RunRecord]) -> dict[str, RunRecord]:
    latest = {}
    for run in runs:  # oldest first: later runs win
        for fact_id in run.fact_ids:
            latest[fact_id] = run
    return latest


def _ranges(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted rows as runs of consecutive rows, (first, last)."""
    spans: list[tuple[int, int]] = []
    for row in rows:
        if spans and spans[-1][1] == row - 1:
            spans[-1] = (spans[-1][0], row)
        else:
            spans.append((row, row))
    return spans


class FactTableModel(QAbstractTableModel):
    """Rows: the workspace's facts; columns: status, the fact, and its latest run's method and metrics.

    Updates touch only the rows that changed (and add new facts at the end), so the view keeps
    its selection, current row, sort and scroll position and redraws little; only a queue that
    lost or reordered facts is reset.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._facts: list[FactRecord] = []
        self._latest: dict[str, RunRecord] = {}
        self._rows: dict[str, int] = {}  # fact id → row

    def set_facts(self, facts: Sequence[FactRecord], runs: Sequence[RunRecord] = ()) -> bool:
        """The whole queue and its runs; True when the model had to be reset."""
        facts, latest = list(facts), _latest_runs(runs)
        old = len(self._facts)
        if [r.id for r in facts[:old]] != [r.id for r in self._facts]:
            self.beginResetModel()
            self._facts, self._latest, self._rows = facts, latest, {r.id: i for i, r in enumerate(facts)}
            self.endResetModel()
            return True
        changed = [row for row, record in enumerate(facts[:old]) if record != self._facts[row]
                   or _run_id(latest.get(record.id)) != _run_id(self._latest.get(record.id))]
        self._facts[:old], self._latest = facts[:old], latest
        self._changed(changed)
        self._append(facts[old:])
        return False

    def update_facts(self, records: Sequence[FactRecord]) -> None:
        """Some facts as they are now (reviewed, added): their rows change, new ones are appended."""
        changed, new = [], []
        for record in records:
            row = self._rows.get(record.id)
            if row is None:
                new.append(record)
            elif record != self._facts[row]:
                self._facts[row] = record
                changed.append(row)
        self._changed(sorted(changed))
        self._append(new)

    def _changed(self, rows: Sequence[int]) -> None:
        for first, last in _ranges(rows):
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def _append(self, records: Sequence[FactRecord]) -> None:
        if not records:
            return
        first = len(self._facts)
        self.beginInsertRows(QModelIndex(), first, first + len(records) - 1)
        self._facts.extend(records)
        self._rows.update((r.id, first + i) for i, r in enumerate(records))
        self.endInsertRows()

    def records(self) -> list[FactRecord]:
        """Every fact as last shown, in queue order."""
        return list(self._facts)

    def fact(self, row: int) -> FactRecord:
        return self._facts[row]

    def latest_run(self, fact_id: str) -> RunRecord | None:
        return self._latest.get(fact_id)

    def row_of(self, fact_id: str) -> int:
        return self._rows.get(fact_id, -1)

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
