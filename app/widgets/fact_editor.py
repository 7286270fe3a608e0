"""The fact editor: a form for one edit request, validated as it is typed and kept as a draft."""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.widgets.row_list import RowList
from core import Fact, FactError, Probe, fact_from_dict, fact_problems

TEXT_FIELDS = (("subject", "Subject"), ("prompt", "Prompt"), ("target_true", "Old answer"),
               ("target_new", "New answer"), ("relation", "Relation"))
LIST_FIELDS = {"paraphrases": "Paraphrase", "locality": "Locality prompt", "portability": "Portability prompt",
               "context": "ICE context sentence"}
LIST_ROWS = {"paraphrases": "Paraphrases", "locality": "Locality", "portability": "Portability",
             "context": "ICE context"}  # the form's row labels
DRAFT_DELAY_MS = 400
# as tall as the native frame (22 px here; the border alone made 20, and the rows shifted as
# problems came and went, trial 43); each field also keeps its native height as a minimum
_ERROR_STYLE = "border: 2px solid #c0392b; padding: 1px;"


EMPTY_HINT = "<span style='color:#666'>Fill in the subject, the prompt and the new answer</span>"


def field_label(field: str) -> str:
    """Core's field name as the form labels it: 'target_new' → 'New answer', 'locality[1].answer' →
    'Locality prompt 2, answer' (core's own messages keep its names)."""
    root, _, rest = field.partition("[")
    if not rest:
        return {**dict(TEXT_FIELDS), **LIST_ROWS}.get(field, field)
    index, _, part = rest.partition("]")
    label = LIST_FIELDS.get(root, root)
    label = f"{label} {int(index) + 1}" if index.isdigit() else label
    return f"{label}, {part.lstrip('.')}" if part.lstrip(".") else label


SUGGEST_TIP = ("Fill the old answer from the model's own prediction and propose locality prompts from other facts "
               "in the workspace")
SUGGEST_NEEDS_PROMPT = "Type the prompt first: the old answer is the model's continuation of it"


