"""Revert: a new commit without chosen edits, rebuilt from the base in order, verified."""

import pytest

from core.ledger import LedgerError, Workspace
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions
from tests.core.ledger.helpers import add_run_approve, make_facts, record_hand_run

CPU = LoadOptions(device="cpu")


def test_revert_three_of_fifteen_equals_a_fresh_commit_of_the_twelve(tmp_path, tiny_model_dir):
    facts = make_facts(15)
    with Workspace.create(tmp_path / "a.factsmith", tiny_model_dir("gpt2"), author="alice") as ws:
        add_run_approve(ws, facts)
        ws.commit("fifteen")
        reverted = ws.revert([facts[2].id, facts[7].id[:10], facts[11].id], "drop three", options=CPU)
        assert reverted.commit.kind == "revert" and len(reverted.commit.dropped) == 3
        assert ws.show("HEAD").facts == ws.show("HEAD").facts  # stable
        kept = [f.id for f in ws.show("HEAD").facts]
    twelve = [f for i, f in enumerate(facts) if i not in (2, 7, 11)]
    assert kept == [f.id for f in twelve]
    with Workspace.create(tmp_path / "b.factsmith", tiny_model_dir("gpt2"), author="bob") as fresh:
        add_run_approve(fresh, twelve)
        commit = fresh.commit("twelve")
        checkout = fresh.checkout("HEAD", options=CPU)
    assert commit.state_fingerprint == reverted.commit.state_fingerprint
    assert checkout.weights_fingerprint == reverted.weights_fingerprint
    assert state_fingerprint(reverted.lm.model) == reverted.weights_fingerprint


def test_edits_do_not_commute(workspace):
    a, b = make_facts(2)
    add_run_approve(workspace, [a, b])
    workspace.commit("a then b")
    ab = workspace.checkout("HEAD", options=CPU).weights_fingerprint
    workspace.revert([a.id], "drop a", options=CPU)
    again_a = record_hand_run(workspace, a)  # same delta, now after b
    workspace.commit("b then a", [again_a.id])
    ba = workspace.checkout("HEAD", options=CPU)
    assert ba.commit.state_fingerprint != workspace.resolve("HEAD~2").state_fingerprint
    assert ba.weights_fingerprint != ab  # float addition is not associative


def test_revert_a_whole_commit_and_by_run(workspace):
    workspace.checkout("ROOT", options=CPU)  # records the base's weights
    add_run_approve(workspace, make_facts(2))
    first = workspace.commit("first")
    (run,) = add_run_approve(workspace, make_facts(1, start=2))
    workspace.commit("second")
    result = workspace.revert([first.id[:10]], "undo first", options=CPU)
    assert result.commit.dropped == first.applied
    result = workspace.revert([f"run:{run.id}"], "undo second", options=CPU)
    assert workspace.show("HEAD").runs == () and result.runs == 0
    assert result.commit.state_fingerprint == workspace.resolve("ROOT").state_fingerprint
    assert result.verified  # back to the base: checked against the weights recorded for ROOT


def test_revert_refusals_name_the_problem(workspace):
    facts = make_facts(2)
    add_run_approve(workspace, facts[:1])
    workspace.commit("one")
    workspace.add_facts(facts[1:])
    with pytest.raises(LedgerError, match=r"needs a message"):
        workspace.revert([facts[0].id], "")
    with pytest.raises(LedgerError, match=r"not part of HEAD"):
        workspace.revert([facts[1].id], "x")
    with pytest.raises(LedgerError, match=r"run:99: no such run in HEAD"):
        workspace.revert(["run:99"], "x")
    with pytest.raises(LedgerError, match=r"'zzzz' is not a commit reference, a fact id, or run:N"):
        workspace.revert(["zzzz"], "x")
    with pytest.raises(LedgerError, match=r"no edit left in HEAD"):
        workspace.revert(["ROOT"], "x")
    assert workspace.head().message == "one"


