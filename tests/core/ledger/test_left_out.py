"""``Workspace.left_out``: why a commit leaves an approved fact out, also when it has a run
(a batch run shared with a fact that cannot go with it), and the CLI's commit saying so."""

import dataclasses

from core import Blocker, LeftOut, explain_left_out, open_workspace
from core.cli import main
from tests.core.ledger.helpers import hand_delta, make_facts, record_hand_run


def record_batch_run(ws, facts):
    delta = dataclasses.replace(hand_delta(facts[0], 7), fact_ids=tuple(f.id for f in facts))
    return ws.record_run(
        facts=list(facts), delta=delta, computed_on=ws.head().state_fingerprint,
        hparams={"seed": 7}, seconds=0.01,
        metrics={"protocol": "test-protocol", "pre": {"efficacy": 0.0}, "post": {"efficacy": 1.0},
                 "per_fact": [{"fact": f.id, "efficacy": 1.0} for f in facts]},
        previews={"prompt": facts[0].prompt, "before": " Old", "after": " New"},
        environment={"seed": 7, "device": "cpu", "dtype": "float32", "torch": "test"})


def test_a_batch_run_with_a_rejected_fact_names_it(workspace):
    a, b = make_facts(2)
    workspace.add_facts([a, b])
    batch = record_batch_run(workspace, [a, b])
    workspace.review(a.id, "approve")
    workspace.review(b.id, "reject", "wrong answer")
    assert workspace.commit_candidates() == []
    assert workspace.left_out() == [LeftOut(a.id, batch.id, (Blocker(b.id, "rejected"),))]


def test_a_pending_fact_blocks_until_it_is_approved(workspace):
    a, b = make_facts(2)
    workspace.add_facts([a, b])
    batch = record_batch_run(workspace, [a, b])
    workspace.review(a.id, "approve")
    assert workspace.left_out() == [LeftOut(a.id, batch.id, (Blocker(b.id, "pending"),))]
    workspace.review(b.id, "approve")
    assert workspace.left_out() == []
    assert list(workspace.commit("both").applied) == [batch.id]


def test_a_fact_taken_by_its_own_newer_run_blocks_the_batch(workspace):
    a, b = make_facts(2)
    workspace.add_facts([a, b])
    batch = record_batch_run(workspace, [a, b])
    workspace.review(a.id, "approve")
    alone = record_hand_run(workspace, b)
    workspace.review(b.id, "approve")  # on its latest run: b alone
    assert workspace.left_out() == [LeftOut(a.id, batch.id, (Blocker(b.id, f"goes with run {alone.id}"),))]
    assert list(workspace.commit("b").applied) == [alone.id]
    assert workspace.left_out() == [LeftOut(a.id, batch.id, (Blocker(b.id, "in HEAD"),))]


def test_no_run_and_a_solo_run_alternative(workspace):
    a, b = make_facts(2)
    workspace.add_facts([a, b])
    record_batch_run(workspace, [a, b])
    workspace.review(a.id, "approve")
    workspace.review(b.id, "reject", "wrong answer")
    alone = record_hand_run(workspace, a)  # previewed on its own: the commit takes it
    c = make_facts(3)[2]
    workspace.add_facts([c])
    workspace.review(c.id, "approve")
    assert workspace.left_out() == [LeftOut(c.id)]
    assert [r.id for r in workspace.commit_candidates()] == [alone.id]


