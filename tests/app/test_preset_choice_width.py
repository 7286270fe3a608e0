"""Trial 43: at 1366×768 the preset choice was 79 px wide beside Tune preset…, cutting "Tuned for
this model" to "Tuned fo". Every preset's name fits whole in it, at the smallest size too."""

from __future__ import annotations

import pytest

from tests.app.helpers import open_window

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("size", [(1366, 768), (1024, 640)])
def test_every_preset_name_fits_in_the_preset_choice(qtbot, size):
    window = open_window(qtbot)
    window.resize(*size)
    qtbot.wait(200)
    choice = window.method_panel.preset_choice
    names = ["Tuned for this model", *(choice.itemText(i) for i in range(choice.count()))]
    text_room = choice.width() - 30  # the arrow and the frame
    widest = max(names, key=choice.fontMetrics().horizontalAdvance)
    assert choice.fontMetrics().horizontalAdvance(widest) <= text_room, (widest, choice.width())
    window.close()
