"""Side-by-side generations before and after an edit, with changed words highlighted."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QTextBrowser, QVBoxLayout, QWidget

from core import Segment, word_diff

KIND_LABELS = {"prompt": "Edit prompt", "paraphrase": "Paraphrase", "locality": "Locality",
               "portability": "Portability", "free": "Your prompt"}
# Good news on the edit's own prompts is a change; on locality prompts it is no change.
_CHANGE_COLOURS = {"locality": "#f6c6c6", "free": "#fde9a9"}
_DEFAULT_COLOUR = "#c8ecc8"


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
        self._rendered = False
        self.changed_only = QCheckBox("Changed only")
        self.changed_only.toggled.connect(lambda _: self.render())
        self.counts = QLabel()
        self.browser = QTextBrowser()
        self.browser.setObjectName("generations")
        self.browser.setOpenLinks(False)
        top = QHBoxLayout()
        top.addWidget(self.counts, 1)
        top.addWidget(self.changed_only)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.browser, 1)

    def set_previews(self, previews: Sequence[Any]) -> None:
        """Previews as ``core.workflows.editing.Preview`` objects or their dicts."""
        rows = [dict(p) if isinstance(p, dict) else p.to_dict() for p in previews]
        if rows == self._rows and self._rendered:
            return  # already shown (the same run again): keep the scroll position, skip the diffing
        self._rows = rows
        self.render()

    def visible_rows(self) -> list[dict[str, Any]]:
        if not self.changed_only.isChecked():
            return list(self._rows)
        return [row for row in self._rows if row["before"] != row["after"]]

    def render(self) -> None:
        self._rendered = True
        rows = self.visible_rows()
        changed = sum(1 for row in self._rows if row["before"] != row["after"])
        self.counts.setText(f"{changed} of {len(self._rows)} generations changed")
        body = "".join(self._row_html(row) for row in rows)
        self.browser.setHtml(
            "<table width='100%' cellspacing='0' cellpadding='4' border='1' style='border-collapse:collapse'>"
            "<tr style='background:#eee'><th>Kind</th><th>Prompt</th><th>Before</th><th>After</th></tr>"
            f"{body}</table>")

    def _row_html(self, row: dict[str, Any]) -> str:
        before, after = word_diff(row["before"], row["after"])
        colour = _CHANGE_COLOURS.get(row["kind"], _DEFAULT_COLOUR)
        mark = "" if row["before"] == row["after"] else " ●"
        return (f"<tr><td>{KIND_LABELS.get(row['kind'], row['kind'])}{mark}</td>"
                f"<td><b>{html.escape(row['prompt'])}</b></td>"
                f"<td>{segments_html(before, '#eadcf5')}</td><td>{segments_html(after, colour)}</td></tr>")
