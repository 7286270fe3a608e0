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
FRANCE = Fact(subject="France", prompt="The capital of France is", target_new="Rome", target_true="Paris")


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

    from PySide6.QtCore import Qt

    from app.widgets.history_panel import detail_html, fell_on_rebuild, fell_on_rebuild_text

    detail = ws.show("HEAD")
    fell = fell_on_rebuild(ws.state_figures("HEAD"), detail.commit.id)
    assert set(fell) == {sydney.id} and fell[sydney.id][1] == 1.0
    assert f"run {sydney.id} reliability 0." in fell_on_rebuild_text(fell)
    assert "(alone 1.000)" in fell_on_rebuild_text(fell)
    assert "reliability again on its rebuilt state" in detail_html(detail)

    from app.ledger_views import fallen_at_head
    from app.models.fact_table import FactTableModel

    fallen = fallen_at_head(ws)  # the queue says it too (trial 41: it read plainly "committed")
    assert set(fallen) == set(sydney.fact_ids) and fallen[sydney.fact_ids[0]][1] == 1.0
    model = FactTableModel()
    model.set_facts(ws.queue(), ws.runs(), fallen=fallen)
    row = model.row_of(sydney.fact_ids[0])
    assert model.index(row, 0).data() == "not holding"
    assert "no longer holds" in model.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)

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


def test_a_revert_after_a_middle_revert_measures_too_and_a_failed_measurement_commits_nothing(three_commits,
                                                                                             monkeypatch):
    """The review's case: with France committed last, a middle revert (Japan) measures Sydney
    fallen; dropping France next leaves [Sydney, Mosul], a prefix of HEAD's list but a state
    that only the revert before built, whose figure the new revert sets aside: it is measured
    again, not taken from before Mosul. And a revert whose measurement fails leaves HEAD and
    the stored figures as they were."""
    import core.ledger.revert as revert_module
    from core.util.progress import Cancelled

    ws, (sydney, japan, _) = three_commits
    ws.add_facts([FRANCE])
    france = _commit_one(ws, FRANCE, "Rome")
    ws.revert([f"run:{japan.id}"], "drop Japan", options=CPU)
    head, rows = ws.head(), ws._store.scalar("SELECT COUNT(*) FROM commit_figures")

    def cancelled(*_args, **_kwargs):
        raise Cancelled("cancelled while measuring")

    monkeypatch.setattr(revert_module, "measure_state", cancelled)
    with pytest.raises(Cancelled):
        ws.revert([f"run:{france.id}"], "drop France", options=CPU)
    assert ws.head().id == head.id and ws._store.scalar("SELECT COUNT(*) FROM commit_figures") == rows
    monkeypatch.undo()
    tail = ws.revert([f"run:{france.id}"], "drop France", options=CPU)
    figures = ws.show(tail.commit.id).figures[sydney.id]
    assert figures.metrics["reliability"] < 0.95 and figures.measured_at == {"reliability": tail.commit.id}


def test_a_recompute_stores_what_its_revert_measured(three_commits):
    ws, (sydney, japan, _) = three_commits
    done = ws.recompute([japan.id], "Japan again", options=CPU)
    shown = ws.show(done.revert.commit.id).figures[sydney.id]
    assert shown.measured_at == {"reliability": done.revert.commit.id} and shown.metrics["reliability"] < 0.95
    assert [run.fact_ids for run in done.runs] == [japan.fact_ids]
