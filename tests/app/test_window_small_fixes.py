"""Trial 36 (cosmetic list): the method choice went back to the first method after a restart; trial 37:
Ctrl+F kept the search text unselected, so typing appended to it."""

import pytest

from tests.app.helpers import open_window

pytestmark = pytest.mark.gui


def test_the_method_chosen_is_there_after_a_restart(qtbot):
    window = open_window(qtbot)
    first = window.method_panel.method.currentText()
    window.method_panel.method.setCurrentText("grace")
    window.close()
    again = open_window(qtbot)
    assert first != "grace" and again.method_panel.method.currentText() == "grace"
    assert again.method_panel.preset is not None and again.method_panel.method_name() == "grace"
    again.close()


def test_find_selects_the_search_text_so_typing_replaces_it(qtbot):
    window = open_window(qtbot)
    window.queue.search.setText("Lyon")
    window.queue.focus_search()
    assert window.queue.search.selectedText() == "Lyon"
    window.close()
