"""``Workspace.commit_candidates``: what a commit without run ids would take (the GUI's commit dialog)."""

from tests.core.ledger.helpers import make_facts, record_hand_run


def test_candidates_are_what_commit_takes_and_empty_after(workspace):
    a, b, c = make_facts(3)
    workspace.add_facts([a, b, c])
    record_hand_run(workspace, a, seed=1)
    new_a = record_hand_run(workspace, a, seed=2)
    run_b = record_hand_run(workspace, b)
    record_hand_run(workspace, c)
    workspace.review(a.id, "approve")
    workspace.review(b.id, "approve")
    assert [r.id for r in workspace.commit_candidates()] == [new_a.id, run_b.id]
    commit = workspace.commit("a and b")
    assert list(commit.applied) == [new_a.id, run_b.id]
    assert workspace.commit_candidates() == []


def test_stale_runs_name_the_commit_they_were_computed_on(workspace):
    a, b = make_facts(2)
    workspace.add_facts([a, b])
    root = workspace.head()
    run_a, run_b = record_hand_run(workspace, a), record_hand_run(workspace, b)
    assert workspace.stale_runs([run_a, run_b]) == {}
    workspace.review(a.id, "approve")
    workspace.commit("a only", [run_a.id])
    stale = workspace.stale_runs([run_b])
    assert list(stale) == [run_b.id] and stale[run_b.id].id == root.id


def test_approved_facts_without_a_run_are_what_commit_leaves_out(workspace):
    a, b = make_facts(2)
    workspace.add_facts([a, b])
    record_hand_run(workspace, a)
    workspace.review(a.id, "approve")
    workspace.review(b.id, "approve")
    assert workspace.approved_without_run() == [b.id]
    workspace.commit("a")
    assert workspace.approved_without_run() == [b.id]