class FactEditor(QGroupBox):
    draft_changed = Signal(dict)  # the body typed so far (saved as a draft after a short pause)
    cleared = Signal()  # the reviewer cleared the form: its draft goes too
    add_requested = Signal(object)  # a valid Fact
    suggest_requested = Signal(dict)  # the body, to fill the old answer and locality prompts

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("New fact", parent)
        self.fields: dict[str, QLineEdit] = {name: QLineEdit() for name, _ in TEXT_FIELDS}
        self.paraphrases = RowList(["Paraphrase"], "paraphrase")
        self.locality = RowList(["Prompt", "Unchanged answer"], "locality prompt")
        self.portability = RowList(["Prompt", "Answer after the edit"], "portability prompt")
        self.context = RowList(["ICE context sentence"], "context")
        self.context_check = None  # core.context_checker of the loaded model: its context length, as you type
        self.validation = QLabel()
        self.validation.setObjectName("fact-validation")
        self.validation.setWordWrap(True)
        self.suggest_button = QPushButton("Suggest old answer && locality")
        self.suggest_button.setToolTip(SUGGEST_TIP)
        self.suggest_button.clicked.connect(lambda: self.suggest_requested.emit(self.body()))
        self._model_ready = False  # Suggest asks the loaded model: off until one is loaded
        self.suggest_button.setEnabled(False)
        self.add_button = QPushButton("Add to queue (Ctrl+Return)")
        self.add_button.clicked.connect(self.submit)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self._clear_by_reviewer)
        self._draft_timer = QTimer(self, singleShot=True, interval=DRAFT_DELAY_MS)
        self._draft_timer.timeout.connect(lambda: self.draft_changed.emit(self.body()))
        self._layout()
        for widget in self.fields.values():
            widget.setMinimumHeight(widget.sizeHint().height())
            widget.textChanged.connect(self._on_changed)
        for rows in (self.paraphrases, self.locality, self.portability, self.context):
            rows.changed.connect(self._on_changed)
        self.validate()

    def _layout(self) -> None:
        form = QFormLayout()
        for name, label in TEXT_FIELDS:
            form.addRow(f"{label}:", self.fields[name])
        form.addRow("Paraphrases:", self.paraphrases)
        form.addRow("Locality:", self.locality)
        form.addRow("Portability:", self.portability)
        form.addRow("ICE context:", self.context)
        buttons = QHBoxLayout()
        buttons.addWidget(self.suggest_button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.validation)
        layout.addLayout(buttons)
        layout.addStretch(1)  # spare height below: the form's rows stay put as problem lines come and go

    def body(self) -> dict[str, Any]:
        """What is typed, as a fact dict (valid or not)."""
        body: dict[str, Any] = {name: widget.text() for name, widget in self.fields.items()}
        body["paraphrases"] = [row[0] for row in self.paraphrases.rows()]
        body["locality"] = [{"prompt": p, "answer": a} for p, a in self.locality.rows()]
        body["portability"] = [{"prompt": p, "answer": a} for p, a in self.portability.rows()]
        body["context"] = [row[0] for row in self.context.rows()]
        return body

    def set_body(self, body: dict[str, Any]) -> None:
        for name, widget in self.fields.items():
            widget.setText(str(body.get(name, "") or ""))
        self.paraphrases.set_rows([[p] for p in body.get("paraphrases", [])])
        self.locality.set_rows([[p.get("prompt", ""), p.get("answer", "")] for p in body.get("locality", [])])
        self.portability.set_rows([[p.get("prompt", ""), p.get("answer", "")] for p in body.get("portability", [])])
        self.context.set_rows([[c] for c in body.get("context", [])])
        self.validate()

    def is_empty(self) -> bool:
        body = self.body()
        return not any(v for v in body.values())

    def _on_changed(self) -> None:
        self.validate()
        self._update_suggest()
        self._draft_timer.start()

    def set_model_ready(self, ready: bool) -> None:
        self._model_ready = ready
        self._update_suggest()

    def _update_suggest(self) -> None:
        """Suggest needs a model and a prompt to continue (trial 45: with no prompt it opened an
        error box; the form already says the prompt is required)."""
        prompt = bool(self.fields["prompt"].text().strip())
        self.suggest_button.setEnabled(self._model_ready and prompt)
        self.suggest_button.setToolTip(SUGGEST_TIP if prompt or not self._model_ready else SUGGEST_NEEDS_PROMPT)

    def validate(self) -> Fact | None:
        """The fact, or None with the problem shown next to the form and its field outlined."""
        for widget in self.fields.values():
            widget.setStyleSheet("")
        if self.is_empty():  # untouched (or just added and cleared): nothing wrong yet
            self.validation.setText(EMPTY_HINT)
            self.add_button.setEnabled(False)
            return None
        try:
            fact = self._checked_fact()
        except FactError as exc:
            problems = self._all_problems(exc)
            for problem in problems:
                root = problem.field.split("[", 1)[0].split(".", 1)[0]
                if root in self.fields:
                    self.fields[root].setStyleSheet(_ERROR_STYLE)
            self.validation.setText("<br>".join(f"<span style='color:#a33'>{escape(field_label(p.field))}: "
                                                f"{escape(p.message)}</span>" for p in problems))
            self.add_button.setEnabled(False)
            return None
        self.validation.setText(f"<span style='color:#2a7'>Valid — fact {fact.short_id}</span>")
        self.add_button.setEnabled(True)
        return fact

    def _all_problems(self, first: FactError) -> list[FactError]:
        """``first`` and every other field's problem, so a reviewer fixes them in one go (trial 42:
        "Subject … does not occur in the prompt" showed only once New answer was filled in)."""
        others = [p for p in fact_problems(self.body()) if (p.field, p.message) != (first.field, first.message)]
        return [first, *others]

    def _checked_fact(self) -> Fact:
        """The form as a fact, refused (FactError) when a field was cut at its length limit (a paste
        of 460,000 characters kept 32,767, silently: trial 38) or it does not fit the model."""
        for name, widget in self.fields.items():
            if len(widget.text()) >= widget.maxLength():
                raise FactError(name, f"cut at {widget.maxLength():,} characters when pasted: far too long "
                                      "for a prompt; paste a shorter text")
        fact = fact_from_dict(self.body())
        problem = self.context_check(fact) if self.context_check is not None else None
        if problem is not None:
            raise FactError(problem.partition(" ")[0], f"too long for the loaded model: {problem}")
        return fact

    def submit(self) -> None:
        fact = self.validate()
        if fact is not None:
            self.add_requested.emit(fact)

    def apply_suggestion(self, old_answer: str, probes: list[Probe]) -> None:
        if old_answer and not self.fields["target_true"].text().strip():
            self.fields["target_true"].setText(old_answer)
        for probe in probes:
            self.locality.add_row(probe.prompt, probe.answer)

    def clear(self) -> None:
        self.set_body({})
        self._draft_timer.stop()

    def _clear_by_reviewer(self) -> None:
        """Clear, and say so: the saved draft came back on the next start (trial 43)."""
        self.clear()
        self.cleared.emit()
