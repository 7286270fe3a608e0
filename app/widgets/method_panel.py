"""The method panel: method, its preset for the loaded architecture, hyperparameters and statistics."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import LoadedModel, StatsNeed, get_method, method_names, needed_statistics, resolve_hparams

# Shown without "Advanced": the knobs a reviewer most often turns.
BASIC_HPARAMS = ("layer", "layers", "v_lr", "v_steps", "lr", "steps", "norm_constraint", "edit_lr",
                 "n_iter", "use_covariance", "mom2_weight", "stats_tokens", "seed")


def text_of(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return "none" if value is None else str(value)


class MethodPanel(QGroupBox):
    compute_stats_requested = Signal(list)  # [StatsSpec]
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Method", parent)
        self.lm: LoadedModel | None = None
        self.preset: Any = None
        self.method = QComboBox()
        self.method.addItems(method_names())
        self.method.currentTextChanged.connect(lambda _: self.refresh())
        self.preset_label = QLabel("Load a model to see the preset")
        self.preset_label.setWordWrap(True)
        self.advanced = QCheckBox("Advanced")
        self.advanced.setToolTip("Show every hyperparameter, not only the usual ones")
        self.advanced.toggled.connect(lambda _: self._show_rows())
        self.reset_button = QPushButton("Reset to preset")
        self.reset_button.clicked.connect(self.refresh)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Hyperparameter", "Value"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemChanged.connect(lambda _: self._on_edited())
        self.stats_label = QLabel()
        self.stats_label.setObjectName("covariance-status")
        self.stats_label.setWordWrap(True)
        self.stats_button = QPushButton("Compute statistics")
        self.stats_button.clicked.connect(self._request_stats)
        self._needs: list[StatsNeed] = []
        self._layout()

    def _layout(self) -> None:
        form = QFormLayout()
        form.addRow("Method:", self.method)
        form.addRow("Preset:", self.preset_label)
        row = QHBoxLayout()
        row.addWidget(self.advanced)
        row.addStretch(1)
        row.addWidget(self.reset_button)
        stats = QHBoxLayout()
        stats.addWidget(self.stats_label, 1)
        stats.addWidget(self.stats_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addLayout(stats)

    def set_model(self, lm: LoadedModel | None) -> None:
        self.lm = lm
        self.refresh()

    def method_name(self) -> str:
        return self.method.currentText()

    def refresh(self) -> None:
        """Reload the preset of the chosen method for the loaded model."""
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.preset = get_method(self.method_name()).preset(self.lm) if self.lm is not None else None
        if self.preset is not None:
            info = self.lm.info
            self.preset_label.setText(f"{self.method_name()} preset for {info.model_type}, "
                                      f"{info.layers} layers, {info.parameters / 1e6:.0f}M parameters")
            for field in dataclasses.fields(self.preset):
                self._add_row(field.name, text_of(getattr(self.preset, field.name)))
        self.table.blockSignals(False)
        self._show_rows()
        self._on_edited()

    def _add_row(self, name: str, value: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        key = QTableWidgetItem(name)
        key.setFlags(key.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.table.setItem(row, 0, key)
        self.table.setItem(row, 1, QTableWidgetItem(value))

    def _show_rows(self) -> None:
        names = [self.table.item(r, 0).text() for r in range(self.table.rowCount())]
        basic = [n for n in names if n in BASIC_HPARAMS] or names[:4]
        for row, name in enumerate(names):
            self.table.setRowHidden(row, not self.advanced.isChecked() and name not in basic)

    def overrides(self) -> dict[str, str]:
        """The values the reviewer changed from the preset, as text (``--set`` style)."""
        if self.preset is None:
            return {}
        changed = {}
        for row in range(self.table.rowCount()):
            name, value = self.table.item(row, 0).text(), self.table.item(row, 1).text().strip()
            if value != text_of(getattr(self.preset, name)):
                changed[name] = value
        return changed

    def set_override(self, name: str, value: str) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                self.table.item(row, 1).setText(value)
                return
        raise KeyError(name)

    def hparams(self) -> Any:
        """Preset with the overrides applied (raises HParamError for a bad value)."""
        return resolve_hparams(self.lm, self.method_name(), self.overrides(), base=self.preset)

    def _on_edited(self) -> None:
        self.update_stats_status()
        self.changed.emit()

    def update_stats_status(self) -> None:
        self._needs = []
        if self.lm is not None and self.preset is not None:
            try:
                self._needs = needed_statistics(self.lm, self.method_name(), self.hparams())
            except (ValueError, RuntimeError) as exc:
                self.stats_label.setText(f"<span style='color:#a33'>{exc}</span>")
                self.stats_button.setEnabled(False)
                return
        missing = [n for n in self._needs if not n.status.cached]
        if not self._needs:
            self.stats_label.setText("Covariance statistics: not needed by this method")
        elif missing:
            layers = ", ".join(str(n.spec.layer) for n in missing)
            self.stats_label.setText(f"Covariance statistics: <b>missing</b> for layer {layers} "
                                     "(computed on the first preview, or now)")
        else:
            self.stats_label.setText(f"Covariance statistics: cached ({self._needs[0].status.tokens:,} tokens)")
        self.stats_button.setEnabled(bool(missing))

    def _request_stats(self) -> None:
        self.compute_stats_requested.emit([n.spec for n in self._needs if not n.status.cached])
