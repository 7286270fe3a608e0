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


def test_commit_times_read_as_times_not_iso_text():
    """Trial 45: History showed "2026-12-07T16:40:12.123456+00:00"."""
    import time

    from app.widgets.history_panel import when_text

    shown = when_text("2026-12-07T16:40:12.123456+00:00")
    assert "T" not in shown[:19] and "." not in shown and ":" in shown
    if time.localtime().tm_gmtoff == 0:
        assert shown == "2026-12-07 16:40:12 UTC"
    assert when_text("not a time") == "not a time"
