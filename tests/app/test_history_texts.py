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


def test_a_commits_edits_say_their_verdict_and_what_the_gate_did_not_check():
    """Trial 45: History gave a committed edit's reliability and locality, not the "generality
    0.50 < 0.80" the commit dialog warned of."""
    from app.widgets.history_panel import _verdict_text

    checks = [{"metric": "reliability", "value": 1.0, "bound": 0.95, "held": True},
              {"metric": "generality", "value": 0.5, "bound": 0.8, "held": False}]
    run = SimpleNamespace(id=3, metrics={"verdict": {"verdict": "partial", "facts": [{"fact_id": "f",
                                                                                      "checks": checks}]}})
    assert _verdict_text(run) == "partial: generality 0.50 < 0.80"
    assert _verdict_text(SimpleNamespace(id=4, metrics={"verdict": {"verdict": "took", "facts": []}})) == "took"
    assert _verdict_text(SimpleNamespace(id=5, metrics={})) == "—"