def test_a_reverted_fact_can_be_committed_again_after_a_new_run(workspace):
    (fact,) = make_facts(1)
    add_run_approve(workspace, [fact])
    workspace.commit("one")
    workspace.revert([fact.id], "drop", options=CPU)
    with pytest.raises(LedgerError, match=r"nothing to commit"):
        workspace.commit("again")  # its old run was committed once already
    record_hand_run(workspace, fact, seed=1)
    assert len(workspace.commit("again").applied) == 1


def test_a_revert_names_the_kept_edits_computed_on_a_state_that_held_a_dropped_one(workspace):
    import argparse

    from core.cli.commands_ledger import built_on_dropped_rows, show_commit
    from core.cli.ledger_render import render_materialised, render_show

    early = add_run_approve(workspace, make_facts(2))
    first = workspace.commit("first")
    (later,) = add_run_approve(workspace, make_facts(1, start=2))  # computed on first's state
    workspace.commit("second")
    add_run_approve(workspace, make_facts(1, start=3))  # not committed: not in the revert's state
    result = workspace.revert([f"run:{early[0].id}"], "drop one of the first", options=CPU)
    assert workspace.built_on_dropped(result.commit) == {later.id: (early[0].id,)}, "early[1] was computed on ROOT"
    assert workspace.built_on_dropped(first) == {}, "not a revert: nothing dropped"
    (row,) = built_on_dropped_rows(workspace, result.commit)  # what `factsmith revert` reports
    assert row["run"] == later.id and row["held"] == [early[0].id] and row["method"] == later.method
    assert row["facts"] == [workspace.fact(f).fact.short_id for f in later.fact_ids]
    again = workspace.revert([f"run:{later.id}"], "drop the later one", options=CPU)
    assert workspace.built_on_dropped(again.commit) == {}, "the one kept was computed on ROOT"
    text = render_materialised({**result.to_dict(), "dropped": [early[0].id], "message": "m", "built_on_dropped": [
        {"run": later.id, "held": [early[0].id], "method": "rome", "facts": ["abc123"]}]})
    assert f"run {later.id} (rome, fact abc123) was computed on a state that held reverted run {early[0].id}" in text
    assert f"factsmith recompute run:{later.id} -m MESSAGE, then factsmith commit" in text
    # `factsmith show` of the revert commit says it too (trial 32), and of any other commit nothing
    shown = {ref: show_commit(argparse.Namespace(workspace=str(workspace.path), ref=ref, author=None))
             for ref in (result.commit.id, first.id)}
    assert shown[result.commit.id]["built_on_dropped"] == [row] and shown[first.id]["built_on_dropped"] == []
    assert f"note: run {later.id} ({later.method}" in render_show(shown[result.commit.id])
    assert "note:" not in render_show(shown[first.id])


def test_one_fact_of_a_batch_run_is_not_reverted_alone(workspace):
    """Review 46: naming one fact of a run that edited several dropped them all, silently. It is
    refused with the others named; naming the run (or every fact of it) drops the run."""
    import dataclasses

    from tests.core.ledger.helpers import hand_delta

    a, b, c = make_facts(3)
    workspace.add_facts([a, b, c])
    delta = dataclasses.replace(hand_delta(a), fact_ids=(a.id, b.id))
    run = workspace.record_run(facts=[a, b], delta=delta, computed_on=workspace.head().state_fingerprint,
                               metrics={}, previews={}, seconds=0.0, environment={})
    for fact in (a, b):
        workspace.review(fact.id, "approve")
    workspace.commit("a batch of two")
    with pytest.raises(LedgerError, match=rf"run {run.id} edited 2 facts together .* also in it: "
                                          rf"{b.short_id} \({b.subject} → {b.target_new}\)\. Name run:{run.id}"):
        workspace.revert([a.id], "drop a only", options=CPU)
    assert len(workspace.head().applied) == 1 and workspace.head().kind != "revert", "nothing was written"
    dropped = workspace.revert([a.id, f"fact:{b.id}"], "drop both", options=CPU).commit
    assert dropped.dropped == (run.id,)

