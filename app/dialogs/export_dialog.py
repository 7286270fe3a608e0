"""Export: an edit set (approved or filtered facts) or a patch of a commit range."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import file_dialogs
from core import EXPORT_FORMATS, STATUSES, author_key

SUFFIXES = {"jsonl": ".jsonl", "easyedit": ".json", "knowedit": ".json", "csv": ".csv", "patch": ".fspatch"}


class ExportDialog(QDialog):
    def __init__(self, refs: Sequence[tuple[str, str]], folder: Path, parent: QWidget | None = None,
                 to_default: str | None = None) -> None:
        """``refs``: (label, commit reference) choices for the patch range, newest first;
        ``to_default``: the one "To" starts at (the commit holding the edits)."""
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.folder = folder
        self.kind = QComboBox()
        self.kind.addItem("Edit set (facts)", "facts")
        self.kind.addItem("Patch (commits with their deltas)", "patch")
        self.format = QComboBox()
        self.format.addItems(EXPORT_FORMATS)
        self.statuses = {s: QCheckBox(s) for s in STATUSES}
        self.statuses["approved"].setChecked(True)
        self.from_ref, self.to_ref = QComboBox(), QComboBox()
        for label, ref in refs:
            self.from_ref.addItem(label, ref)
            self.to_ref.addItem(label, ref)
        self.from_ref.setCurrentIndex(max(0, len(refs) - 1))
        self.to_ref.setCurrentIndex(max(0, self.to_ref.findData(to_default)))
        self.signing = QLabel(_signing_text())
        self.signing.setWordWrap(True)
        self.out = QLineEdit()
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        self.pages = QStackedWidget()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._layout()
        self.kind.currentIndexChanged.connect(self._on_kind)
        self.format.currentTextChanged.connect(lambda _: self._default_out())
        self.out.textChanged.connect(lambda t: self.export_button.setEnabled(bool(t.strip())))
        self._on_kind()

    def _layout(self) -> None:
        facts = QWidget()
        facts_form = QFormLayout(facts)
        facts_form.addRow("Format:", self.format)
        boxes = QHBoxLayout()
        for box in self.statuses.values():
            boxes.addWidget(box)
        facts_form.addRow("Statuses:", boxes)
        scope = QLabel("None or all ticked: every fact. An approved fact whose committed edit was reverted is "
                       "left out unless every status is exported (it comes marked with the revert).")
        scope.setWordWrap(True)
        facts_form.addRow("", scope)
        patch = QWidget()
        patch_form = QFormLayout(patch)
        patch_form.addRow("From (exclusive):", self.from_ref)
        patch_form.addRow("To:", self.to_ref)
        patch_form.addRow("Signature:", self.signing)
        self.pages.addWidget(facts)
        self.pages.addWidget(patch)
        out = QHBoxLayout()
        out.addWidget(self.out, 1)
        out.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("Export:", self.kind)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.pages)
        form_out = QFormLayout()
        form_out.addRow("File:", out)
        layout.addLayout(form_out)
        layout.addWidget(self.buttons)

    def _on_kind(self) -> None:
        self.pages.setCurrentIndex(self.kind.currentIndex())
        self._default_out()

    def _suffix(self) -> str:
        return SUFFIXES["patch" if self.kind.currentData() == "patch" else self.format.currentText()]

    def _default_out(self) -> None:
        stem = "edits" if self.kind.currentData() == "facts" else "edits-patch"
        self.out.setText(str(self.folder / f"{stem}{self._suffix()}"))

    def browse(self) -> None:
        chosen = file_dialogs.save_file_name(self, "Export to", self.out.text())
        if chosen:
            self.out.setText(chosen)

    def choice(self) -> dict:
        """{"kind": "facts", "out", "format", "statuses"} or {"kind": "patch", "out", "from", "to"}."""
        out = Path(self.out.text().strip()).expanduser()
        if self.kind.currentData() == "facts":
            statuses = [s for s, box in self.statuses.items() if box.isChecked()] or None
            return {"kind": "facts", "out": out, "format": self.format.currentText(), "statuses": statuses}
        return {"kind": "patch", "out": out, "from": self.from_ref.currentData(), "to": self.to_ref.currentData()}


def _signing_text() -> str:
    """Whether the patch will be signed: export signs with the author key when there is one."""
    key = author_key()
    if key is None:
        return "Unsigned: no author key (make one with <code>factsmith keys init</code>)."
    return f"Signed by {key.name or 'your key'} (key {key.fingerprint[:16]})."
