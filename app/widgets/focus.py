"""Enabling and disabling buttons without losing the keyboard.

A focused button that Qt disables passes the focus to the next widget in the tab chain; in
the main window that wrapped round to the model's folder field with its path selected, so the
next key typed replaced the path (trial 42). Every panel that disables the button the reviewer
may have just pressed goes through here instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtWidgets import QWidget


def set_enabled_keeping_focus(states: Mapping[QWidget, bool], heirs: Iterable[QWidget] = ()) -> None:
    """Enable and disable ``states``' widgets; a focused one being disabled hands the focus to the
    first of ``heirs`` enabled afterwards, or, with none, drops it rather than pass it on."""
    for widget, enabled in states.items():
        if enabled:
            widget.setEnabled(True)
    heir = next((h for h in heirs if states.get(h, h.isEnabled())), None)
    for widget, enabled in states.items():
        if not enabled:
            if widget.hasFocus() and heir is not None:
                heir.setFocus()
            if widget.hasFocus():  # no heir, or one that cannot take it (hidden, NoFocus)
                widget.clearFocus()
            widget.setEnabled(False)
