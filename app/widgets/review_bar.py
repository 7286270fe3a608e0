"""Review decisions for the selected facts: approve, reject (needs a note), needs rework, undo."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

DECISIONS = (("approve", "Approve", "Alt+A"), ("reject", "Reject", "Alt+R"), ("rework", "Needs rework", "Alt+W"))


class ReviewBar(QGroupBox):
    decided = Signal(str, str)  # decision, note
    undo_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Review", parent)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note (required to reject)")
        self.buttons: dict[str, QPushButton] = {}
        layout = QHBoxLayout(self)
        layout.addWidget(self.note, 1)
        for decision, label, key in DECISIONS:
            button = QPushButton(f"{label} ({key})")
            button.setShortcut(QKeySequence(key))
            button.setToolTip(f"{label} the selected facts — shortcut {key}")
            button.clicked.connect(lambda _=False, d=decision: self.decide(d))
            self.buttons[decision] = button
            layout.addWidget(button)
        self.undo_button = QPushButton("Undo (Ctrl+Z)")
        self.undo_button.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_button.clicked.connect(self.undo_requested)
        layout.addWidget(self.undo_button)
        self.message = QLabel()
        self.message.setObjectName("review-message")
        layout.addWidget(self.message)

    def decide(self, decision: str) -> None:
        note = self.note.text().strip()
        if decision == "reject" and not note:
            self.message.setText("<span style='color:#a33'>Write a note saying why before rejecting</span>")
            self.note.setFocus()
            return
        self.message.setText("")
        self.decided.emit(decision, note)
        self.note.clear()

    def set_enabled(self, enabled: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(enabled)
