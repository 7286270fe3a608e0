"""Import facts: pick a file, see its detected format, map CSV columns, preview rows, see bad rows.

Nothing is imported until every row reads, unless the reviewer ticks "skip invalid rows": then
the valid rows are imported and the bad ones, listed here, are recorded with the import. The
import itself runs on the job lane.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import file_dialogs
from app.widgets.facts_file_field import FILTER as FACTS_FILTER
from core import CSV_FIELDS, FORMAT_NAMES, FactsFileError, FactsFileReport, inspect_facts, load_rows

IGNORE = "(ignore)"
BLOCKING = "Problems (nothing is imported while there are any):"
SKIPPING = "Invalid rows (skipped: the others are imported, these are recorded with the import):"
PREVIEW_COLUMNS = ("subject", "prompt", "target_true", "target_new", "paraphrases", "locality")


def csv_columns(path: Path) -> tuple[str, ...]:
    return load_rows(path, "csv").columns


MANY_PROMPTS = 100  # paraphrases or locality prompts of one fact beyond which previews slow down


CONTEXT_CHECKED = 300  # facts checked against the model's context as the file is read (~0.2 s)


def _too_long(report: FactsFileReport, context_check) -> str:
    """A note on facts too long for the loaded model: they import, but no preview can score them
    (trial 40: a 2,863-token prompt imported without a word, refused only at preview)."""
    if context_check is None:
        return ""
    checked = list(zip(report.fact_lines, report.facts, strict=True))[:CONTEXT_CHECKED]  # the GUI thread waits
    found = [(line, problem) for line, fact in checked if (problem := context_check(fact)) is not None]
    if not found:
        return ""
    named = "; ".join(f"{report.unit} {line}: {problem}" for line, problem in found[:3])
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    rest = (f"; only the first {CONTEXT_CHECKED} facts were checked, a preview checks the others"
            if len(report.facts) > CONTEXT_CHECKED else "")
    return f"Too long for the loaded model, so no preview can score them until shortened: {named}{more}{rest}"


def _heavy_facts(report: FactsFileReport) -> str:
    """A note on facts with so many paraphrases or locality prompts that each preview, which
    scores every one of them, takes long (trial 32: 3,000 paraphrases, a preview of minutes)."""
    heavy = [(report.fact_lines[i], max(len(f.paraphrases), len(f.locality))) for i, f in enumerate(report.facts)
             if max(len(f.paraphrases), len(f.locality)) > MANY_PROMPTS]
    if not heavy:
        return ""
    more = "…" if len(heavy) > 5 else ""
    where = ", ".join(f"{report.unit} {line} ({count:,})" for line, count in heavy[:5]) + more
    return (f"Slow to preview: {len(heavy)} fact(s) with more than {MANY_PROMPTS} paraphrases or locality prompts "
            f"({where}); every preview scores each of them")


def _count(n: int, noun: str) -> str:
    """'1 row', '2 rows'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _nothing_new(report: FactsFileReport) -> str:
    """Why Import is off for a file whose facts are all known: its bad rows, if any, are the
    only thing left in it, and they need fixing first (an import would add nothing)."""
    if not report.error_count:
        return "Every fact in this file is already in the workspace"
    return (f"Every good row's fact is already in the workspace; fix the file's "
            f"{_count(report.error_count, 'bad row')} to import them")


def imported_text(report) -> str:
    """The status line after an import (a core ``ImportReport``), the counts first and only those
    that are not zero, so an elided line keeps them (trial 41: "… skipped (rec…"). Facts already in
    the workspace and facts repeated in the file are told apart."""
    there = sum(1 for d in report.duplicates if d.already)
    counts = [(there, "already there"), (len(report.duplicates) - there, "repeated in the file"),
              (len(report.conflicts), "in conflict")]
    said = "; ".join([f"{n} {what}" for n, what in counts if n]  # "1 facts (5 invalid skipped (recorded))": trial 47
                     + ([f"{_count(len(report.skipped), 'bad row')} left out, kept with the import's record"]
                        if report.skipped else []))
    return (f"Imported {_count(len(report.added), 'fact')}{f' ({said})' if said else ''} from "
            f"{Path(report.source).name} ({report.format})")


