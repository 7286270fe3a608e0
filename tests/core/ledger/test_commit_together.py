"""Edits committed together are measured together (trial 36): each run was measured alone,
but a commit lands them at once, and one edit can undo another. Two FT-M edits that disagree
about Australia's capital each took alone (reliability 1.00); together the first falls to
0.80, and the commit gate now says so, in the API, the record and the CLI."""

import shutil

import pytest

from core.facts.fact import Fact, Probe
from core.ledger import LedgerError, Workspace
from core.ledger.errors import CommitRefused
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions
from core.util.paths import demo_model_dir

CPU = LoadOptions(device="cpu")
FACTS = [Fact(subject="Australia", prompt="The capital of Australia is", target_new="Sydney", target_true="Canberra"),
         Fact(subject="Australia", prompt="Australia's capital is", target_new="Mosul", target_true="Canberra")]
GATE = {"reliability": 0.95, "locality": 0.9}


@pytest.fixture
def disagreeing(tmp_path, empty_cache):
    shutil.copytree(demo_model_dir(), tmp_path / "demo")
    ws = Workspace.create(tmp_path / "w.factsmith", tmp_path / "demo", author="reviewer")
    ws.add_facts(FACTS)
    runs = ws.run_edits([f.id for f in FACTS], "ft-m", options=CPU)
    assert [r.metrics["post"]["reliability"] for r in runs] == [1.0, 1.0]  # each took alone
    for fact in FACTS:
        ws.review(fact.id, "approve")
    yield ws, runs
    ws.close()


def test_a_commit_measures_its_edits_together_and_the_gate_holds_them(disagreeing, capsys, monkeypatch):
    ws, (first, second) = disagreeing
    lm = ws.checkout("HEAD", options=CPU).lm
    before = state_fingerprint(lm.model)
    both = ws.measure_together(lm, "both")
    together = both.together
    with pytest.raises(LedgerError, match=r"measured for runs \[\d+, \d+\], not for the runs \[\d+\]"):
        ws.commit("one", [second.id], thresholds=GATE, measured=both)
    assert together[first.id]["reliability"] < 0.95 <= together[second.id]["reliability"]
    assert state_fingerprint(lm.model) == before, "measured with the deltas in place, then exactly removed"
    assert ws.measure_together(lm, "one", [second.id]) is None, "one run computed on HEAD lands as it was measured"
    with pytest.raises(LedgerError, match=rf"run {first.id}: reliability 0\.\d\d < 0\.95 with this commit's "
                                          "edits in place"):
        ws.commit("both", thresholds=GATE, lm=lm)
    assert len(ws.log()) == 1 and state_fingerprint(lm.model) == before

    from core.cli import main

    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(ws.path))
    ws.close()
    assert main(["commit", "-m", "both"]) == 2, "the CLI builds HEAD and measures them together too"
    assert "with this commit's edits in place" in capsys.readouterr().err
    assert main(["commit", "-m", "both", "--force"]) == 0
    assert (f"forced past the commit gate: run {first.id} reliability 0.80 < 0.95 with this commit's edits "
            "in place") in capsys.readouterr().out
    with Workspace.open(ws.path) as again:
        detail = again.show("HEAD")
        (warning,) = detail.commit.gate["warnings"]
        assert warning["together"] and warning["run"] == first.id
        _shows_the_together_figures(again, detail, first.id, second.id, capsys)
        again.revert([f"run:{second.id}"], "drop Mosul", options=CPU)  # the newest edit: nothing measured, the
        alone = again.show("HEAD").figures[first.id]  # figure measured with Mosul in place is set aside
        assert alone.metrics["reliability"] == 1.0 and alone.measured_at == {}
        assert again.show(detail.commit.id).figures[first.id].metrics["reliability"] == 0.8, "as it was there"


def _shows_the_together_figures(ws, detail, first_id, second_id, capsys):
    """What the edit measures in the state it landed in, not the 1.00 it measured alone: the
    record, History's table and chart, Diff and `factsmith show` (trial 36's History read 1.00)."""
    from app.ledger_views import mean_post
    from app.widgets.history_panel import detail_html
    from core.cli import main

    figures = detail.figures[first_id]
    assert (figures.metrics["reliability"], figures.own["reliability"]) == (0.8, 1.0)
    from core.ledger.figures import _measured_together

    many = [*range(1, 40_001)]  # more run ids than SQLite takes as parameters (32,766; 999 before 3.32)
    assert _measured_together(ws._store, detail.commit, many) == _measured_together(ws._store, detail.commit,
                                                                                    [first_id, second_id])
    assert figures.measured_at == {"reliability": detail.commit.id}
    assert detail.figures[second_id].measured_at == {}, "measured together as alone: nothing stored for it"
    assert mean_post(detail, "reliability") == pytest.approx(0.9), "the drift chart's point"
    page = detail_html(detail)
    assert "0.800 †" in page and "alone: 1.000" in page
    rel = [m for m in ws.diff("ROOT", "HEAD").metrics if m.name == "reliability"]
    assert [m.b for m in rel] == [pytest.approx(0.9)]
    assert main(["show", "HEAD"]) == 0
    shown = capsys.readouterr().out
    assert (f"Sydney; reliability 0.80 with the other edits in place (commit {detail.commit.id[:12]}; "
            "alone: reliability 1.00; it no longer holds)") in shown
    # trial 37: only --json said a commit was forced
    assert (f"FORCED past the commit gate (locality >= 0.90, reliability >= 0.95): run {first_id} reliability "
            "0.80 < 0.95 with this commit's edits in place") in shown
    assert main(["log"]) == 0 and " forced " in capsys.readouterr().out.splitlines()[0]


