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

from app.widgets.checkpoint_choice import CheckpointChoice
from core import (
    LoadedModel,
    StatsNeed,
    TunedPresetError,
    get_method,
    is_trainable,
    load_tuned_preset,
    method_names,
    needed_statistics,
    preset_variant,
    preset_variants,
    resolve_hparams,
    strip_auto,
    tuned_preset,
)

MISSING_EDITOR = "No trained"  # how the preview pane begins to say a trained method has no editor yet

TUNE_TIP = ("Search this method's key hyperparameters on the queue's facts (a third held out to check) and save "
            "the best as this model's tuned preset")
TUNE_TRAINED_TIP = ("Not for a trained editor: its edits come from its training, not from a preset to search. "
                    "Train… (or Tools → Train editor…) makes a better editor")
# Shown without "Advanced": the knobs a reviewer most often turns, and every one a verdict's
# advice names (core.workflows.verdict; tests/app/test_method_panel_advice.py keeps the two in step).
BASIC_HPARAMS = ("layer", "layers", "v_lr", "v_steps", "lr", "steps", "norm_constraint", "edit_lr",
                 "n_iter", "use_covariance", "mom2_weight", "threshold_init", "stats_tokens", "seed", "eps_init",
                 "loss_threshold", "retain_samples", "retain_factor", "nullspace_threshold", "l2", "refine_steps",
                 "refine_lr")


