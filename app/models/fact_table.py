"""The fact queue as a Qt table model, and the proxy that filters it by status and search text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from core import FactRecord, RunRecord, decided_run_id, is_reverted, verdict_unchecked

VERDICT_MARK = " ⚠"  # beside the status of an approved or committed edit that did not wholly take
COLUMNS = ("Status", "Subject", "Prompt", "Old answer", "New answer", "Method", "Reliability", "Locality")
FACT_ID_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_COLOURS = {"approved": QColor("#1e7d32"), "rejected": QColor("#b3261e"), "needs-rework": QColor("#b36b00"),
                  "reverted": QColor("#6b6b6b")}
ALL_STATUSES = ""

_Index = QModelIndex | QPersistentModelIndex


def _run_id(run: RunRecord | None) -> int | None:
    return None if run is None else run.id  # a recorded run never changes


def _metric(run: RunRecord | None, name: str, fact_id: str) -> float | None:
    """The fact's own figure from its run's verdict (a batch run's mean is not this fact's), else
    the run's mean (runs stored before verdicts)."""
    if run is None:
        return None
    for fact in (run.metrics.get("verdict") or {}).get("facts") or ():
        if fact.get("fact_id") == fact_id:
            value = next((c.get("value") for c in fact.get("checks") or () if c.get("metric") == name), None)
            return None if value is None else float(value)
    value = (run.metrics.get("post") or {}).get(name)
    return None if value is None else float(value)


def _latest_runs(runs: Sequence[RunRecord]) -> dict[str, RunRecord]:
    latest = {}
    for run in runs:  # oldest first: later runs win
        for fact_id in run.fact_ids:
            latest[fact_id] = run
    return latest


