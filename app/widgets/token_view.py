"""P(new), P(old) and the top next tokens at the answer position, before and after an edit."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def token_rows(entry: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, before, after) rows for one fact of a run's stored ``next_tokens`` (core)."""
    rows = []
    pre, post = entry.get("pre"), entry.get("post")
    if pre is not None and post is not None:
        rows.append((f"P(new: {entry['target_new']})", _p(pre["p_new"]), _p(post["p_new"])))
        rows.append((f"P(old: {entry.get('target_true') or '—'})", _p(pre["p_old"]), _p(post["p_old"])))
    before, after = entry.get("top_pre") or [], entry.get("top_post") or []
    for i in range(max(len(before), len(after))):
        rows.append((f"top {i + 1}", _token(before, i), _token(after, i)))
    return rows


def fact_label(entry: dict[str, Any]) -> str:
    return f"{entry['subject']}: {entry.get('target_true') or '?'} → {entry['target_new']}"


NOT_STORED = ("not stored for this run", "preview again to see them", "")


def _token(tokens: list, i: int) -> str:
    return f"{tokens[i][0]!r} {tokens[i][1]:.3f}" if i < len(tokens) else ""


class TokenView(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setObjectName("token-view")
        self.setHorizontalHeaderLabels(["Next token", "Before", "After"])  # whole in a 1024×640 pane
        self.horizontalHeaderItem(0).setToolTip("Probabilities at the answer position, after the edit prompt")
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    def set_entry(self, entry: dict[str, Any] | None) -> None:
        """One fact's stored next tokens; None: a run recorded before they were stored."""
        rows = [NOT_STORED] if entry is None else token_rows(entry)
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.setItem(r, c, item)
