"""`factsmith review A B C --approve`: one decision for several facts, all or none (trial 45:
refused as "unrecognized arguments", while `run A B C` takes several)."""

import json

import pytest

from core.cli.main import main
from core.ledger import open_workspace
from core.ledger.errors import ReviewError
from tests.core.ledger.helpers import make_facts, record_hand_run


def _statuses(path) -> dict[str, str]:
    with open_workspace(path) as ws:
        return {r.fact.id: r.status for r in ws.queue()}


def test_several_facts_take_the_same_decision(workspace, capsys):
    facts = make_facts(3)
    workspace.add_facts(facts)
    for fact in facts:
        record_hand_run(workspace, fact)
    path = str(workspace.path)
    workspace.close()
    assert main(["review", "--workspace", path, *(f.id[:12] for f in facts), "--approve"]) == 0
    assert capsys.readouterr().out.count("pending -> approved") == 3
    assert set(_statuses(path).values()) == {"approved"}
    assert main(["review", "--workspace", path, facts[0].id[:12], facts[1].id[:12], "--reject", "--note",
                 "wrong", "--json"]) == 0
    assert [c["to_status"] for c in json.loads(capsys.readouterr().out)["changes"]] == ["rejected", "rejected"]


def test_one_refusal_changes_none_of_them(workspace, capsys):
    with_run, without = make_facts(2)
    workspace.add_facts([with_run, without])
    run = record_hand_run(workspace, with_run)  # it edits the first only: approving it for the second is refused
    path = str(workspace.path)
    workspace.close()
    assert main(["review", "--workspace", path, with_run.id[:12], without.id[:12], "--approve", "--run",
                 str(run.id)]) == 2
    err = capsys.readouterr().err
    assert f"fact {without.id[:12]}:" in err and "nothing was recorded" in err
    assert set(_statuses(path).values()) == {"pending"}
    assert main(["review", "--workspace", path, with_run.id[:12], "nonexistent", "--approve"]) == 2
    assert set(_statuses(path).values()) == {"pending"}


def test_a_refusal_leaves_no_history_rows_behind(workspace):
    """One transaction: nothing of the decisions before the refused one is in the history either."""
    with_run, without = make_facts(2)
    workspace.add_facts([with_run, without])
    run = record_hand_run(workspace, with_run)
    before = workspace.history()
    with pytest.raises(ReviewError, match="nothing was recorded"):
        workspace.review_many([with_run.id, without.id], "approve", run_id=run.id)
    assert workspace.history() == before
