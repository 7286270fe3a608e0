"""Tune preset: which facts to tune on and how many, with what that costs, before anything runs.

Trial 36: "Tune preset…" started at once on the whole queue (63 facts, eight candidates),
reached 6% after 35 s and offered no choice; the CLI had ``--budget``.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core import MIN_FACTS, Fact, TuneError, split_facts

DEFAULT_BUDGET = 40  # facts: about what the demo dev split holds, minutes on a CPU


class TuneDialog(QDialog):
    def __init__(self, method: str, queue: Sequence[Fact], selected: Sequence[Fact], candidates: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Tune the {method} preset")
        self.setMinimumWidth(440)  # the explanation reads in a few lines, not a column
        self.queue, self.selected, self.candidates = list(queue), list(selected), candidates
        self.use_selected = QRadioButton(f"The selected facts ({len(self.selected)})")
        self.use_queue = QRadioButton(f"Every fact in the queue ({len(self.queue)})")
        self.use_selected.setEnabled(len(self.selected) >= MIN_FACTS)
        if not self.use_selected.isEnabled():  # said on the line, not only in a tooltip (trial 44)
            self.use_selected.setText(f"The selected facts ({len(self.selected)}: select at least {MIN_FACTS} "
                                      "in the queue to tune on them)")
            self.use_selected.setToolTip(f"Select at least {MIN_FACTS} facts in the queue to tune on them")
        (self.use_selected if self.use_selected.isEnabled() else self.use_queue).setChecked(True)
        self.budget = QSpinBox()
        self.budget.setToolTip("Only the first N of the chosen facts are used: each candidate edits each of them")
        self.cost = QLabel()
        self.cost.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.addButton("Start tuning", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for radio in (self.use_selected, self.use_queue):
            radio.toggled.connect(lambda _: self._chosen_changed())
        self.budget.valueChanged.connect(lambda _: self._explain())
        self._layout(method)
        self._chosen_changed()

    def _layout(self, method: str) -> None:
        form = QFormLayout()
        form.addRow("Tune on:", self.use_selected)
        form.addRow("", self.use_queue)
        form.addRow("At most:", self.budget)
        layout = QVBoxLayout(self)
        intro = QLabel(f"Searches {self.candidates} sets of {method}'s key hyperparameters around its preset for "
                       "this model; the best, checked on facts held out of the search, is saved as a preset "
                       "offered under Preset.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.cost)
        layout.addWidget(self.buttons)

    def _chosen_changed(self) -> None:
        chosen = len(self.chosen_pool())
        self.budget.setRange(MIN_FACTS, max(MIN_FACTS, chosen))
        self.budget.setSuffix(f" of {chosen} facts")
        self.budget.setValue(min(chosen, DEFAULT_BUDGET))
        self._explain()

    def _explain(self) -> None:
        """What the choice costs, in edits, and how the facts are split."""
        try:
            tuned, held = split_facts(self.facts())
        except TuneError as exc:
            self.cost.setText(str(exc))
            self.start_button.setEnabled(False)
            return
        edits = self.candidates * len(tuned) + 2 * len(held)
        self.cost.setText(f"{len(tuned)} facts to tune on, {len(held)} held out to check the winner: about "
                          f"{edits} edits. Progress and Cancel are in the status bar; a cancelled search saves "
                          "nothing.")
        self.start_button.setEnabled(True)

    def chosen_pool(self) -> list[Fact]:
        return self.selected if self.use_selected.isChecked() else self.queue

    def facts(self) -> list[Fact]:
        """The facts the search will use: the first ``budget`` of the chosen ones."""
        return self.chosen_pool()[: self.budget.value()]
