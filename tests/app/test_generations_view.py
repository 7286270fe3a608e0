"""Before/after generations: changed words highlighted, "Changed only" hides the rest."""

import pytest

from app.widgets.generations_view import GenerationsView, segments_html
from core.util.textdiff import word_diff

pytestmark = pytest.mark.gui

ROWS = [{"fact_id": "f", "kind": "prompt", "prompt": "The capital of France is", "before": " Paris.",
         "after": " Rome."},
        {"fact_id": "f", "kind": "locality", "prompt": "The capital of Spain is", "before": " Madrid.",
         "after": " Madrid."}]


def test_changed_only_hides_unchanged_rows(qtbot):
    view = GenerationsView()
    qtbot.addWidget(view)
    view.set_previews(ROWS)
    assert view.counts.text().startswith("1 of 2 generations changed")
    assert len(view.visible_rows()) == 2 and "Madrid" in view.browser.toPlainText()
    view.changed_only.setChecked(True)
    assert [r["after"] for r in view.visible_rows()] == [" Rome."]
    assert "Madrid" not in view.browser.toPlainText()


def test_only_changed_words_are_highlighted():
    _, after = word_diff(" Paris is big", " Rome is big")
    html = segments_html(after, "#fff")
    assert html.count("<span") == 1 and "<span style='background:#fff'>Rome</span>" in html


def test_a_narrow_pane_stacks_before_and_after_under_each_prompt(qtbot):
    """At 1024×640 four columns left After out of sight; a narrow pane stacks each row instead,
    and widening it brings the side-by-side table back."""
    view = GenerationsView()
    qtbot.addWidget(view)
    view.resize(900, 300)
    view.show()
    view.set_previews(ROWS)
    wide = view.browser.toPlainText()
    assert not view.is_narrow() and wide.split()[:4] == ["Kind", "Prompt", "Before", "After"]
    view.resize(300, 300)
    qtbot.waitUntil(lambda: view.is_narrow())
    text = view.browser.toPlainText()
    assert "Kind" not in text and "Before" in text and "After" in text and "Rome" in text
    assert text.index("The capital of France is") < text.index("Paris") < text.index("Rome")
    view.resize(900, 300)
    qtbot.waitUntil(lambda: not view.is_narrow())
    assert view.browser.toPlainText() == wide
