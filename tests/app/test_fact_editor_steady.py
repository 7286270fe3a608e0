"""Trial 43: the fact editor's rows shifted a few pixels when problem lines appeared (the red
border made a field 2 px shorter, and the growing problem text took height from the form)."""

from __future__ import annotations

import pytest

from app.widgets.fact_editor import FactEditor

pytestmark = pytest.mark.gui


def _tops(editor: FactEditor) -> list[int]:
    return [editor.fields[name].mapTo(editor, editor.fields[name].rect().topLeft()).y() for name in editor.fields]


def test_the_rows_stay_put_as_problems_come_and_go(qtbot):
    editor = FactEditor()
    qtbot.addWidget(editor)
    editor.resize(700, 900)  # taller than it needs: the spare height must not move the rows
    editor.show()
    editor.fields["subject"].setText("France")
    editor.fields["prompt"].setText("The capital of France is")
    editor.fields["target_new"].setText("Lyon")
    qtbot.wait(50)
    valid, heights = _tops(editor), [field.height() for field in editor.fields.values()]
    editor.fields["subject"].setText("Spain")  # not in the prompt
    editor.fields["target_new"].setText("")  # required
    qtbot.wait(50)
    assert editor.validation.text().count("<br>") >= 1, "two problems, two lines"
    assert _tops(editor) == valid and [field.height() for field in editor.fields.values()] == heights
