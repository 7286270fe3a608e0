"""A facts file chosen by the reviewer: its path, Browse…, an optional demo file offered as an
explicit choice (the placeholder only hints), and a line saying what the file holds or what
is wrong with it. The file is read as an import would read it (core's ``inspect_facts``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from app import file_dialogs
from core import FactsFileError, FactsFileReport, inspect_facts

FILTER = "Facts files (*.jsonl *.json *.csv *.tsv);;All files (*)"


class FactsFileField(QWidget):
    changed = Signal()

    def __init__(self, title: str, placeholder: str, demo: Path | None = None, demo_label: str = "Demo set",
                 optional: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title, self.optional = title, optional
        self.report: FactsFileReport | None = None
        self.path = QLineEdit()
        self.path.setPlaceholderText(placeholder)
        self.path.editingFinished.connect(self.inspect)
        self.path.textEdited.connect(self._path_edited)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        self.browse_button.setAutoDefault(False)  # Enter in the path reads it (trial 37: it opened Browse…)
        self.demo_button = QPushButton(demo_label)
        self.demo_button.setAutoDefault(False)
        self.demo_button.setToolTip(str(demo or ""))
        self.demo_button.setVisible(demo is not None and demo.is_file())
        self.demo_button.clicked.connect(lambda: self.choose(demo))
        self.info = QLabel()
        self.info.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.browse_button)
        row.addWidget(self.demo_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.info)
        self.inspect()

    def browse(self) -> None:
        chosen = file_dialogs.open_file_name(self, self.title, self.path.text(), FILTER)
        if chosen:
            self.choose(chosen)

    def choose(self, path: Path | str) -> None:
        self.path.setText(str(path))
        self.inspect()

    def chosen(self) -> Path | None:
        text = self.path.text().strip()
        return Path(text).expanduser() if text else None

    def inspect(self) -> None:
        """Read the chosen file and say what it holds (or why it cannot be used)."""
        self.report, path = None, self.chosen()
        if path is None:
            self._say("None (optional)" if self.optional else "Choose a file")
        else:
            try:
                self.report = inspect_facts(path)
            except (FactsFileError, OSError, ValueError) as exc:
                self._say(str(exc), error=True)
            else:
                self._describe(self.report)
        self.changed.emit()

    def _path_edited(self, _text: str) -> None:
        """A path being typed: what was read of the last one no longer applies."""
        self.report = None
        self._say("Press Enter (or leave the field) to read this file")
        self.changed.emit()

    def _describe(self, report: FactsFileReport) -> None:
        if not report.ok:
            self._say(f"{report.error_count} bad rows (fix them first): {report.errors[0]}", error=True)
        elif not report.facts:
            self._say("no requests in this file", error=True)
        else:
            count = len(report.facts)
            self._say(f"{count:,} request{'s' if count != 1 else ''} ({report.format}, {report.container})")

    def _say(self, text: str, error: bool = False) -> None:
        self.info.setText(text)
        self.info.setStyleSheet("color: #a33" if error else "")

    def ready(self) -> bool:
        """A file that reads without bad rows was chosen (or none, when optional)."""
        if self.chosen() is None:
            return self.optional
        return self.report is not None and self.report.ok and bool(self.report.facts)

    def facts(self) -> tuple:
        return self.report.facts if self.ready() and self.report is not None else ()
