"""Commits: which runs go in, the state fingerprint, log and show."""

import pytest

from core.ledger import LedgerError
from core.ledger.state import state_fingerprint
from tests.core.ledger.helpers import add_run_approve, make_fact, make_facts, record_hand_run


def test_commit_takes_the_latest_run_of_each_approved_fact(workspace):
    a, b, c = make_facts(3)
    workspace.add_facts([a, b, c])
    old_a = record_hand_run(workspace, a, seed=1)
    new_a = record_hand_run(workspace, a, seed=2)
    run_b = record_hand_run(workspace, b)
    record_hand_run(workspace, c)
    workspace.review(a.id, "approve")
    workspace.review(b.id, "approve")
    workspace.review(c.id, "reject", note="no")
    commit = workspace.commit("a and b")
    assert commit.applied == (new_a.id, run_b.id) and old_a.id not in commit.applied
    base = workspace.base.fingerprint
    assert commit.state_fingerprint == state_fingerprint(base, [new_a.delta_sha256, run_b.delta_sha256])
    assert (commit.parent_id, commit.seq, commit.author, commit.kind) == (workspace.resolve("ROOT").id, 1,
                                                                         "alice", "commit")


def test_nothing_to_commit_and_a_message_is_required(workspace):
    with pytest.raises(LedgerError, match=r"needs a message"):
        workspace.commit("  ")
    fact = make_fact(1)
    workspace.add_facts([fact])
    workspace.review(fact.id, "approve")
    with pytest.raises(LedgerError, match=r"nothing to commit.*factsmith run"):
        workspace.commit("empty")


def test_explicit_runs_are_checked(workspace):
    a, b = make_facts(2)
    (run_a,) = add_run_approve(workspace, [a])
    workspace.add_facts([b])
    run_b = record_hand_run(workspace, b)
    with pytest.raises(LedgerError, match=rf"run {run_b.id}: fact {b.id[:12]} is pending, not approved"):
        workspace.commit("b", [run_b.id])
    workspace.commit("a", [run_a.id])
    with pytest.raises(LedgerError, match=r"already committed"):
        workspace.commit("a again", [run_a.id])
    rerun = record_hand_run(workspace, a, seed=5)
    with pytest.raises(LedgerError, match=r"already in HEAD"):
        workspace.commit("a twice", [rerun.id])


def test_commits_stack_linearly_and_log_goes_back(workspace):
    add_run_approve(workspace, make_facts(2))
    first = workspace.commit("first")
    add_run_approve(workspace, make_facts(1, start=2))
    second = workspace.commit("second")
    assert second.parent_id == first.id
    assert [c.message for c in workspace.log()] == ["second", "first", "base model " + workspace.base.name]
    assert [c.id for c in workspace.log("HEAD~1")] == [first.id, workspace.resolve("ROOT").id]
    assert len(workspace.log(limit=1)) == 1


def test_show_lists_the_whole_state(workspace):
    facts = make_facts(3)
    add_run_approve(workspace, facts[:2])
    workspace.commit("first")
    add_run_approve(workspace, facts[2:])
    workspace.commit("second")
    workspace.tag("v2")
    detail = workspace.show("HEAD")
    assert [f.id for f in detail.facts] == [f.id for f in facts]
    assert all(f.committed for f in detail.facts)
    assert detail.tags == ("v2",) and len(detail.runs) == 3
    assert detail.to_dict()["runs"][0]["metrics"]["protocol"] == "test-protocol"