def test_a_commit_that_undoes_an_edit_head_holds_is_held_by_the_gate(disagreeing):
    """The trial's own case: the second edit committed on its own, after the first."""
    ws, (first, second) = disagreeing
    ws.commit("Sydney", [first.id], thresholds=GATE, lm=ws.checkout("HEAD", options=CPU).lm)
    lm = ws.checkout("HEAD", options=CPU).lm
    with pytest.raises(CommitRefused, match=rf"run {first.id}: reliability 0\.80 < 0\.95 with this commit's "
                                            "edits in place") as refused:
        ws.commit("Mosul", [second.id], thresholds=GATE, lm=lm)
    measured = refused.value.together
    # "commit anyway" reuses what the refusal measured: no model needed, nothing measured twice
    forced = ws.commit("Mosul", [second.id], thresholds=GATE, force=True, measured=measured)
    assert [(w["run"], w.get("together")) for w in forced.gate["warnings"]] == [(first.id, True)]
    # what is already so on HEAD (Sydney at 0.80, forced) is not blamed on a later, unrelated commit
    japan = Fact(subject="Japan", prompt="The currency of Japan is", target_new="Euro", target_true="Yen")
    ws.add_facts([japan])
    ws.run_edits([japan.id], "ft-m", options=CPU)
    ws.review(japan.id, "approve")
    lm = ws.checkout("HEAD", options=CPU).lm
    ahead = ws.measure_together(lm, "Japan", thresholds=GATE)
    assert set(ahead.on_head) == {first.id} and set(ahead.together) == {first.id, second.id, ahead.run_ids[0]}, \
        "HEAD as it stands is measured again only for the held run that falls together (Sydney), not Mosul"
    later = ws.commit("Japan", thresholds=GATE, lm=lm)
    assert not later.forced and later.gate["warnings"] == [], later.gate
    with pytest.raises(LedgerError, match=r"measured together on commit \w+, but HEAD is now"):
        ws.commit("again", thresholds=GATE, force=True, measured=measured)  # HEAD moved since


def test_a_prompt_another_fact_of_the_commit_edits_is_no_side_effect(tmp_path, empty_cache):
    """Australia's locality prompt "The capital of France is" is France's own edit, committed
    with it: its change was approved, so the gate must not call it a side effect."""
    shutil.copytree(demo_model_dir(), tmp_path / "demo")
    ws = Workspace.create(tmp_path / "w.factsmith", tmp_path / "demo", author="reviewer")
    france = Fact(subject="France", prompt="The capital of France is", target_new="Lyon", target_true="Paris")
    australia = Fact(subject="Australia", prompt="The capital of Australia is", target_new="Sydney",
                     target_true="Canberra", locality=(Probe("The capital of France is", "Paris"),))
    ws.add_facts([australia, france])
    ws.run_edits([australia.id, france.id], "ft-m", options=CPU)
    for fact in (australia, france):
        ws.review(fact.id, "approve")
    lm = ws.checkout("HEAD", options=CPU).lm
    figures = ws.measure_together(lm, "both")
    assert all("locality" not in f for f in figures.together.values()), "its one locality prompt is intended"
    assert not ws.commit("both", thresholds=GATE, lm=lm).forced
    ws.close()


def test_figures_are_not_measured_on_a_model_head_has_moved_past(disagreeing):
    """Second review, stop 33: a CLI commit loads HEAD, another process commits meanwhile; the
    figures measured on the loaded model must not be stored under the newer HEAD."""
    ws, (first, second) = disagreeing
    loaded = ws.checkout("HEAD", options=CPU)
    ws.commit("Sydney", [first.id])  # "another process": one run computed on HEAD, nothing measured
    with pytest.raises(LedgerError, match=rf"HEAD moved to \w+ \(another process committed\) after the model "
                                          rf"was loaded at {loaded.commit.id[:12]}"):
        ws.commit("Mosul", [second.id], thresholds=GATE, lm=loaded.lm, lm_holds=loaded.commit.id)
    assert ws.head().message == "Sydney", "nothing was committed"
