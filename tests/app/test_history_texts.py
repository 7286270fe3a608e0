"""The History actions' words (trial 45)."""

from types import SimpleNamespace

from app.history_texts import exported_text, way_on


def test_a_lone_edit_that_falls_together_is_not_told_of_an_other_edit():
    assert "the other" not in way_on(1) and "clashes" in way_on(1)
    assert "undoes the other" in way_on(2)


def test_one_exported_fact_is_one_fact():
    report = SimpleNamespace(count=1, reverted_left_out=0, path="/tmp/set.jsonl")
    assert exported_text(report) == "Exported 1 fact to /tmp/set.jsonl"
    assert exported_text(SimpleNamespace(count=2, reverted_left_out=0, path="p")) == "Exported 2 facts to p"
