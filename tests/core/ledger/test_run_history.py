"""Trial 3: a run's own history (the commit that applied it, the revert that dropped it) and
reverted facts said as such in the export, never as plain "approved"."""

import dataclasses
import json

from core.model.loading import LoadOptions
from tests.core.ledger.helpers import add_run_approve, hand_delta, make_facts, record_hand_run

CPU = LoadOptions(device="cpu")


def test_each_run_names_its_own_commit_and_revert(workspace, tmp_path):
    a, b = make_facts(2)
    run_a, run_b = add_run_approve(workspace, [a, b])
    edits = workspace.commit("two edits")
    revert = workspace.revert([b.id], "drop b", options=CPU).commit
    fresh = record_hand_run(workspace, b, seed=3)  # a new preview of the reverted fact
    assert workspace.run_commits(run_a.id) == (edits, None), "committed in the edits commit, not the revert"
    applied, dropped = workspace.run_commits(run_b.id)
    assert (applied.id, dropped.id) == (edits.id, revert.id)
    assert workspace.run_commits(fresh.id) == (None, None), "never committed"
    assert {f: c.id for f, c in workspace.reverted_facts().items()} == {b.id: revert.id}

    assert workspace.export(tmp_path / "out.jsonl").reverted_left_out == 1, "trial 34: not shipped, but counted"
    workspace.export(tmp_path / "out.jsonl", statuses=None)  # every fact: the reverted one marked
    rows = {r["subject"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert len(rows) == 2, "no row dropped"
    assert (rows[b.subject]["committed"], rows[b.subject]["reverted_in"]) == (False, revert.id)
    assert (rows[a.subject]["committed"], rows[a.subject]["reverted_in"]) == (True, "")

    again = workspace.commit("b again", [fresh.id])
    assert workspace.reverted_facts() == {}, "committed again: no longer reverted"
    assert workspace.run_commits(fresh.id) == (again, None)


def test_after_a_revert_no_older_run_slips_in_under_the_old_approval(workspace):
    """Trial 4: GRACE previewed, then ROME, ROME approved and committed, then reverted: the commit
    offered the GRACE run, never approved, under the ROME approval. Now nothing is offered until
    the fact is previewed again ("preview again to re-apply"), and then that new run."""
    (fact,) = make_facts(1)
    workspace.add_facts([fact])
    never_approved = record_hand_run(workspace, fact, seed=1)
    approved = record_hand_run(workspace, fact, seed=2)
    workspace.review(fact.id, "approve")
    assert [r.id for r in workspace.commit_candidates()] == [approved.id]
    workspace.commit("the approved edit")
    workspace.revert([fact.id], "drop it", options=CPU)
    assert workspace.commit_candidates() == [], f"run {never_approved.id} was never approved"
    fresh = record_hand_run(workspace, fact, seed=3)
    assert [r.id for r in workspace.commit_candidates()] == [fresh.id]


def test_a_preview_made_before_the_revert_is_not_taken_after_it(workspace):
    """Reviewer's finding: approved on ROME, GRACE previewed only to look, ROME committed and
    reverted: GRACE (made before the revert) must not be committed under the ROME approval."""
    (fact,) = make_facts(1)
    workspace.add_facts([fact])
    approved = record_hand_run(workspace, fact, seed=1)
    workspace.review(fact.id, "approve")
    looked_at = record_hand_run(workspace, fact, seed=2)
    assert [r.id for r in workspace.commit_candidates()] == [approved.id]
    workspace.commit("the approved edit")
    workspace.revert([fact.id], "drop it", options=CPU)
    assert workspace.commit_candidates() == [], f"run {looked_at.id} was made before the revert"
    fresh = record_hand_run(workspace, fact, seed=3)
    assert [r.id for r in workspace.commit_candidates()] == [fresh.id]


def test_a_fact_approved_on_a_run_it_shares_with_a_pending_fact_takes_its_own_newest_run(workspace):
    """The approved run also edits a fact still pending, so it can never be committed; a run of
    the approved fact alone is taken instead of leaving it stuck."""
    a, b = make_facts(2)
    workspace.add_facts([a, b])
    both = dataclasses.replace(hand_delta(a), fact_ids=(a.id, b.id))
    workspace.record_run(facts=[a, b], delta=both, computed_on=workspace.head().state_fingerprint, hparams={"seed": 9})
    workspace.review(a.id, "approve")
    alone = record_hand_run(workspace, a, seed=4)
    assert [r.id for r in workspace.commit_candidates()] == [alone.id]
