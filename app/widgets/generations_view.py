"""Side-by-side generations before and after an edit, with changed words highlighted."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QEvent
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QTextBrowser, QVBoxLayout, QWidget

from core import Segment, says_answer, word_diff

KIND_LABELS = {"prompt": "Edit prompt", "paraphrase": "Paraphrase", "locality": "Locality",
               "batch": "Locality, edited by this batch", "portability": "Portability", "free": "Your prompt"}
# Good news on the edit's own prompts is a change *to the new answer*, which the row's text says
# (not merely a change); on locality prompts it is no change.
GREEN, RED, AMBER = "#c8ecc8", "#f6c6c6", "#fde9a9"
_CHANGE_COLOURS = {"locality": RED, "free": AMBER}
CHANGED_MARK = " ●"  # beside the kind of a row whose text the edit changed
MARK_HELP = ("● : the edit changed this generation. Highlights: green where the generation says the new answer, "
             "red where it should not have changed (locality) or does not say it, amber for a change that is "
             "neither.")
_CHECK_OF_KIND = {"prompt": "reliability", "paraphrase": "generality"}  # the verdict's check of that row
# Below this width (px) four columns squeeze Before and After out of sight (a 1024-wide window),
# so each row is stacked instead: its kind and prompt, then Before and After under it.
NARROW_WIDTH = 480
_TABLE = "<table width='100%' cellspacing='0' cellpadding='{}' border='1' style='border-collapse:collapse'>"
PADDING, STACKED_PADDING = 4, 2  # a stacked row is one cell: little padding, so three fit at 1024×640
INLINE_CHARS = 40  # stacked, a Before and After this short (together) share a line; longer ones get a line each
_LABEL = "<span style='color:#666'>{}</span>"  # "Before", "After" in a stacked row


def change_colour(kind: str, held: bool | None) -> str:
    """A changed row's highlight: green only where the verdict says that part of the edit took."""
    if kind in _CHANGE_COLOURS:
        return _CHANGE_COLOURS[kind]
    if kind in _CHECK_OF_KIND:
        return GREEN if held else RED if held is False else AMBER
    return AMBER  # portability and others: changed, neither good nor bad by itself


def checks_by_fact(verdict: Any) -> dict[str, dict[str, bool | None]]:
    """{fact id: {metric: held}} from a stored verdict (``Verdict.to_dict()``)."""
    facts = (verdict or {}).get("facts") or []
    return {f["fact_id"]: {c["metric"]: c.get("held") for c in f.get("checks") or []} for f in facts}


def segments_html(segments: Sequence[Segment], colour: str) -> str:
    parts = []
    for segment in segments:
        text = html.escape(segment.text)
        parts.append(f"<span style='background:{colour}'>{text}</span>" if segment.changed else text)
    return "".join(parts)


