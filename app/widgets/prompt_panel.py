"""A prompt box: type a prompt, get the model's greedy continuation."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)


class PromptPanel(QGroupBox):
    submitted = Signal(str, int)  # prompt, max new tokens

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Try a prompt", parent)
        self.input = QLineEdit()
        self.input.setPlaceholderText("e.g. The capital of France is")
        self.input.returnPressed.connect(self.submit)
        self.length = QSpinBox()
        self.length.setRange(1, 256)
        self.length.setValue(12)
        self.length.setSuffix(" tokens")
        self.button = QPushButton("Generate (Enter)")
        self.button.clicked.connect(self.submit)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("The model's greedy continuation appears here.")
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.length)
        row.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.output, 1)
        self.set_ready(False)

    def set_ready(self, ready: bool) -> None:
        self.input.setEnabled(ready)
        self.button.setEnabled(ready)

    def submit(self) -> None:
        prompt = self.input.text()
        if prompt.strip() and self.button.isEnabled():
            self.submitted.emit(prompt, self.length.value())

    def show_result(self, prompt: str, continuation: str, state: str = "") -> None:
        """``state``: which weights answered ("commit 292ae618ca34"): after a revert or checkout
        two answers to one prompt sat side by side with nothing to tell them apart (trial 36)."""
        said = f" <span style='color:#777'>({_escape(state)})</span>" if state else ""
        self.output.appendHtml(f"<b>{_escape(prompt)}</b>{_escape(continuation)}{said}")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
