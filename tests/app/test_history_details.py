"""The commit details in a narrow History pane: words stay whole and the table scrolls."""

import pytest

from app.widgets.history_panel import HistoryPanel

pytestmark = pytest.mark.gui

TABLE = ("<table border='1'><tr><th>Run</th><th>Method</th><th>Facts</th><th>Reliability</th>"
         "<th>Locality</th><th>Review note</th></tr><tr><td>12</td><td>rome</td>"
         "<td>France → Lyon; Germany → Paris</td><td>1.000</td><td>0.950</td>"
         "<td>alice: looks right to me after checking</td></tr></table>")


def _lines_of(document, text: str) -> int:
    block = document.begin()
    while block.isValid():
        if block.text() == text:
            document.documentLayout().blockBoundingRect(block)  # lays the block out
            return block.layout().lineCount()
        block = block.next()
    raise AssertionError(f"{text!r} not in the details")


def test_a_narrow_details_pane_keeps_column_headings_whole_and_scrolls(qtbot):
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.resize(330, 500)
    panel.show()
    qtbot.waitExposed(panel)
    panel.details.setHtml(TABLE)
    qtbot.waitUntil(lambda: panel.details.document().size().width() > 0)
    for heading in ("Reliability", "Locality", "Method"):
        assert _lines_of(panel.details.document(), heading) == 1, f"{heading} broken mid-word"
    assert panel.details.horizontalScrollBar().maximum() > 0, "the wider table scrolls sideways"
