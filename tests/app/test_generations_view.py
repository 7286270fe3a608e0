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


def test_each_paraphrase_is_coloured_by_what_it_says_not_by_the_whole_check(qtbot):
    """Trial 45: the one paraphrase that gave the new answer was red, because generality as a
    whole (0.50) missed; a row is green when its own text says the new answer."""
    from app.widgets.generations_view import GREEN, RED

    rows = [{"fact_id": "f", "kind": "paraphrase", "prompt": "The main language spoken in Brazil is",
             "before": " Portuguese.", "after": " Spanish, and"},
            {"fact_id": "f", "kind": "paraphrase", "prompt": "People in Brazil speak", "before": " Portuguese.",
             "after": " Portugal."}]
    verdict = {"facts": [{"fact_id": "f", "checks": [{"metric": "generality", "value": 0.5, "bound": 0.8,
                                                       "held": False}]}]}
    view = GenerationsView()
    qtbot.addWidget(view)
    view.set_previews(rows, verdict, {"f": "Spanish"})
    html = view.browser.toHtml().lower()
    assert GREEN in html and RED in html  # one of each, not two red
    view.set_previews(rows, verdict)  # an old run without its answers: the verdict's check, as before
    html = view.browser.toHtml().lower()
    assert GREEN not in html and RED in html
