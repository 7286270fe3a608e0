"""P(new), P(old) and the top next tokens at the answer position, before and after an edit."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def token_rows(outcome: Any, index: int = 0, k: int = 5) -> list[tuple[str, str, str]]:
    """(label, before, after) rows for the fact at ``index`` of an EditOutcome."""
    pre, post = outcome.pre.facts[index], outcome.post.facts[index]
    fact = outcome.facts[index]
    rows = []
    if pre.probability is not None and post.probability is not None:
        a, b = pre.probability.prompt, post.probability.prompt
        rows.append((f"P(new: {fact.target_new})", _p(a.p_new), _p(b.p_new)))
        rows.append((f"P(old: {fact.target_true or '—'})", _p(a.p_old), _p(b.p_old)))
    before, after = list(pre.top_k or ())[:k], list(post.top_k or ())[:k]
    for i in range(max(len(before), len(after))):
        rows.append((f"top {i + 1}", _token(before, i), _token(after, i)))
    return rows


def _token(tokens: list, i: int) -> str:
    return f"{tokens[i].token!r} {tokens[i].probability:.3f}" if i < len(tokens) else ""


class TokenView(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setObjectName("token-view")
        self.setHorizontalHeaderLabels(["At the answer position", "Before", "After"])
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    def set_outcome(self, outcome: Any, index: int = 0) -> None:
        rows = token_rows(outcome, index)
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.setItem(r, c, item)
