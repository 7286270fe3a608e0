"""Review decisions for the selected facts: approve, reject (needs a note), needs rework, undo.

The review Undo has its own shortcut (Alt+U), so Ctrl+Z stays the note field's text undo;
its label names the decision it would undo. The note has a line of its own and the buttons
wrap onto a second line in a narrow window; the message sits on its own line below them, so
they never move when it appears.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QGroupBox, QLabel, QLineEdit, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.widgets.flow_row import flow_row
from app.widgets.focus import set_enabled_keeping_focus

DECISIONS = (("approve", "Approve", "Alt+A"), ("reject", "Reject", "Alt+R"), ("rework", "Needs rework", "Alt+W"))
UNDO_KEY = "Alt+U"
# macOS: Option is Alt and types letters ("ü", "å") in every field, so the keys live only while
# these buttons are shown; elsewhere the window owns them on every tab (main_window)
BUTTONS_OWN_REVIEW_KEYS = sys.platform == "darwin"
NOTE_HINT = "Note (required to reject)"
UNDO_ROOM = "Undo needs-rework United Kingdom"  # the widest Undo names; longer is elided


class ReviewBar(QGroupBox):
    decided = Signal(str, str)  # decision, note
    undo_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Review", parent)
        self.note = QLineEdit()
        self.note.setPlaceholderText(NOTE_HINT)
        self.note.setMinimumWidth(self.note.fontMetrics().horizontalAdvance(NOTE_HINT) + 30)
        self.buttons: dict[str, QPushButton] = {}
        for decision, label, key in DECISIONS:
            button = QPushButton(f"{label} ({key})")
            if BUTTONS_OWN_REVIEW_KEYS:
                button.setShortcut(QKeySequence(key))
            button.setToolTip(f"{label} the selected facts — shortcut {key}")
            button.clicked.connect(lambda _=False, d=decision: self.decide(d))
            self.buttons[decision] = button
        self.undo_button = QPushButton()
        self.undo_button.clicked.connect(self.undo_requested)
        self.undo_blocked: str | None = None
        self._fix_undo_width()
        self.set_undo(None)
        self.message = QLabel()
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.message.setObjectName("review-message")
        self.message.setTextFormat(Qt.TextFormat.RichText)  # escaped text shows its quotes, not &quot; (trial 44)
        self.message.setFixedHeight(self.message.fontMetrics().height() + 4)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)  # the note on a line of its own, the buttons wrap: a 1024-wide window fits
        layout.addWidget(flow_row(*self.buttons.values(), self.undo_button))
        layout.addWidget(self.message)

    def _fix_undo_width(self) -> None:
        """Undo keeps one width whatever it names (a long subject is elided, whole in its tooltip),
        so approving never shifts the row."""
        self.undo_button.setText(f"{UNDO_ROOM} (committed)")  # the wider of its two endings
        self.undo_button.setFixedWidth(self.undo_button.sizeHint().width())
        self._undo_room = self.undo_button.fontMetrics().horizontalAdvance(UNDO_ROOM)

    def set_undo(self, what: str | None, blocked: str | None = None) -> None:
        """``what``: the decision Undo would reverse ("approved France"), None when there is none;
        ``blocked``: why it cannot be (its edit is committed): the button is then disabled and says so,
        naming that decision, so it never reads as the selected fact's."""
        head, suffix = (f"Undo {what}" if what else "Undo"), ("(committed)" if blocked else f"({UNDO_KEY})")
        metrics = self.undo_button.fontMetrics()
        shown = metrics.elidedText(head, Qt.TextElideMode.ElideRight, self._undo_room + 2)  # + rounding
        self.undo_button.setText(f"{shown} {suffix}".replace("&", "&&"))
        if BUTTONS_OWN_REVIEW_KEYS:
            self.undo_button.setShortcut(QKeySequence(UNDO_KEY))  # after setText, which resets it
        tip = (f"Undo your last review decision ({what or 'none left'}) — {UNDO_KEY}; "
               "Ctrl+Z undoes typing in the note")
        self.undo_button.setToolTip(f"Nothing to undo: {blocked}" if blocked else tip)
        # the button just pressed may be the one going off: it must not hand the keys to the next field
        set_enabled_keeping_focus({self.undo_button: what is not None and not blocked})
        self.undo_blocked = blocked

    def decide(self, decision: str) -> None:
        note = self.note.text().strip()
        if decision == "reject" and not note:
            self.message.setText("<span style='color:#a33'>Write a note saying why before rejecting</span>")
            self.note.setFocus()
            return
        self.message.setText("")
        self.decided.emit(decision, note)
        self.note.clear()

    def set_enabled(self, enabled: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(enabled)