def text_of(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return "none" if value is None else str(value)


class MethodPanel(QGroupBox):
    compute_stats_requested = Signal(list)  # [StatsSpec]
    tune_requested = Signal(str)  # the method whose preset to tune on the queue's facts
    train_requested = Signal(str)  # the trained method whose editor to train (Train editor…)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Method", parent)
        self.lm: LoadedModel | None = None
        self.preset: Any = None  # the base the table starts from: the default or the tuned preset
        self.default_preset: Any = None
        self.tuned = None  # TunedPreset of this model and method, if one is stored
        self.tune_job = None
        self.method = QComboBox()
        self.method.addItems(method_names())
        self.method.currentTextChanged.connect(lambda _: self.refresh())
        self.preset_label = QLabel("Load a model to see the preset")
        self.preset_label.setWordWrap(True)
        self.preset_choice = QComboBox()
        self.preset_choice.setToolTip("The default preset, or one `Tune preset…` found for this model")
        self.preset_choice.currentIndexChanged.connect(lambda _: self._load_table())
        self.tune_button = QPushButton("Tune preset…")
        self.tune_button.setToolTip(TUNE_TIP)
        self.tune_button.clicked.connect(lambda: self.tune_requested.emit(self.method_name()))
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
        self._build_checkpoint_row()
        self.stats_label = QLabel()
        self.stats_label.setObjectName("covariance-status")
        self.stats_label.setWordWrap(True)
        self.stats_button = QPushButton("Compute statistics")
        self.stats_button.clicked.connect(self._request_stats)
        self._needs: list[StatsNeed] = []
        self._layout()

    def _build_checkpoint_row(self) -> None:
        """The trained editor's checkpoint choice and Train…, shown for trained methods only."""
        self.checkpoint = CheckpointChoice()
        self.checkpoint.setToolTip("The trained editor this method edits with (its checkpoint's hyperparameter)")
        self.checkpoint.chosen.connect(lambda value: self.set_override("checkpoint", value))
        self.train_button = QPushButton("Train…")
        self.train_button.setToolTip("Train this method's editor for the loaded model (Tools → Train editor…)")
        self.train_button.clicked.connect(lambda: self.train_requested.emit(self.method_name()))
        self.checkpoint_row = QWidget()
        # the choice gets the whole width (beside Train… it was cut at 1366×768), Train… under it
        editor_row = QVBoxLayout(self.checkpoint_row)
        editor_row.setContentsMargins(0, 0, 0, 0)
        editor_row.setSpacing(2)
        editor_row.addWidget(self.checkpoint)
        train_row = QHBoxLayout()
        train_row.addStretch(1)
        train_row.addWidget(self.train_button)
        editor_row.addLayout(train_row)
        self.checkpoint_paths: list[str] = []  # checkpoints outside the editors folder (trained here)
        self.trained = False  # the method is a trained editor: the checkpoint row shows

    def _layout(self) -> None:
        form = self._form = QFormLayout()
        # Tune preset… on a row of its own under the preset's description: beside the preset's
        # choice it left it 79 px at 1366×768 ("Tuned fo", trial 43), beside the method's it widened
        # the panel at 1024×640 and squeezed the model's rows, beside the description it wrapped
        # that to five lines
        form.addRow("Method:", self.method)
        # the room the choice and the button had on one row: the panel keeps its width, the name fits
        self.preset_choice.setMinimumWidth(self.preset_choice.minimumSizeHint().width()
                                           + self.tune_button.sizeHint().width())
        form.addRow("Preset:", self.preset_choice)
        form.addRow("", self.preset_label)
        tune = QHBoxLayout()
        tune.addStretch(1)
        tune.addWidget(self.tune_button)
        form.addRow("", tune)
        form.addRow("Editor:", self.checkpoint_row)
        row = QHBoxLayout()
        row.addWidget(self.advanced)
        row.addStretch(1)
        row.addWidget(self.reset_button)
        stats = QHBoxLayout()  # the button under the text: beside it, the text took six lines of a narrow panel
        stats.addStretch(1)
        stats.addWidget(self.stats_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.stats_label)
        layout.addLayout(stats)

    def set_model(self, lm: LoadedModel | None) -> None:
        self.lm = lm
        self.refresh()

    def method_name(self) -> str:
        return self.method.currentText()

    def refresh(self) -> None:
        """Reload the presets of the chosen method for the loaded model (default and tuned)."""
        self._fill_presets()
        self._load_table()

    def recheck_presets(self) -> None:
        """Offer a tuned preset stored since the list was filled (or drop one removed): the table
        is reloaded only when the chosen preset itself went."""
        if self.lm is None:
            return
        chosen, before = self.preset_choice.currentData(), self.tuned
        self._fill_presets()
        replaced = chosen == "tuned" and self.tuned is not None and (before is None or
                                                                     self.tuned.summary() != before.summary())
        if self.preset_choice.currentData() != chosen or replaced:  # the table shows what is chosen now
            self._load_table()

    def _fill_presets(self) -> None:
        """The preset choice: "Default", and "Tuned for this model" when one is stored."""
        self.tuned, self._tuned_problem = None, ""
        if self.lm is not None:
            try:
                self.tuned = load_tuned_preset(self.lm, self.method_name())
            except TunedPresetError as exc:
                self._tuned_problem = str(exc)
        keep = self.preset_choice.currentData()
        self.preset_choice.blockSignals(True)
        self.preset_choice.clear()
        self.preset_choice.addItem("Default", "default")
        for variant in preset_variants(self.method_name(), self.lm) if self.lm is not None else ():
            self.preset_choice.addItem(f"Variant: {variant}", f"variant:{variant}")
        if self.tuned is not None:
            self.preset_choice.addItem("Tuned for this model", "tuned")  # when and how well: the label and tip
            self.preset_choice.setItemData(self.preset_choice.count() - 1, self.tuned.summary(),
                                           Qt.ItemDataRole.ToolTipRole)
        self.preset_choice.setCurrentIndex(max(0, self.preset_choice.findData(keep)))
        self.preset_choice.blockSignals(False)
        self._update_tune_button()

    def _update_tune_button(self) -> None:
        """Tuning searches an edit's hyperparameters; a trained editor's edit comes from its
        training (Train…), so the button is off for those methods, and says why."""
        trained = is_trainable(self.method_name())
        idle = self.tune_job is None or not self.tune_job.active
        self.tune_button.setEnabled(self.lm is not None and idle and not trained)
        self.tune_button.setToolTip(TUNE_TRAINED_TIP if trained else TUNE_TIP)

    def preset_kind(self) -> str:
        return self.preset_choice.currentData() or "default"

    def choose_preset(self, kind: str) -> None:
        index = self.preset_choice.findData(kind)
        if index < 0:
            raise KeyError(f"no {kind} preset for {self.method_name()}")
        self.preset_choice.setCurrentIndex(index)

    def track_tune(self, job) -> None:
        """A running tune job: the button waits for it; afterwards the presets are reloaded."""
        self.tune_job = job
        self.tune_button.setEnabled(False)
        job.finished.connect(self._after_tune)

    def _after_tune(self) -> None:
        """Offer the new preset; the table keeps the reviewer's values unless it shows the old tuned one."""
        reload = self.preset_kind() == "tuned"
        self._fill_presets()
        if reload:
            self._load_table()
        elif self.preset is not None:
            self.preset_label.setText(self._label())

    def _label(self) -> str:
        info = self.lm.info
        kind = self.preset_kind()
        variant = f", variant {kind.partition(':')[2]}," if kind.startswith("variant:") else ""  # trial 44
        text = (f"{self.method_name()} preset{variant} for {info.model_type}, {info.layers} layers, "
                f"{info.parameters / 1e6:.0f}M parameters")
        if self.preset_kind() == "tuned" and self.tuned is not None:
            text = f"{self.method_name()} preset tuned for this model on {self.tuned.summary()}"
        if self._tuned_problem:
            text += f"<br><span style='color:#a33'>{self._tuned_problem}</span>"
        return text

    def _load_table(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.default_preset = get_method(self.method_name()).preset(self.lm) if self.lm is not None else None
        self.preset = self.default_preset
        if self.preset is not None and self.preset_kind().startswith("variant:"):
            self.preset = preset_variant(self.lm, self.method_name(), self.preset_kind().partition(":")[2])
        if self.preset is not None and self.preset_kind() == "tuned":
            try:
                self.preset = tuned_preset(self.lm, self.method_name()) or self.default_preset
            except TunedPresetError as exc:
                self._tuned_problem = str(exc)
        if self.preset is not None:
            self.preset_label.setText(self._label())
            for field in dataclasses.fields(self.preset):
                self._add_row(field.name, text_of(getattr(self.preset, field.name)))
        self.table.blockSignals(False)
        self._show_rows()
        self.refresh_checkpoints()
        self._on_edited()

    def refresh_checkpoints(self, extra: list[str] | None = None) -> None:
        """List the trained method's checkpoints for the loaded model (the row hides for others)."""
        if extra is not None:
            self.checkpoint_paths = list(extra)
        trained = self.trained = self.lm is not None and self.preset is not None and is_trainable(self.method_name())
        self._form.setRowVisible(self.checkpoint_row, trained)
        if trained:
            self.checkpoint.fill(self.method_name(), self.lm, self.value("checkpoint"), self.checkpoint_paths)

    def missing_editor(self) -> str:
        """Why a preview cannot run yet: a trained method with no usable editor chosen ("" if it can)."""
        if not self.trained or self.checkpoint.currentData() is not None:
            return ""
        return (f"{MISSING_EDITOR} {self.method_name().upper()} editor for this model yet: train one with Train… "
                "beside Editor (or Tools → Train editor…), or choose another method")

    def _sync_checkpoint(self) -> None:
        """The choice follows the table's ``checkpoint`` (typed there, or reset to the preset)."""
        if self.trained:
            value = self.value("checkpoint")
            if self.checkpoint.lists(value):
                self.checkpoint.show_value(value)
            else:
                self.refresh_checkpoints()

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
        """The values that differ from the method's default preset, as text (``--set`` style):
        the reviewer's changes, and a tuned preset's values when that is the chosen base."""
        if self.default_preset is None:
            return {}
        changed = {}
        for row in range(self.table.rowCount()):
            name, value = self.table.item(row, 0).text(), self.table.item(row, 1).text().strip()
            if value != text_of(getattr(self.default_preset, name)):
                changed[name] = value
        return changed

    def value(self, name: str) -> str:
        """The table's text for a hyperparameter ("" when the method has none by that name)."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                return self.table.item(row, 1).text().strip()
        return ""

    def set_override(self, name: str, value: str) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                self.table.item(row, 1).setText(value)
                return
        raise KeyError(name)

    def hparams(self) -> Any:
        """Preset with the overrides applied (raises HParamError for a bad value)."""
        return resolve_hparams(self.lm, self.method_name(), strip_auto(self.overrides()), base=self.default_preset)

    def _on_edited(self) -> None:
        self._sync_checkpoint()
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