def _runs_by_fact(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    by_fact: dict[str, list[RunRecord]] = {}
    for run in runs:  # oldest first
        for fact_id in run.fact_ids:
            by_fact.setdefault(fact_id, []).append(run)
    return by_fact


def _change_id(change: Any) -> int | None:
    return None if change is None else change.id


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
    """Rows: the workspace's facts; columns: status, the fact, and the method and metrics of the
    run its review decision was made on (the latest run before the decision), else of its latest run.

    Updates touch only the rows that changed (and add new facts at the end), so the view keeps
    its selection, current row, sort and scroll position and redraws little; only a queue that
    lost or reordered facts is reset.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._facts: list[FactRecord] = []
        self._latest: dict[str, RunRecord] = {}
        self._rows: dict[str, int] = {}  # fact id → row
        self._reverted: Mapping[str, str] = {}  # fact id → the revert commit that dropped its edit
        self._runs: dict[str, list[RunRecord]] = {}  # fact id → its runs, oldest first
        self._decisions: dict[str, Any] = {}  # fact id → the StatusChange its status stands on
        self._to_commit: dict[str, int] = {}  # fact id → the run a commit would take now
        self._fallen: dict[str, tuple[float, float | None]] = {}  # committed, no longer holding on HEAD

    def set_facts(self, facts: Sequence[FactRecord], runs: Sequence[RunRecord] = (),
                  reverted: Mapping[str, str] | None = None, decisions: Mapping[str, Any] | None = None,
                  to_commit: Mapping[str, int] | None = None,
                  fallen: Mapping[str, tuple[float, float | None]] | None = None) -> bool:
        """The whole queue, its runs, the facts whose edit a revert dropped, the review decisions,
        the run a commit would take for each fact and the committed facts whose edit no longer holds
        on HEAD (reliability there, alone); True when the model had to be reset."""
        facts, latest = list(facts), _latest_runs(runs)
        old_fallen, self._fallen = self._fallen, dict(fallen or {})
        old_to_commit, self._to_commit = self._to_commit, dict(to_commit or {})
        old_reverted, self._reverted = self._reverted, dict(reverted or {})
        old_decisions, self._decisions = self._decisions, dict(decisions or {})
        self._runs = _runs_by_fact(runs)
        old = len(self._facts)
        if [r.id for r in facts[:old]] != [r.id for r in self._facts]:
            self.beginResetModel()
            self._facts, self._latest, self._rows = facts, latest, {r.id: i for i, r in enumerate(facts)}
            self.endResetModel()
            return True
        changed = [row for row, record in enumerate(facts[:old]) if record != self._facts[row]
                   or _run_id(latest.get(record.id)) != _run_id(self._latest.get(record.id))
                   or old_reverted.get(record.id) != self._reverted.get(record.id)
                   or old_to_commit.get(record.id) != self._to_commit.get(record.id)
                   or old_fallen.get(record.id) != self._fallen.get(record.id)
                   or _change_id(old_decisions.get(record.id)) != _change_id(self._decisions.get(record.id))]
        self._facts[:old], self._latest = facts[:old], latest
        self._changed(changed)
        self._append(facts[old:])
        return False

    def update_facts(self, records: Sequence[FactRecord], decisions: Mapping[str, Any] | None = None) -> None:
        """Some facts as they are now (reviewed, added) with their decisions: their rows change,
        new ones are appended."""
        changed, new = [], []
        for record in records:
            if decisions is not None:
                self._decisions.pop(record.id, None)
                if record.id in decisions:
                    self._decisions[record.id] = decisions[record.id]
            row = self._rows.get(record.id)
            if row is None:
                new.append(record)
            else:
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

    def reapplied_by(self, record: FactRecord) -> int | None:
        """For an approved fact whose edit was reverted: the run, made since, that a commit would
        take in its place (a recomputed run, or a new preview); None when there is none."""
        if record.status != "approved" or not self.reverted_in(record):
            return None
        return self._to_commit.get(record.id)

    def reverted_in(self, record: FactRecord) -> str | None:
        """The revert commit that took this approved fact's edit out of the model (None: not reverted)."""
        return self._reverted.get(record.id) if is_reverted(record, self._reverted) else None

    def latest_run(self, fact_id: str) -> RunRecord | None:
        return self._latest.get(fact_id)

    def decision(self, fact_id: str) -> Any:
        """The review decision (a core StatusChange) the fact's status stands on; None: pending."""
        return self._decisions.get(fact_id)

    def runs_of(self, fact_id: str) -> list[RunRecord]:
        """The fact's runs, oldest first."""
        return list(self._runs.get(fact_id, ()))

    def decided_run(self, fact_id: str) -> RunRecord | None:
        """The run the fact's decision was made on: the one its approval recorded, else (other
        decisions, older workspaces) its latest run recorded before the decision."""
        decision = self._decisions.get(fact_id)
        if decision is None:
            return None
        runs = self._runs.get(fact_id, ())
        run_id = decided_run_id(decision.run_id, decision.at, ((run.id, run.created_at) for run in runs))
        return next((run for run in runs if run.id == run_id), None)

    def shown_run(self, fact_id: str) -> RunRecord | None:
        """The run whose method and metrics the row shows: the one a commit re-applies a reverted
        edit with, else the decided one, else the latest."""
        row = self._rows.get(fact_id)
        again = self.reapplied_by(self._facts[row]) if row is not None else None
        if again is not None:
            return next((run for run in self._runs.get(fact_id, ()) if run.id == again), None)
        return self.decided_run(fact_id) if fact_id in self._decisions else self._latest.get(fact_id)

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
            if self.reverted_in(record):
                return STATUS_COLOURS["reverted"]
            if self._not_holding(record) or self._marked(record):
                return STATUS_COLOURS["needs-rework"]  # amber, never green, beside a verdict that did not wholly take
            return STATUS_COLOURS.get(record.status)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(record, index.column())
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole):
            return self._cell(record, index.column(), role == Qt.ItemDataRole.UserRole)
        return None

    def _tooltip(self, record: FactRecord, column: int) -> str:
        decision, shown = self._decisions.get(record.id), self.shown_run(record.id)
        decided = self.decided_run(record.id)  # not the shown one: a commit may re-apply with another
        text = f"{record.fact.prompt} → {record.fact.target_new}\nfact {record.fact.short_id}"
        if decision is not None:
            text = (f"{decision.to_status} by {decision.author}, {decision.at[:16].replace('T', ' ')}"
                    + (f": {decision.note}" if decision.note else "")
                    + (f"\ndecided on run {decided.id} ({decided.method})" if decided else "\ndecided with no run")
                    + "\n" + text)
        if column == 0:  # the whole status first: the cell may be cut at a narrow width
            verdict, unmeasured = _fact_verdict(shown, record.id), _fact_unchecked(shown, record.id)
            if unmeasured and verdict == "took":
                verdict += f", but {' and '.join(unmeasured)} not measured"
            said = (f"its edit's verdict (run {shown.id}): {verdict}: select it to see why\n"
                    if not _wholly_took(shown, record.id) else "")
            text = f"{self._cell(record, 0, False)}\n{said}{self._revert_note(record)}{text}"
        latest = self._latest.get(record.id)
        if column >= 5 and decision is not None and latest is not None and latest is not shown:
            text += f"\nnewer run {latest.id} ({latest.method}) since the decision: select the fact to see it"
        return text

    def _not_holding(self, record: FactRecord) -> tuple[float, float | None] | None:
        return self._fallen.get(record.id) if record.committed else None

    def _revert_note(self, record: FactRecord) -> str:
        if (fell := self._not_holding(record)) is not None:
            alone = "" if fell[1] is None else f" (alone {fell[1]:.2f})"
            return (f"Committed, but on HEAD, with the other edits in place, its reliability is {fell[0]:.2f}{alone}: "
                    "the edit no longer holds. History shows where; a revert, or computing it again, can mend it\n")
        revert = self.reverted_in(record)
        if not revert:
            return ""
        again = self.reapplied_by(record)
        if again is None:
            return f"Its edit was reverted in {revert}: preview it again to re-apply it\n"
        return (f"Its edit was reverted in {revert}; a commit re-applies it with run {again}, made since, "
                "under the standing approval: look at that run before committing\n")

    def _marked(self, record: FactRecord) -> bool:
        """An approved or committed fact whose shown edit did not wholly take: " ⚠" beside its status,
        and amber (trial 45: a "partial: generality 0.50" edit read as Reliability 1.00, Locality 1.00
        in the queue); the verdict is in the tooltip, so the column stays narrow."""
        return (record.committed or record.status == "approved") and not _wholly_took(self.shown_run(record.id),
                                                                                        record.id)

    def _cell(self, record: FactRecord, column: int, raw: bool) -> Any:
        fact, run = record.fact, self.shown_run(record.id)
        if column == 0:
            if self.reverted_in(record):  # the revert's id is in the tooltip: the column stays narrow
                again = self.reapplied_by(record)
                return f"reverted → run {again}" if again is not None else "reverted"
            if record.committed:  # "committed" says approved too, and keeps the column narrow
                if self._not_holding(record):  # committed, but undone on HEAD: said first (the tooltip says why)
                    return "not holding"
                status = "committed" if record.status == "approved" else f"{record.status} · committed"
                return status + (VERDICT_MARK if self._marked(record) else "")
            return record.status + (VERDICT_MARK if self._marked(record) else "")
        if column <= 4:
            return (fact.subject, fact.prompt, fact.target_true, fact.target_new)[column - 1]
        if column == 5:
            newer = run is not None and record.id in self._decisions and run is not self._latest.get(record.id)
            return "" if run is None else run.method + (f" (run {run.id}, decided)" if newer else "")
        value = _metric(run, "reliability" if column == 6 else "locality", record.id)
        if raw:
            return -1.0 if value is None else value
        return "" if value is None else f"{value:.2f}"


def _stored_fact(run: RunRecord | None, fact_id: str) -> Mapping[str, Any] | None:
    facts = (((run.metrics or {}).get("verdict") or {}).get("facts") or ()) if run is not None else ()
    return next((f for f in facts if f.get("fact_id") == fact_id), None)


def _fact_verdict(run: RunRecord | None, fact_id: str) -> str | None:
    """The verdict the run's stored verdict gave this fact ("took", "partial", …); None: none stored."""
    stored = _stored_fact(run, fact_id)
    return None if stored is None else stored.get("verdict")


def _fact_unchecked(run: RunRecord | None, fact_id: str) -> tuple[str, ...]:
    stored = _stored_fact(run, fact_id)
    return () if stored is None else verdict_unchecked(stored)


def _wholly_took(run: RunRecord | None, fact_id: str) -> bool:
    """No verdict stored, or this fact took with every check made (trial 47: a "took" with
    generality and locality unmeasured read green in the queue)."""
    verdict = _fact_verdict(run, fact_id)
    return verdict is None or (verdict == "took" and not _fact_unchecked(run, fact_id))


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
