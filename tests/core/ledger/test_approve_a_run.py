"""An approval records the run it approves: the fact's latest, or an older one the reviewer picks."""

import json

import pytest

from core.ledger import ReviewError
from core.model.loading import LoadOptions
from tests.core.ledger.helpers import make_facts, record_hand_run


def _added(workspace):
    (fact,) = make_facts(1)
    workspace.add_facts([fact])
    return fact


def test_an_approval_records_the_latest_run_by_default(workspace):
    a = _added(workspace)
    record_hand_run(workspace, a, seed=1)
    latest = record_hand_run(workspace, a, seed=2)
    assert workspace.review(a.id, "approve").run_id == latest.id
    assert workspace.history(a.id)[-1].run_id == latest.id


def test_an_older_run_picked_is_what_commit_takes(workspace):
    a = _added(workspace)
    older = record_hand_run(workspace, a, seed=1)
    record_hand_run(workspace, a, seed=2)  # a later preview, with another method, say
    workspace.review(a.id, "approve", run_id=older.id)
    assert [r.id for r in workspace.commit_candidates()] == [older.id]
    assert list(workspace.commit("the older edit").applied) == [older.id]


def test_a_later_preview_does_not_replace_the_approved_run(workspace):
    a = _added(workspace)
    approved = record_hand_run(workspace, a, seed=1)
    workspace.review(a.id, "approve")
    record_hand_run(workspace, a, seed=2)
    assert [r.id for r in workspace.commit_candidates()] == [approved.id]


def test_approving_again_on_another_run_switches_and_undo_switches_back(workspace):
    a = _added(workspace)
    first, second = record_hand_run(workspace, a, seed=1), record_hand_run(workspace, a, seed=2)
    workspace.review(a.id, "approve", run_id=first.id)
    switch = workspace.review(a.id, "approve", run_id=second.id)
    assert (switch.from_status, switch.to_status, switch.run_id) == ("approved", "approved", second.id)
    assert [r.id for r in workspace.commit_candidates()] == [second.id]
    back = workspace.undo_review()
    assert back.run_id == first.id
    assert [r.id for r in workspace.commit_candidates()] == [first.id]


def test_undoing_a_rejection_approves_the_run_approved_before(workspace):
    a = _added(workspace)
    first = record_hand_run(workspace, a, seed=1)
    workspace.review(a.id, "approve")
    record_hand_run(workspace, a, seed=2)
    workspace.review(a.id, "reject", "wrong answer")
    assert workspace.undo_review().run_id == first.id
    assert [r.id for r in workspace.commit_candidates()] == [first.id]


@pytest.mark.parametrize("case", ["other fact's run", "no such run", "same run again", "not an approval",
                                  "committed then reverted"])
def test_a_run_that_cannot_be_approved_is_refused_and_nothing_is_recorded(workspace, case):
    a, b = make_facts(2)
    workspace.add_facts([a, b])
    run_a, run_b = record_hand_run(workspace, a), record_hand_run(workspace, b)
    if case == "committed then reverted":
        workspace.review(a.id, "approve")
        commit = workspace.commit("a")
        workspace.revert([commit.id], "take a out", options=LoadOptions(device="cpu"))
    before = workspace.history(a.id)
    picked, decision, says = {
        "other fact's run": (run_b.id, "approve", f"run {run_b.id} does not edit fact"),
        "no such run": (999, "approve", "does not edit fact"),
        "same run again": (run_a.id, "approve", "already approved on run"),
        "not an approval": (run_a.id, "reject", "only by an approval"),
        "committed then reverted": (run_a.id, "approve", "reverted since; preview the fact again"),
    }[case]
    if case == "same run again":
        workspace.review(a.id, "approve", run_id=run_a.id)
        before = workspace.history(a.id)
    with pytest.raises(ReviewError, match=says):
        workspace.review(a.id, decision, "why", run_id=picked)
    assert workspace.history(a.id) == before


def test_the_cli_approves_a_picked_run_and_says_which(workspace, capsys):
    from core.cli.main import main

    a = _added(workspace)
    older = record_hand_run(workspace, a, seed=1)
    record_hand_run(workspace, a, seed=2)
    path = str(workspace.path)
    workspace.close()
    assert main(["review", "--workspace", path, a.id[:12], "--approve", "--run", str(older.id)]) == 0
    assert f"pending -> approved on run {older.id}" in capsys.readouterr().out
    assert main(["review", "--workspace", path, a.id[:12], "--approve", "--run", str(older.id)]) == 2
    assert "already approved on run" in capsys.readouterr().err
    assert main(["queue", "--workspace", path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "approved"


def test_a_plain_approval_never_takes_a_run_committed_and_reverted_since(workspace):
    """As ``--run`` refuses such a run, so does the default: it takes the latest run not yet
    committed, or none (the commit then leaves the fact out and says why)."""
    a = _added(workspace)
    run = record_hand_run(workspace, a)
    workspace.review(a.id, "approve")
    commit = workspace.commit("a")
    workspace.revert([commit.id], "take a out", options=LoadOptions(device="cpu"))
    workspace.review(a.id, "rework")
    assert workspace.review(a.id, "approve").run_id is None
    assert workspace.approved_without_run() == [a.id]
    again = record_hand_run(workspace, a, seed=3)  # previewed again after the revert: that edit is committed
    assert [r.id for r in workspace.commit_candidates()] == [again.id] and again.id != run.id
    assert workspace.review(a.id, "approve", run_id=again.id).run_id == again.id


def test_undo_back_to_an_approval_recorded_before_schema_5_takes_the_run_it_was_made_on(workspace):
    from core.ledger.db import now

    a = _added(workspace)
    first = record_hand_run(workspace, a, seed=1)
    with workspace._store.writing():  # an approval as schema 4 recorded it: no run
        workspace._store.db.execute(
            "INSERT INTO status_history (fact_id, author, at, from_status, to_status, note) "
            "VALUES (?, 'alice', ?, 'pending', 'approved', '')", (a.id, now()))
    workspace.review(a.id, "reject", "not sure")
    record_hand_run(workspace, a, seed=2)  # a later preview
    assert workspace.undo_review().run_id == first.id
    assert [r.id for r in workspace.commit_candidates()] == [first.id]


def test_the_cli_refuses_run_without_approve(workspace, capsys):
    from core.cli.main import main

    a = _added(workspace)
    run = record_hand_run(workspace, a)
    path = str(workspace.path)
    workspace.close()
    assert main(["review", "--workspace", path, "--undo", "--run", str(run.id)]) == 2
    assert "use it with --approve" in capsys.readouterr().err


def test_approving_again_the_run_a_pre_schema_5_approval_was_made_on_is_refused(workspace):
    from core.ledger.db import now

    a = _added(workspace)
    run = record_hand_run(workspace, a)
    with workspace._store.writing():  # an approval as schema 4 recorded it: no run
        workspace._store.db.execute(
            "INSERT INTO status_history (fact_id, author, at, from_status, to_status, note) "
            "VALUES (?, 'alice', ?, 'pending', 'approved', '')", (a.id, now()))
    with pytest.raises(ReviewError, match=f"already approved on run {run.id}"):
        workspace.review(a.id, "approve", run_id=run.id)
