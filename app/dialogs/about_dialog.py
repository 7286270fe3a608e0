"""Help → About Factsmith: the version, the live model, the workspace, the libraries and the
log, in one copyable text (what a bug report needs)."""

from __future__ import annotations

import importlib
import platform
from importlib import metadata

from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QDialog, QPlainTextEdit

from app.dialogs.copy_box import copy_box

LIBRARIES = ("torch", "transformers", "safetensors", "PySide6", "pyqtgraph", "sqlite-utils", "numpy")


def _version(name: str) -> str:
    """The installed distribution's version, else the module's own (PySide6 ships as several)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        try:
            return str(importlib.import_module(name.replace("-", "_")).__version__)
        except (ImportError, AttributeError):
            return "not installed"


def about_text(window) -> str:
    """The facts the dialog shows, one per line."""
    lm, ws = window.session.lm, window.session.ws
    model = f"{lm.info.name} on {lm.info.device} ({lm.info.dtype}) — {lm.info.path}" if lm else "none loaded"
    lines = [f"Factsmith {_version('factsmith')}",
             f"Model: {model}",
             f"Workspace: {ws.path if ws else 'none open'}",
             f"Log: {window.log_file}",
             f"Python {platform.python_version()} on {platform.platform()}"]
    lines += [f"{name} {_version(name)}" for name in LIBRARIES] + [f"Qt {qVersion()}"]
    return "\n".join(lines)


def about_dialog(window) -> QDialog:
    text = about_text(window)
    body = QPlainTextEdit(text)
    body.setReadOnly(True)
    body.setObjectName("about-text")
    body.setMinimumSize(body.fontMetrics().horizontalAdvance(max(text.splitlines(), key=len)) + 40,
                        body.fontMetrics().lineSpacing() * (text.count("\n") + 3))
    dialog = copy_box(window, "About Factsmith", "Edit facts in local language models: preview, review, commit.",
                      body, text)
    dialog.body = body
    return dialog
