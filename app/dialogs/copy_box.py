"""A small read-only dialog: a line of text, a field to read, Copy and Close (About, the log path)."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout, QWidget


def copy_box(parent, title: str, intro: str, field: QWidget, copy_text: str, copy_label: str = "Copy") -> QDialog:
    """``field`` under ``intro``; the Copy button (``dialog.copy_button``) puts ``copy_text`` on the clipboard."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    copy = QPushButton(copy_label)
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(copy_text))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(QLabel(intro))
    layout.addWidget(field)
    layout.addWidget(buttons)
    dialog.copy_button = copy
    return dialog