class GenerationsView(QWidget):
    """Rows of (kind, prompt, before, after); "Changed only" hides the rows that did not change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        self._checks: dict[str, dict[str, bool | None]] = {}
        self._answers: dict[str, str] = {}  # fact id -> its new answer
        self._rendered = False
        self._stacked = False
        self.changed_only = QCheckBox("Changed only")
        self.changed_only.toggled.connect(lambda _: self.render())
        self.counts = QLabel()
        self.counts.setWordWrap(True)  # the counts wrap in a narrow pane rather than widen the window
        self.browser = QTextBrowser()
        self.browser.setObjectName("generations")
        self.browser.setWordWrapMode(QTextOption.WrapMode.WordWrap)  # words whole; a wide table scrolls
        self.browser.setOpenLinks(False)
        self.browser.installEventFilter(self)
        top = QHBoxLayout()
        top.addWidget(self.counts, 1)
        top.addWidget(self.changed_only)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.browser, 1)

    def set_previews(self, previews: Sequence[Any], verdict: Any = None,
                     answers: Mapping[str, str] | None = None) -> None:
        """Previews as ``core.workflows.editing.Preview`` objects or their dicts. A changed edit
        prompt or paraphrase is green when its own text says the new answer (``answers``: fact
        id → target_new; trial 45: the one paraphrase that took was red because the verdict's
        generality as a whole failed), else as the run's stored ``verdict`` decided."""
        rows = [dict(p) if isinstance(p, dict) else p.to_dict() for p in previews]
        checks = checks_by_fact(verdict)
        answers = dict(answers or {})
        if rows == self._rows and checks == self._checks and answers == self._answers and self._rendered:
            return  # already shown (the same run again): keep the scroll position, skip the diffing
        self._rows, self._checks, self._answers = rows, checks, answers
        self.render()

    def visible_rows(self) -> list[dict[str, Any]]:
        if not self.changed_only.isChecked():
            return list(self._rows)
        return [row for row in self._rows if row["before"] != row["after"]]

    def render(self) -> None:
        self._rendered = True
        rows = self.visible_rows()
        changed = sum(1 for row in self._rows if row["before"] != row["after"])
        self.counts.setText(f"{changed} of {len(self._rows)} generations changed · {CHANGED_MARK.strip()} marks a "
                            "changed row")
        self.counts.setToolTip(MARK_HELP)
        self._stacked = self.is_narrow()
        row_html = self._stacked_row_html if self._stacked else self._row_html
        body = "".join(row_html(row) for row in rows)
        head = "" if self._stacked else ("<tr style='background:#eee'><th>Kind</th><th>Prompt</th><th>Before</th>"
                                         "<th>After</th></tr>")
        table = _TABLE.format(STACKED_PADDING if self._stacked else PADDING)
        self.browser.setHtml(f"{table}{head}{body}</table>")

    def is_narrow(self) -> bool:
        """Judged on the pane's width less a scroll bar's, shown or not: the viewport's own width
        moves as the bar comes and goes, and one fact's rows flipped between a table and stacked
        rows at one window size (trial 43)."""
        room = self.browser.width() - 2 * self.browser.frameWidth()
        return room - self.browser.verticalScrollBar().sizeHint().width() < NARROW_WIDTH

    def eventFilter(self, watched, event) -> bool:
        """Re-lay the rows out when the pane's width crosses NARROW_WIDTH."""
        if (watched is self.browser and event.type() == QEvent.Type.Resize and self._rendered
                and self.is_narrow() != self._stacked):
            self.render()
        return super().eventFilter(watched, event)

    def _cells(self, row: dict[str, Any]) -> tuple[str, str, str, str]:
        """(kind with its changed mark, prompt, before, after) as HTML, changed words highlighted."""
        before, after = word_diff(row["before"], row["after"])
        colour = change_colour(row["kind"], self._row_held(row))
        mark = "" if row["before"] == row["after"] else CHANGED_MARK
        return (f"{KIND_LABELS.get(row['kind'], row['kind'])}{mark}", f"<b>{html.escape(row['prompt'])}</b>",
                segments_html(before, "#eadcf5"), segments_html(after, colour))

    def _row_held(self, row: dict[str, Any]) -> bool | None:
        """Did this row's part of the edit take: its text says the new answer, where known; else
        the verdict's check of that kind of row."""
        answer = self._answers.get(row.get("fact_id", ""))
        if answer and row["kind"] in _CHECK_OF_KIND:
            return says_answer(row["after"], answer)
        return self._checks.get(row.get("fact_id", ""), {}).get(_CHECK_OF_KIND.get(row["kind"]))

    def _stacked_row_html(self, row: dict[str, Any]) -> str:
        """One cell a prompt: its kind and prompt, then Before and After under it. A row of three
        cells each took ~80 px at 1024×640, and the pane showed about one prompt."""
        kind, prompt, before, after = self._cells(row)
        short = len(row["before"]) + len(row["after"]) <= INLINE_CHARS
        gap = " &nbsp;" if short else "<br>"
        return (f"<tr><td>{kind}: {prompt}<br>{_LABEL.format('Before')} {before}{gap}"
                f"{_LABEL.format('After')} {after}</td></tr>")

    def _row_html(self, row: dict[str, Any]) -> str:
        kind, prompt, before, after = self._cells(row)
        return f"<tr><td>{kind}</td><td>{prompt}</td><td>{before}</td><td>{after}</td></tr>"