class ImportDialog(QDialog):
    def __init__(self, start: Path | None = None, parent: QWidget | None = None, example: Path | None = None,
                 context_check=None, known_ids: frozenset[str] = frozenset()) -> None:
        """``example``: a file offered by the "Demo set" button (the placeholder only hints);
        ``context_check``: core's ``context_checker`` of the loaded model, to name facts too long for it;
        ``known_ids``: the workspace's facts, which an import does not add again."""
        super().__init__(parent)
        self.context_check, self.known_ids = context_check, frozenset(known_ids)
        self.setWindowTitle("Import facts")
        # as tall as the screen allows, up to 700: at 560 a CSV's mapping and first rows were slivers (trial 41)
        screen = QGuiApplication.primaryScreen()
        self.resize(860, min(700, screen.availableGeometry().height() - 60) if screen else 560)
        self.report: FactsFileReport | None = None
        self._file_widgets(start, example)
        self._report_widgets()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._layout()
        self._show_mapping(False)
        if start:
            self.inspect()
        self._update_button()  # Import waits for a file that reads

    def _file_widgets(self, start: Path | None, example: Path | None) -> None:
        """Where the file is and how to read it."""
        self.path = QLineEdit(str(start or ""))
        self.path.setPlaceholderText("Choose a file: Browse…, Dataset folder… or Demo set")
        self.path.editingFinished.connect(self.inspect)
        self.path.textEdited.connect(self._path_edited)
        self.path.installEventFilter(self)  # Enter in File shows the file, never imports (eventFilter)
        self.example_button = self._example_button(example)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        self.folder_button = QPushButton("Dataset folder…")
        self.folder_button.setToolTip("A Hugging Face `datasets` folder saved with save_to_disk")
        self.folder_button.clicked.connect(self.browse_folder)
        self.format = QComboBox()
        self.format.addItem("Detect automatically", None)
        for name in FORMAT_NAMES:
            self.format.addItem(name, name)
        self.format.currentIndexChanged.connect(lambda _: self.inspect(keep_mapping=False))

    def _report_widgets(self) -> None:
        """What was read: the format, the CSV mapping, the first facts, the bad rows."""
        self.detected = QLabel("Choose a file")
        self.detected.setObjectName("detected-format")
        self.detected.setWordWrap(True)
        self.mapping = QTableWidget(0, 2)
        self.mapping.setHorizontalHeaderLabels(["CSV column", "Fact field"])
        self.mapping.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.mapping_label = QLabel("Column mapping (CSV):")
        self.preview = QTableWidget(0, len(PREVIEW_COLUMNS))
        self.preview.setHorizontalHeaderLabels(PREVIEW_COLUMNS)
        self.errors = QListWidget()
        self.errors.setObjectName("import-errors")
        self.errors_label = QLabel(BLOCKING)
        self.skip_invalid = QCheckBox("Skip invalid rows: import the valid ones and record the bad ones listed below")
        self.skip_invalid.setObjectName("skip-invalid")
        self.skip_invalid.toggled.connect(lambda _: self._update_button())
        self.ignored = QLabel("")
        self.ignored.setObjectName("ignored-fields")
        self.ignored.setWordWrap(True)

    def _example_button(self, example: Path | None) -> QPushButton:
        button = QPushButton("Demo set")
        button.setToolTip(f"Import the demo edit set: {example}" if example else "")
        button.setVisible(example is not None)
        button.clicked.connect(lambda: self.choose(example))
        return button

    def choose(self, path: Path | str) -> None:
        """Take this file (as Browse… does) and show what it holds."""
        self.path.setText(str(path))
        self.inspect(keep_mapping=False)

    def eventFilter(self, watched, event) -> bool:
        """Enter in File inspects the file and stops there: passed on, the same key press would
        reach the dialog's default button and import before the reviewer saw the rows."""
        if (watched is self.path and event.type() == QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self.inspect()
            return True
        return super().eventFilter(watched, event)

    def accept(self) -> None:
        if self.import_button.isEnabled():  # Enter with no file chosen imports nothing
            super().accept()

    def _layout(self) -> None:
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.browse_button)
        row.addWidget(self.folder_button)
        row.addWidget(self.example_button)
        form = QFormLayout()
        form.addRow("File:", row)
        form.addRow("Format:", self.format)
        form.addRow("Detected:", self.detected)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.mapping_label)
        layout.addWidget(self.mapping)
        layout.addWidget(QLabel("First rows:"))
        layout.addWidget(self.preview, 2)
        layout.addWidget(self.ignored)
        layout.addWidget(self.errors_label)
        layout.addWidget(self.errors, 1)
        layout.addWidget(self.skip_invalid)
        layout.addWidget(self.buttons)

    def browse(self) -> None:
        chosen = file_dialogs.open_file_name(self, "Import facts", self.path.text(), FACTS_FILTER)
        if chosen:
            self.choose(chosen)

    def browse_folder(self) -> None:
        chosen = file_dialogs.existing_directory(self, "Import a datasets folder", self.path.text())
        if chosen:
            self.choose(chosen)

    def chosen_format(self) -> str | None:
        return self.format.currentData()

    def column_mapping(self) -> dict[str, str] | None:
        if self.mapping.isHidden() or self.mapping.rowCount() == 0:
            return None
        pairs = ((self.mapping.item(r, 0).text(), self.mapping.cellWidget(r, 1).currentText())
                 for r in range(self.mapping.rowCount()))
        return {column: field for column, field in pairs if field != IGNORE}

    def set_field(self, column: str, field: str) -> None:
        """Map a CSV column to a fact field (as picking it in the table does)."""
        for r in range(self.mapping.rowCount()):
            if self.mapping.item(r, 0).text() == column:
                self.mapping.cellWidget(r, 1).setCurrentText(field)
                return
        raise KeyError(column)

    def inspect(self, keep_mapping: bool = True) -> None:
        """Read the file as the import would and show what it holds, or what is wrong."""
        self.report = None
        self.errors.clear()
        self.ignored.setText("")
        self.preview.setRowCount(0)
        if not self.path.text().strip():
            self.detected.setText("Choose a file")
            self._update_button()
            return
        path = Path(self.path.text().strip()).expanduser()
        try:
            is_csv = self._prepare_mapping(path, keep_mapping)
            self.report = inspect_facts(path, self.chosen_format(), self.column_mapping() if is_csv else None)
        except (FactsFileError, OSError, ValueError) as exc:
            self.detected.setText("—")
            self.errors.addItem(str(exc))
        else:
            self._show_report(self.report)
        self._update_button()

    def _path_edited(self, _text: str) -> None:
        """A path being typed: what was read of the last one no longer applies (trial 37: its
        problems stayed listed under the new path)."""
        self.report = None
        self.errors.clear()
        self.ignored.setText("")
        self.preview.setRowCount(0)
        self.detected.setText("Press Enter (or leave the field) to read this file")
        self._update_button()

    def _update_button(self) -> None:
        """Import only a file without bad rows, or, when skipping them is chosen, one with good rows;
        and one with a fact the workspace does not hold yet."""
        report = self.report
        skipping = self.skip_invalid.isChecked()
        self.errors_label.setText(SKIPPING if skipping else BLOCKING)
        new = report is not None and any(f.id not in self.known_ids for f in report.facts)
        self.import_button.setEnabled(new and (report.ok or skipping))
        self.import_button.setToolTip("" if new or report is None or not report.facts else _nothing_new(report))

    def _known_text(self, report: FactsFileReport) -> str:
        """", 3 already in the workspace (not added again)" (trial 45: the preview said nothing, the
        import then added none)."""
        known = sum(f.id in self.known_ids for f in report.facts)
        if not known:
            return ""
        every = "all " if known == len(report.facts) and known > 1 else ""
        return f", {every}{known} already in the workspace (not added again)"

    def skips_invalid(self) -> bool:
        """Whether the reviewer chose to import the valid rows and record the bad ones."""
        return self.skip_invalid.isChecked()

    def _prepare_mapping(self, path: Path, keep: bool) -> bool:
        if path.is_dir():  # a `datasets` folder saved with save_to_disk
            self._show_mapping(False)
            return False
        if not path.exists():
            raise FactsFileError(path, "no such file")
        text = path.read_text(encoding="utf-8-sig", errors="replace").lstrip()
        is_csv = self.chosen_format() == "csv" or (self.chosen_format() is None and text[:1] not in "[{")
        self._show_mapping(is_csv)
        if is_csv and not (keep and self.mapping.rowCount()):
            self._fill_mapping(csv_columns(path))
        return is_csv

    def _show_mapping(self, visible: bool) -> None:
        self.mapping.setVisible(visible)
        self.mapping_label.setVisible(visible)

    def _fill_mapping(self, columns: tuple[str, ...]) -> None:
        self.mapping.setRowCount(len(columns))
        for r, column in enumerate(columns):
            self.mapping.setItem(r, 0, QTableWidgetItem(column))
            box = QComboBox()
            box.addItems([IGNORE, *CSV_FIELDS])
            guess = column.strip().lower()
            box.setCurrentText(guess if guess in CSV_FIELDS else IGNORE)
            box.currentTextChanged.connect(lambda _: self.inspect())
            self.mapping.setCellWidget(r, 1, box)
        self._fit_mapping(len(columns))

    def _fit_mapping(self, rows: int) -> None:
        """As tall as its rows (six at most, then it scrolls), so the first rows of the file keep
        the height (trial 40: an empty band under four columns, one and a half rows of preview)."""
        self.mapping.resizeRowsToContents()
        shown = min(rows, 6)
        header = self.mapping.horizontalHeader().sizeHint().height()
        height = sum(self.mapping.rowHeight(r) for r in range(shown)) + header
        self.mapping.setFixedHeight(height + 2 * self.mapping.frameWidth() + (8 if rows > shown else 2))

    def _show_report(self, report: FactsFileReport) -> None:
        self.detected.setText(f"{report.format} ({report.container}), {_count(report.rows, 'row')}, "
                              f"{_count(len(report.facts), 'fact')} read, {_count(report.error_count, 'bad row')}, "
                              f"{_count(len(report.duplicates), 'duplicated fact')}{self._known_text(report)}")
        for error in report.errors:
            self.errors.addItem(str(error))
        if report.error_count > len(report.errors):
            self.errors.addItem(f"… and {report.error_count - len(report.errors)} more bad rows")
        notes = []
        if report.duplicates:  # where, not only how many (trial 40); the import adds each once
            units = {"line": "lines", "row": "rows", "index": "indexes"}.get(report.unit, report.unit)
            groups = "; ".join(f"{units} {', '.join(map(str, d.lines))}" for d in report.duplicates[:5])
            more = f" and {len(report.duplicates) - 5} more" if len(report.duplicates) > 5 else ""
            notes.append(f"The same fact more than once (imported once): {groups}{more}")
        if report.ignored:
            fields = ", ".join(f"{name} ({rows} rows)" for name, rows in report.ignored)
            notes.append(f"Ignored (no place for them in a fact): {fields}")
        if heavy := _heavy_facts(report):
            notes.append(heavy)
        if long := _too_long(report, self.context_check):
            notes.append(long)
        self.ignored.setText("\n".join(notes))
        shown = report.facts[:5]
        self.preview.setRowCount(len(shown))
        # each row headed by where the file holds it ("line 3"), not by its place among the good rows
        self.preview.setVerticalHeaderLabels([f"{report.unit} {n}" for n in report.fact_lines[:5]])
        for r, fact in enumerate(shown):
            data = fact.to_dict()
            for c, name in enumerate(PREVIEW_COLUMNS):
                value = data[name]
                if isinstance(value, list):
                    value = "; ".join(v["prompt"] if isinstance(v, dict) else v for v in value)
                self.preview.setItem(r, c, QTableWidgetItem(str(value)))

    def choice(self) -> tuple[Path, str | None, dict[str, str] | None]:
        """What to import: (path, format or None to detect, CSV column mapping or None)."""
        return Path(self.path.text().strip()).expanduser(), self.chosen_format(), self.column_mapping()
