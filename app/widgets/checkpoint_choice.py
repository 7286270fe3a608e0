"""The method panel's choice of a trained editor's checkpoint (MEND): the checkpoints core
finds for the method, those the loaded model can use first; another model's are listed
disabled with the reason (fingerprint mismatch), so a reviewer sees why they are no choice.

The choice is the ``checkpoint`` hyperparameter: "" for the default path (where training
writes and editing looks by default), else the file's path.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget

from core import CheckpointEntry, LoadedModel, default_checkpoint, editor_checkpoints

# short, so the narrow Editor row shows it whole at 1366×768; the tooltip says what to do
NONE_YET = "No editor yet"
NONE_YET_TIP = "No editor of this method was trained for the loaded model: Train… beside it (or Tools → Train editor…)"


def entry_text(entry: CheckpointEntry, default: bool) -> str:
    if not entry.usable:
        reason = entry.problem.split(":")[0]
        held = f" (for {entry.record.model_name})" if entry.record is not None else ""
        return f"{entry.path.name}: {reason}{held}"
    record, tail = entry.record, " (default)" if default else ""
    # the figures of the editor that edits: the kept one, where training went on past it
    figures = record.editing_validation
    rel = f" · val. reliability {figures['reliability']:.2f}" if "reliability" in figures else ""
    kept = f" (edits with step {record.editing_step})" if record.editing_step != record.step else ""
    return f"{entry.path.name} · {record.step} steps{kept}{rel}{tail}"


class CheckpointChoice(QComboBox):
    chosen = Signal(str)  # the checkpoint hyperparameter's new value

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("checkpoint-choice")
        # as wide as NONE_YET, not as the longest file name (the tooltip has it whole)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(len(NONE_YET))
        self.entries: list[CheckpointEntry] = []
        self._default: Path | None = None
        self.activated.connect(self._on_activated)

    def fill(self, method: str, lm: LoadedModel, value: str, extra: Iterable[str] = ()) -> None:
        """List the method's checkpoints for ``lm`` and show the one ``value`` names; with
        no value and nothing at the default path, the first usable one is chosen."""
        self._default = default_checkpoint(method, lm.info.fingerprint).resolve()
        self.entries = editor_checkpoints(method, lm.info.fingerprint, [*extra, *([value] if value else [])])
        self.blockSignals(True)
        self.clear()
        if not any(e.usable for e in self.entries):
            self.addItem(NONE_YET, None)
            self.setItemData(0, NONE_YET_TIP, Qt.ItemDataRole.ToolTipRole)
        for entry in self.entries:
            self._add(entry_text(entry, entry.path == self._default), entry.path, entry.problem)
        named = Path(value).expanduser().resolve() if value else None
        if named is not None and all(e.path != named for e in self.entries):
            self._add(f"{named.name}: no such checkpoint", named, f"no checkpoint at {named}")
        self.blockSignals(False)
        self.view().setMinimumWidth(self.view().sizeHintForColumn(0) + 24)  # the popup shows whole names
        if not self.show_value(value) and not value:
            first = next((e for e in self.entries if e.usable), None)
            if first is not None:
                self.show_value(str(first.path))
                self.chosen.emit(self._value_of(first.path))

    def _add(self, text: str, path: Path, problem: str) -> None:
        self.addItem(text, str(path))
        index = self.count() - 1
        self.setItemData(index, problem or str(path), Qt.ItemDataRole.ToolTipRole)
        self.model().item(index).setEnabled(not problem)

    def lists(self, value: str) -> bool:
        """Whether ``value`` needs no new listing ("" is the default path, decided by ``fill``)."""
        return not value or self.findData(str(Path(value).expanduser().resolve())) >= 0

    def show_value(self, value: str) -> bool:
        """Select the entry the hyperparameter names (no signal); False if none is listed."""
        target = Path(value).expanduser().resolve() if value else self._default
        index = self.findData(str(target)) if target is not None else -1
        if index < 0:
            index = self.findData(None)
        self.blockSignals(True)
        self.setCurrentIndex(max(0, index))
        self.blockSignals(False)
        self._tip()
        return index >= 0 and self.itemData(index) is not None

    def _value_of(self, path: Path) -> str:
        return "" if path == self._default else str(path)

    def _tip(self) -> None:
        """The whole name and the path (or the problem): the panel is often narrower than either."""
        index = self.currentIndex()
        self.setToolTip(f"{self.itemText(index)}\n{self.itemData(index, Qt.ItemDataRole.ToolTipRole) or ''}")

    def _on_activated(self, index: int) -> None:
        self._tip()
        data = self.itemData(index)
        if data is not None:
            self.chosen.emit(self._value_of(Path(data)))