def test_cli_commit_says_what_it_left_out_and_why(workspace, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(tmp_path / "config"))
    a, b, c = make_facts(3)
    workspace.add_facts([a, b, c])
    batch = record_batch_run(workspace, [a, b])
    solo = record_hand_run(workspace, c)
    for fact_id, decision in ((a.id, "approve"), (b.id, "reject"), (c.id, "approve")):
        workspace.review(fact_id, decision, "wrong answer" if decision == "reject" else "")
    path = workspace.path
    workspace.close()
    assert main(["commit", "-m", "c", "--workspace", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 edit(s) applied" in out
    assert f"left out: {a.id[:12]} {a.prompt} -> {a.target_new}: approved on run {batch.id}" in out
    assert f"{b.id[:12]} {b.prompt} -> {b.target_new} (rejected)" in out
    assert "approve those too, or preview this fact on its own" in out
    with open_workspace(path) as ws:
        assert list(ws.head().applied) == [solo.id]


def test_cli_commit_notes_the_verdicts_ungated_failures(workspace, tmp_path, capsys, monkeypatch):
    """Trial 33: `factsmith commit` passed an edit with generality 0.00 without a word, where
    the commit dialog warns "generality 0.00 < 0.80 (verdict)"."""
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(tmp_path / "config"))
    a = make_facts(1)[0]
    workspace.add_facts([a])
    verdict = {"verdict": "partial", "facts": [{"fact_id": a.id, "verdict": "partial", "checks": [
        {"metric": "reliability", "value": 1.0, "bound": 0.95, "held": True},
        {"metric": "generality", "value": 0.0, "bound": 0.8, "held": False}]}]}
    run = workspace.record_run(
        facts=[a], delta=hand_delta(a), computed_on=workspace.head().state_fingerprint, hparams={}, seconds=0.01,
        metrics={"protocol": "test-protocol", "pre": {"reliability": 0.0}, "post": {"reliability": 1.0},
                 "verdict": verdict}, previews={}, environment={"device": "cpu", "dtype": "float32"})
    workspace.review(a.id, "approve")
    path = workspace.path
    workspace.close()
    assert main(["commit", "-m", "a", "--workspace", str(path)]) == 0
    out = capsys.readouterr().out
    assert (f"note: run {run.id}: generality 0.00 < 0.80 (verdict), which the gate does not check: committed all "
            "the same") in out


def test_a_co_fact_reverted_since_the_batch_was_made_is_named(workspace):
    """Second review: F on batch {F, G}; G committed on its own run, then reverted. The batch
    predates G's revert, so it is held back by G, not by F's own history."""
    f, g = make_facts(2)
    workspace.add_facts([f, g])
    batch = record_batch_run(workspace, [f, g])
    workspace.review(f.id, "approve")
    alone = record_hand_run(workspace, g)
    workspace.review(g.id, "approve")
    committed = workspace.commit("g", [alone.id])
    revert = workspace.revert([committed.id], "take g out").commit
    item = next(i for i in workspace.left_out() if i.fact_id == f.id)
    assert item == LeftOut(f.id, batch.id, (Blocker(g.id, f"its edit was reverted in {revert.short_id} after run "
                                                           f"{batch.id} was made"),))
    said = explain_left_out(item, lambda fact_id: fact_id[:6])
    assert said.endswith("A run commits whole: preview this fact on its own"), said


def test_a_batch_made_before_the_facts_own_revert_says_preview_again(workspace):
    """Second review: F committed, then batch {F, G} previewed, then F reverted. Approving G would
    not help: the batch predates F's revert, so the advice is to preview F again."""
    f, g = make_facts(2)
    workspace.add_facts([f, g])
    first = record_hand_run(workspace, f)
    workspace.review(f.id, "approve")
    committed = workspace.commit("f", [first.id])
    batch = record_batch_run(workspace, [f, g])
    revert = workspace.revert([committed.id], "take f out").commit
    item = next(i for i in workspace.left_out() if i.fact_id == f.id)
    own = Blocker(f.id, f"its edit was reverted in {revert.short_id} after run {batch.id} was made")
    assert item == LeftOut(f.id, batch.id, (own, Blocker(g.id, "pending")))
    assert explain_left_out(item, lambda fact_id: fact_id[:6]).endswith("preview it again, then commit")


def test_cli_nothing_to_commit_names_the_shared_run_not_a_missing_one(workspace, tmp_path, capsys, monkeypatch):
    """Second review: with every approved fact on a blocked batch run, the commit said "none of the
    approved facts has an uncommitted run (compute one…)", the advice this change replaced."""
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(tmp_path / "config"))
    a, b = make_facts(2)
    workspace.add_facts([a, b])
    batch = record_batch_run(workspace, [a, b])
    workspace.review(a.id, "approve")
    workspace.review(b.id, "reject", "wrong answer")
    path = workspace.path
    workspace.close()
    assert main(["commit", "-m", "a", "--workspace", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"nothing to commit: {a.id[:12]} {a.prompt} -> {a.target_new}: approved on run {batch.id}" in err
    assert "(rejected)" in err and "compute one" not in err
