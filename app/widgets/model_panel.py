"""The model panel: which folder, on which device and dtype, its memory estimate, load and eject."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import file_dialogs
from app.slots import no_result
from app.widgets.model_summary import ModelSummary
from core import DTYPES, LoadOptions, check_memory
from core import LoadedModel as _LoadedModel

DEVICES = ("auto", "cpu", "cuda", "mps")


class ModelPanel(QGroupBox):
    load_requested = Signal(object, object)  # Path, LoadOptions
    eject_requested = Signal()

    def __init__(self, recent: list[str], parent: QWidget | None = None, estimate_now: bool = True) -> None:
        """``estimate_now`` False: no estimate until ``start_estimates`` (it needs torch, which
        the window imports on the job lane, not here)."""
        super().__init__("Model", parent)
        self._estimates = estimate_now
        self.folder = QComboBox()
        self.folder.setEditable(True)
        self.folder.setToolTip("A local Hugging Face model folder (recent ones in the list)")
        self.folder.addItems(recent)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.dtype = QComboBox()
        self.dtype.addItems(DTYPES)
        self.ignore_memory = QCheckBox("Ignore memory check")
        self.memory = QLabel()
        self.memory.setObjectName("memory-estimate")
        self.memory.setWordWrap(True)
        # room for two lines always: a long refusal wraps without squeezing the model's rows (trial 32)
        self.memory.setMinimumHeight(2 * self.memory.fontMetrics().lineSpacing() + 2)
        self.load_button = QPushButton("Load (Ctrl+L)")
        self.load_button.clicked.connect(self.request_load)
        self.eject_button = QPushButton("Eject")
        self.eject_button.setToolTip("Unload the model and free its memory")
        self.eject_button.clicked.connect(self.eject_requested)
        self.summary = ModelSummary()
        self.summary.setTitle("")
        self.summary.setFlat(True)
        self._layout()
        for signal in (self.folder.currentTextChanged, self.device.currentTextChanged, self.dtype.currentTextChanged):
            signal.connect(lambda _: no_result(self.update_estimate)())

    def _layout(self) -> None:
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("Folder:", folder_row)
        options = QHBoxLayout()
        for label, widget in (("Device", self.device), ("dtype", self.dtype)):
            options.addWidget(QLabel(label))
            options.addWidget(widget)
        options.addStretch(1)
        form.addRow(options)
        # a row of its own: beside Device and dtype it held the model column at 417 px, so at
        # 1024×640 dragging the splitter could only hide the column, never narrow it (trial 36)
        form.addRow(self.ignore_memory)
        form.addRow("Memory:", self.memory)
        buttons = QHBoxLayout()
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.eject_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)

    def set_folder(self, path: Path) -> None:
        self.folder.setCurrentText(str(path))
        self.update_estimate()  # also when the text was already there (no change signal)

    def options(self) -> LoadOptions:
        return LoadOptions(device=self.device.currentText(), dtype=self.dtype.currentText(),
                           ignore_memory_check=self.ignore_memory.isChecked())

    def browse(self) -> None:
        chosen = file_dialogs.existing_directory(self, "Choose a model folder", self.folder.currentText())
        if chosen:
            self.set_folder(Path(chosen))

    def update_estimate(self) -> bool:
        """Show the memory the chosen load needs; False (and a warning) when it will not fit
        (True until estimates start)."""
        if not self._estimates:
            self.memory.setText("Estimating…")
            return True
        folder = Path(self.folder.currentText()).expanduser()
        try:
            found = check_memory(folder, LoadOptions(self.device.currentText(), self.dtype.currentText(),
                                                     ignore_memory_check=True))
        except (OSError, ValueError) as exc:
            self.memory.setText(f"<span style='color:#a33'>{exc}</span>")
            return False
        if found.fits:
            self.memory.setText(found.describe())
        else:
            self.memory.setText(f"<span style='color:#a33'><b>Will not fit:</b> {found.describe()}. "
                                "Choose a smaller dtype or another device.</span>")
        return found.fits

    def start_estimates(self) -> None:
        self._estimates = True
        self.update_estimate()

    def request_load(self) -> None:
        self.update_estimate()
        self.load_requested.emit(Path(self.folder.currentText()).expanduser(), self.options())

    def show_model(self, lm: _LoadedModel | None, busy: bool = False) -> None:
        self.summary.show_info(lm.info if lm is not None else None)
        self.eject_button.setEnabled(lm is not None)
        self.load_button.setText("Reload (Ctrl+L)" if lm is not None else "Load (Ctrl+L)")
