"""Apply a patch someone exported: which file, onto which model folder, where the result
goes, and what the reviewer accepts (an unsigned patch, a signer not on the trusted list).

Both acceptances start unticked, as the CLI's ``--allow-unsigned`` / ``--allow-untrusted``
do: a patch whose origin cannot be shown is refused unless the reviewer says otherwise.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app import file_dialogs


def _path_row(edit: QLineEdit, browse) -> QWidget:
    row, layout = QWidget(), QHBoxLayout()
    layout.setContentsMargins(0, 0, 0, 0)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    layout.addWidget(edit, 1)
    layout.addWidget(button)
    row.setLayout(layout)
    row.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)  # never squashed by a message below
    return row


class PatchApplyDialog(QDialog):
    """Apply stays in the dialog: ``apply_requested`` starts the job; a refusal shows here with
    the paths kept (``show_failure``), success closes it (``applied``)."""

    apply_requested = Signal(dict)

    def __init__(self, model_dir: Path | None, folder: Path, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Apply patch")
        self.folder = folder
        self.patch = QLineEdit()
        self.patch.setPlaceholderText("the .fspatch file to apply")
        self.model = QLineEdit(str(model_dir) if model_dir else "")
        self.model.setPlaceholderText("the base model folder, or a checkout of the patch's start")
        self.out = QLineEdit()
        self.out.setPlaceholderText("a new folder for the patched model")
        self.allow_unsigned = QCheckBox("Apply an unsigned patch (nothing shows who made it)")
        self.allow_untrusted = QCheckBox("Apply a patch signed by a key not on my trusted list")
        self.verify = QCheckBox("Check the model's weights in full first (slower; no cached fingerprint)")
        form = QFormLayout()
        form.addRow("Patch", _path_row(self.patch, self._browse_patch))
        form.addRow("Model folder", _path_row(self.model, lambda: self._browse_folder(self.model)))
        form.addRow("Write to", _path_row(self.out, lambda: self._browse_folder(self.out)))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Apply")
        self.buttons.accepted.connect(self._apply)
        self.buttons.rejected.connect(self.reject)
        self.state = QLabel()
        self.state.setObjectName("patch-apply-state")
        self.state.setWordWrap(True)
        # its own wrapping row: a long refusal grows downwards and never narrows the inputs
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.state.setMinimumWidth(1)
        layout = QVBoxLayout()
        layout.addLayout(form)
        for box in (self.allow_unsigned, self.allow_untrusted, self.verify):
            layout.addWidget(box)
        layout.addWidget(self.state)
        layout.addWidget(self.buttons)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # the dialog grows for a wrapped refusal
        self.setLayout(layout)
        for edit in (self.patch, self.model, self.out):
            edit.textChanged.connect(self._update_ok)
        self._update_ok()

    def _apply(self) -> None:
        self.state.setText("Applying…")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.apply_requested.emit(self.choice())

    def show_failure(self, exc: BaseException) -> None:
        """Why the patch was not applied, in the dialog's own terms; the paths stay for another try."""
        boxes = {"unsigned": self.allow_unsigned, "untrusted": self.allow_untrusted}
        box = boxes.get(getattr(exc, "consent", None) or "")
        text = (f"{exc.reason}. To apply it anyway, tick “{box.text()}” and Apply again." if box is not None
                else str(exc) or type(exc).__name__)
        self.state.setText(f"<span style='color:#a33'>Not applied: {escape(text)}</span>")
        self._fit_state()
        self._update_ok()

    def _fit_state(self) -> None:
        """The message's row is as tall as its wrapped text; the dialog grows, the inputs keep their size."""
        self.state.setMinimumHeight(max(0, self.state.heightForWidth(self.state.width())))

    def ready(self) -> None:
        if self.state.text() == "Applying…":
            self.state.setText("")
        self._update_ok()

    def applied(self) -> None:
        self.state.setText("")
        self.accept()

    def _browse_patch(self) -> None:
        name = file_dialogs.open_file_name(self, "Patch to apply", str(self.folder),
                                           "Patches (*.fspatch *.patch);;All (*)")
        if name:
            self.patch.setText(name)

    def _browse_folder(self, edit: QLineEdit) -> None:
        name = file_dialogs.existing_directory(self, "Folder", edit.text() or str(self.folder))
        if name:
            edit.setText(name)

    def _update_ok(self) -> None:
        filled = all(e.text().strip() for e in (self.patch, self.model, self.out))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(filled)

    def choice(self) -> dict:
        return {"patch": Path(self.patch.text().strip()), "model": Path(self.model.text().strip()),
                "out": Path(self.out.text().strip()), "allow_unsigned": self.allow_unsigned.isChecked(),
                "allow_untrusted": self.allow_untrusted.isChecked(), "verify_weights": self.verify.isChecked()}
