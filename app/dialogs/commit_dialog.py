"""Commit: the approved, uncommitted runs with their metrics, warnings under thresholds, a message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import (
    DEFAULT_THRESHOLDS,
    VERDICT_RULES,
    Fact,
    RunRecord,
    explain_left_out,
    run_warnings,
    unmeasured_metrics,
    unmeasured_text,
    verdict_failures,
    verdict_unmeasured,
)

COLUMNS = ("Run", "Facts", "Method", "Reliability", "Locality", "Warnings")


def _fmt(run: RunRecord, metric: str) -> str:
    value = (run.metrics.get("post") or {}).get(metric)
    return "—" if value is None else f"{value:.2f}"


def _bounds(limits: Mapping[str, float]) -> str:
    return ", ".join(f"{m} ≥ {v:.2f}" for m, v in limits.items())


def gate_note(limits: Mapping[str, float]) -> str:
    """The gate's thresholds beside the verdict's targets (core's one default): the gate checks
    only reliability and locality; the verdict also checks generality and fluency."""
    targets = {m: DEFAULT_THRESHOLDS[m] for m in limits if m in DEFAULT_THRESHOLDS}
    others = (f"The verdict (\"took\") also needs generality ≥ {VERDICT_RULES.generality:.2f}, the greedy text to say "
              f"the new answer, and fluency (its n-gram diversity) within {VERDICT_RULES.fluency_drop:.0%} of before; "
              "those show as warnings but do not block a commit.")
    if all(abs(limits[m] - v) < 1e-9 for m, v in targets.items()):
        return f"Commit gate: {_bounds(limits)}, the verdict's targets for these two. {others}"
    return (f"Commit gate: {_bounds(limits)}, your own thresholds; the verdict (\"took\") uses "
            f"{_bounds(targets)}, so a run can pass one and not the other. {others}")


class CommitDialog(QDialog):
    def __init__(self, runs: Sequence[RunRecord], facts: Mapping[str, Fact], thresholds: Mapping[str, float],
                 parent: QWidget | None = None, unrun: Sequence[str] = (),
                 stale: Mapping[int, str] | None = None, reverted: Mapping[str, str] | None = None,
                 shared: Mapping[str, Any] | None = None,
                 stale_advice: str = "preview again") -> None:
        super().__init__(parent)
        self.setWindowTitle("Commit approved edits")
        self.resize(760, 420)
        self.runs, self.facts = list(runs), dict(facts)
        self.left_out = QLabel()  # approved facts with no run: the commit cannot include them
        self.left_out.setObjectName("commit-left-out")
        self.left_out.setWordWrap(True)
        self.left_out.setTextFormat(Qt.TextFormat.RichText)
        self.left_out.setStyleSheet("color: #a33")
        self.shared = dict(shared or {})  # fact id → core's LeftOut: its approved run also edits facts that block it
        self.left_out.setText(self._left_out_text(unrun, dict(reverted or {})))
        self.left_out.setVisible(bool(unrun))
        self.stale = dict(stale or {})  # run id → "computed on commit X, HEAD is Y"
        self.stale_note = QLabel()
        self.stale_note.setObjectName("commit-stale")
        self.stale_note.setWordWrap(True)
        self.stale_note.setStyleSheet("color: #b36b00")
        self.stale_note.setText("Computed on an older state than HEAD, committed as they are: " + "; ".join(
            f"run {run_id} {text}" for run_id, text in self.stale.items())
            + f". To see their effect on HEAD: {stale_advice}." if self.stale else "")
        self.stale_note.setVisible(bool(self.stale))
        self.thresholds = {name: self._spin(value) for name, value in thresholds.items()}
        self.table = QTableWidget(len(self.runs), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        for column in (1, 5):  # facts and warnings share the width and wrap, never cut off (trial 32)
            self.table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().sectionResized.connect(lambda *_: self.table.resizeRowsToContents())
        self.table.itemChanged.connect(lambda _: self._update_button())
        self.summary = QLabel()
        self.summary.setObjectName("commit-summary")
        self.gate_note = QLabel()
        self.gate_note.setObjectName("commit-gate-note")
        self.gate_note.setWordWrap(True)
        self.message = QLineEdit()
        self.message.setPlaceholderText("What these edits change and why (required)")
        self.message.textChanged.connect(lambda _: self._update_button())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.commit_button = self.buttons.addButton("Commit", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._layout()
        self.refresh()

    def showEvent(self, event) -> None:  # Qt override
        super().showEvent(event)
        self.message.setFocus()  # the one thing the user must type

    def _spin(self, value: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(0.0, 1.0)
        spin.setSingleStep(0.05)
        spin.setValue(value)
        spin.valueChanged.connect(lambda _: self.refresh())
        return spin

    def _layout(self) -> None:
        limits = QHBoxLayout()
        limits.addWidget(QLabel("Warn when below:"))
        for name, spin in self.thresholds.items():
            limits.addWidget(QLabel(name))
            limits.addWidget(spin)
        limits.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(limits)
        layout.addWidget(self.gate_note)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.left_out)
        layout.addWidget(self.stale_note)
        layout.addWidget(QLabel("Message:"))
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def threshold_values(self) -> dict[str, float]:
        return {name: spin.value() for name, spin in self.thresholds.items()}

    def refresh(self) -> None:
        limits = self.threshold_values()
        self.table.blockSignals(True)  # re-filling the cells is not the user ticking a run
        for r, run in enumerate(self.runs):
            warnings = [str(w) for w in run_warnings(run, limits)]
            warnings += verdict_failures(run, list(limits)) + verdict_unmeasured(run, list(limits))
            warnings += [self.stale[run.id]] if run.id in self.stale else []
            unmeasured = unmeasured_metrics(run, limits)
            warnings += [unmeasured_text(unmeasured)] if unmeasured else []
            names = "; ".join(self._describe(f) for f in run.fact_ids)
            if (earlier := (getattr(run, "environment", None) or {}).get("recomputed_from")) is not None:  # trial 38
                names += f" — recomputed from run {earlier} after a revert: the fact's approval carries over"
            cells = (str(run.id), names, run.method, _fmt(run, "reliability"), _fmt(run, "locality"),
                     ", ".join(warnings) or "ok")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text if c in (1, 5) else "")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if c == 0:
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked if self._checked(r) else Qt.CheckState.Unchecked)
                if warnings and c == 5:
                    item.setForeground(Qt.GlobalColor.darkRed)
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        self.table.blockSignals(False)
        self.gate_note.setText(gate_note(limits))
        self._update_button()

    def _checked(self, row: int) -> bool:
        item = self.table.item(row, 0)
        return item is None or item.checkState() == Qt.CheckState.Checked

    def _left_out_text(self, unrun: Sequence[str], reverted: Mapping[str, str]) -> str:
        """Approved facts the commit leaves out: a reverted edit is said as reverted (in which
        commit), never as if it were still pending; one whose run other facts hold back names
        them; the others have no run yet."""
        def held_by_others(fact_id: str) -> bool:
            item = self.shared.get(fact_id)
            return item is not None and any(b.fact_id != fact_id for b in item.blockers)

        lines, by_revert = [], {}
        for fact_id in unrun:
            if fact_id in reverted and not held_by_others(fact_id):
                by_revert.setdefault(reverted[fact_id], []).append(self._describe(fact_id))
        for commit, names in by_revert.items():
            lines.append(f"Reverted in {commit}: {'; '.join(names)} (preview again to re-apply).")
        lines += [self._shared_line(self.shared[f]) for f in unrun
                  if held_by_others(f) or (f in self.shared and f not in reverted)]
        never = [self._describe(f) for f in unrun if f not in reverted and f not in self.shared]
        if never:
            lines.append(f"Approved, no run — not committed: {'; '.join(never)}. Preview them, then commit.")
        return "<br>".join(escape(line) for line in lines)

    def _shared_line(self, item: Any) -> str:
        """A fact approved on a run that cannot be committed now, said as core says it."""
        return f"Not committed: {explain_left_out(item, self._describe)}."

    def _describe(self, fact_id: str) -> str:
        fact = self.facts.get(fact_id)
        return fact_id[:12] if fact is None else f"{fact.subject}: {fact.target_true or '?'} → {fact.target_new}"

    def run_ids(self) -> list[int]:
        return [run.id for r, run in enumerate(self.runs) if self._checked(r)]

    def keyPressEvent(self, event) -> None:  # Qt's name
        """Enter commits only a commit the gate lets through: a forced one takes a click on its button
        (trial 39), whatever button Qt made the default again (a Tab through Cancel does)."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.needs_force():
            self.summary.setText(f"{self.summary.text().split(' — ')[0]} — a forced commit takes a click on "
                                 "\"Commit anyway\"")
            event.accept()
            return
        super().keyPressEvent(event)

    def needs_force(self) -> bool:
        """Some checked run is under the thresholds: committing it is a forced commit (core's gate)."""
        limits = self.threshold_values()
        return any(run_warnings(run, limits) for r, run in enumerate(self.runs) if self._checked(r))

    def _update_summary(self) -> None:
        """How many approved runs are ticked for this commit, and how many of those are under the thresholds."""
        if not self.runs:
            self.summary.setText("Nothing to commit: the approved facts below cannot be committed yet"
                                 if self.shared else "Nothing to commit: approve a previewed fact first")
            return
        limits, ticked = self.threshold_values(), [run for r, run in enumerate(self.runs) if self._checked(r)]
        warned = sum(bool(run_warnings(run, limits)) for run in ticked)
        self.summary.setText(f"{len(ticked)} of {len(self.runs)} approved run(s) selected; {warned} of them "
                             "under the thresholds")

    def _update_button(self) -> None:
        self._update_summary()
        forced = self.needs_force()
        self.commit_button.setText("Commit anyway (recorded as forced)" if forced else "Commit")
        self.commit_button.setEnabled(bool(self.message.text().strip()) and bool(self.run_ids()))
        # Enter in the message never overrides the gate: a forced commit takes a click (trial 39)
        self.commit_button.setAutoDefault(not forced)
        self.commit_button.setDefault(not forced)
