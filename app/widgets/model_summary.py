"""What model is loaded: name, architecture, size, device and fingerprint."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from core import ModelInfo


def human_count(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


class ModelSummary(QGroupBox):
    FIELDS = ("Model", "Architecture", "Parameters", "Device", "Fingerprint")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        layout = QFormLayout(self)
        self.values: dict[str, QLabel] = {}
        for name in self.FIELDS:
            label = QLabel("—")
            label.setObjectName(f"model-{name.lower()}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[name] = label
            layout.addRow(f"{name}:", label)

    def show_info(self, info: ModelInfo | None) -> None:
        if info is None:
            for label in self.values.values():
                label.setText("—")
            return
        self.values["Model"].setText(info.name)
        self.values["Model"].setToolTip(info.path)
        self.values["Architecture"].setText(f"{info.model_type} ({info.layers} layers, width {info.hidden_size})")
        self.values["Parameters"].setText(f"{human_count(info.parameters)} ({info.parameters:,})")
        self.values["Device"].setText(f"{info.device} · {info.dtype}")
        self.values["Fingerprint"].setText(info.fingerprint[:16])
        self.values["Fingerprint"].setToolTip(info.fingerprint)
