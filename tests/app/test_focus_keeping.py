"""Disabling a focused button hands the keyboard to its heir, or drops it, never to the next
field in the tab chain (trial 42: the model's folder field, whose path the next key replaced)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QVBoxLayout, QWidget

from app.widgets.focus import set_enabled_keeping_focus

pytestmark = pytest.mark.gui


def _form(qtbot):
    form = QWidget()
    layout = QVBoxLayout(form)
    start, cancel, folder = QPushButton("Start"), QPushButton("Cancel"), QLineEdit("/models/demo")
    for widget in (start, cancel, folder):
        layout.addWidget(widget)
    qtbot.addWidget(form)
    form.show()
    form.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is form, timeout=5_000)
    cancel.setEnabled(False)
    start.setFocus()
    qtbot.waitUntil(start.hasFocus, timeout=2_000)
    return form, start, cancel, folder  # the form too: dropped, Qt deletes its buttons


def test_the_focus_goes_to_the_heir_enabled_in_the_same_call(qtbot):
    _, start, cancel, folder = _form(qtbot)
    set_enabled_keeping_focus({start: False, cancel: True}, heirs=(cancel,))
    assert cancel.isEnabled() and not start.isEnabled()
    assert cancel.hasFocus() and not folder.hasFocus()


def test_without_an_enabled_heir_the_focus_is_dropped_not_passed_on(qtbot):
    _, start, cancel, folder = _form(qtbot)
    set_enabled_keeping_focus({start: False}, heirs=(cancel,))  # cancel stays disabled: no heir
    assert not start.isEnabled()
    assert not folder.hasFocus() and not cancel.hasFocus()


def test_an_unfocused_button_is_simply_disabled(qtbot):
    _, start, cancel, folder = _form(qtbot)
    folder.setFocus()
    qtbot.waitUntil(folder.hasFocus, timeout=2_000)
    set_enabled_keeping_focus({start: False, cancel: True}, heirs=(cancel,))
    assert folder.hasFocus()


def test_the_undo_button_going_off_keeps_the_keys_out_of_the_note(qtbot):
    """A review: after Undo, with nothing left to undo, the disabled button passed the focus on
    to the next field, where the next key typed would land."""
    from app.widgets.review_bar import ReviewBar

    bar = ReviewBar()
    qtbot.addWidget(bar)
    bar.show()
    bar.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is bar, timeout=5_000)
    bar.set_undo("approved Peru", None)
    bar.undo_button.setFocus()
    qtbot.waitUntil(bar.undo_button.hasFocus, timeout=2_000)
    bar.set_undo(None, None)
    assert not bar.undo_button.isEnabled() and QApplication.focusWidget() is None
