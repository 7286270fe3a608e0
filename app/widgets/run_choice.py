"""Which of the selected fact's runs the preview shows, and so which one Approve approves.

Shown only when the fact has more than one run: a reviewer who previewed with ROME, then
ICE, picks the ROME run here and approves it without computing it again (trial 32).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget


def run_label(run: Any, decided_id: int | None) -> str:
    verdict = ((run.metrics or {}).get("verdict") or {}).get("verdict")
    said = f" · {verdict}" if verdict else ""
    approved = " · approved" if run.id == decided_id else ""
    return f"run {run.id} · {run.method.upper()}{said}{approved}"


class RunChoice(QWidget):
    chosen = Signal(int)  # run id, when the reviewer picks one (not when the selection moves)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setToolTip("The fact's runs, newest first: the one shown is the one Approve approves")
        self.combo.activated.connect(lambda index: self.chosen.emit(self.combo.itemData(index)))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Run:"))
        layout.addWidget(self.combo, 1)
        self._picked: tuple[str, int] | None = None  # (fact id, run id) the reviewer picked
        self.hide()

    def pick(self, fact_id: str, run_id: int) -> None:
        self._picked = (fact_id, run_id)

    def picked_for(self, fact_id: str) -> int | None:
        """The run picked for this fact (None: show the latest); a pick for another fact is dropped."""
        if self._picked and self._picked[0] != fact_id:
            self._picked = None
        return self._picked[1] if self._picked else None

    def set_runs(self, runs: Sequence[Any], shown_id: int | None, decided_id: int | None = None) -> None:
        """The fact's runs (oldest first, as the queue holds them), the one shown selected."""
        self.combo.blockSignals(True)
        self.combo.clear()
        for run in reversed(runs):
            self.combo.addItem(run_label(run, decided_id), run.id)
        self.combo.setCurrentIndex(max(self.combo.findData(shown_id), 0))
        self.combo.blockSignals(False)
        self.setVisible(len(runs) > 1)

    def clear(self) -> None:
        """Nothing to pick (a new preview runs, or the selection has no run): the pick is dropped."""
        self._picked = None
        self.set_runs([], None)
