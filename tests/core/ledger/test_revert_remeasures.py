"""A revert from the middle measures its kept edits again (trial 40). Figures measured with a
reverted edit in place are set aside, and the earlier ones stand again; but when the revert
keeps edits made after the dropped one, its state never stood before, and an earlier figure
says nothing of it. The trial's case: a ROME edit computed with a since-reverted FT-M edit in
place broke a GRACE edit committed before both, while History and `factsmith show` still read
1.00. Here: Sydney committed, then Japan, then Mosul (same question as Sydney) forced past the
gate; reverting Japan keeps Mosul, so Sydney is measured again and found fallen."""

import shutil

import pytest

from core.facts.fact import Fact
from core.ledger import Workspace
from core.model.loading import LoadOptions
from core.util.paths import demo_model_dir

CPU = LoadOptions(device="cpu")
SYDNEY = Fact(subject="Australia", prompt="The capital of Australia is", target_new="Sydney", target_true="Canberra")
MOSUL = Fact(subject="Australia", prompt="Australia's capital is", target_new="Mosul", target_true="Canberra")
JAPAN = Fact(subject="Japan", prompt="The currency of Japan is", target_new="Euro", target_true="Yen")


def _commit_one(ws, fact, message):
    (run,) = ws.run_edits([fact.id], "ft-m", options=CPU)
    ws.review(fact.id, "approve")
    ws.commit(message, [run.id], force=True)
    return run


@pytest.fixture
def three_commits(tmp_path, empty_cache):
    shutil.copytree(demo_model_dir(), tmp_path / "demo")
    ws = Workspace.create(tmp_path / "w.factsmith", tmp_path / "demo", author="reviewer")
    ws.add_facts([SYDNEY, JAPAN, MOSUL])
    runs = [_commit_one(ws, fact, fact.target_new) for fact in (SYDNEY, JAPAN, MOSUL)]
    yield ws, runs
    ws.close()


def test_a_middle_revert_measures_the_kept_edits_on_the_rebuilt_state(three_commits, capsys, monkeypatch):
    ws, (sydney, japan, mosul) = three_commits
    assert ws.show("HEAD").figures[sydney.id].metrics["reliability"] == 1.0, "Mosul forced with no measurement"
    reverted = ws.revert([f"run:{japan.id}"], "drop Japan", options=CPU)
    shown = ws.show("HEAD").figures[sydney.id]
    assert shown.metrics["reliability"] < 0.95 and shown.own["reliability"] == 1.0
    assert shown.measured_at == {"reliability": reverted.commit.id}, "stored on the revert commit"
    assert ws.show("HEAD").figures[mosul.id].metrics["reliability"] == 1.0
    assert ws.check() == []

    from app.widgets.history_panel import detail_html, fell_on_rebuild, fell_on_rebuild_text

    detail = ws.show("HEAD")
    fell = fell_on_rebuild(detail)
    assert set(fell) == {sydney.id} and fell[sydney.id][1] == 1.0
    assert f"run {sydney.id} reliability 0." in fell_on_rebuild_text(fell)
    assert "(alone 1.000)" in fell_on_rebuild_text(fell) and "measures reliability again" in detail_html(detail)

    # a revert of the newest edit keeps no later one: its state stood before, its figures stand again
    tail = ws.revert([f"run:{mosul.id}"], "drop Mosul", options=CPU)
    again = ws.show(tail.commit.id).figures[sydney.id]
    assert again.metrics["reliability"] == 1.0 and again.measured_at == {}


def test_the_cli_says_what_a_middle_revert_measured(three_commits, capsys, monkeypatch):
    from core.cli import main

    ws, (sydney, japan, _) = three_commits
    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(ws.path))
    ws.close()
    assert main(["revert", f"run:{japan.id}", "-m", "drop Japan"]) == 0
    out = capsys.readouterr().out
    assert f"measured again on the rebuilt state: run {sydney.id} reliability 0." in out
    assert "(alone: 1.00)" in out
    assert main(["show", "HEAD"]) == 0
    assert "with the other edits in place" in capsys.readouterr().out
