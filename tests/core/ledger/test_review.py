"""Review decisions: history rows, a note to reject, undo as a new row, committed facts locked."""

import pytest

from core.ledger import ReviewError, Workspace
from tests.core.ledger.helpers import add_run_approve, make_fact, make_facts, record_hand_run


def test_decisions_are_history_rows(workspace):
    fact = make_fact(1)
    workspace.add_facts([fact])
    workspace.review(fact.id[:8], "approve")
    workspace.review(fact.id, "rework", note="say it better")
    workspace.review(fact.id, "reject", note="wrong source")
    moves = [(h.from_status, h.to_status, h.note, h.author) for h in workspace.history(fact.id)]
    assert moves == [(None, "pending", "added", "alice"), ("pending", "approved", "", "alice"),
                     ("approved", "needs-rework", "say it better", "alice"),
                     ("needs-rework", "rejected", "wrong source", "alice")]
    assert workspace.fact(fact.id).status == "rejected"


def test_reject_needs_a_note(workspace):
    fact = make_fact(1)
    workspace.add_facts([fact])
    with pytest.raises(ReviewError, match=r"needs a note"):
        workspace.review(fact.id, "reject")
    assert workspace.fact(fact.id).status == "pending"


def test_same_decision_twice_and_unknown_decision(workspace):
    fact = make_fact(1)
    workspace.add_facts([fact])
    workspace.review(fact.id, "approve")
    with pytest.raises(ReviewError, match=r"already approved"):
        workspace.review(fact.id, "approve")
    with pytest.raises(ReviewError, match=r"unknown decision 'bless'"):
        workspace.review(fact.id, "bless")


def test_unknown_and_ambiguous_fact_ids_are_named(workspace):
    workspace.add_facts(make_facts(40))
    with pytest.raises(ValueError, match=r"no fact 'ffffffff'"):
        workspace.review("ffffffff", "approve")
    with pytest.raises(ValueError, match=r"too short"):
        workspace.review("a", "approve")


def test_undo_appends_the_opposite_move(workspace):
    a, b = make_fact(1), make_fact(2)
    workspace.add_facts([a, b])
    first = workspace.review(a.id, "approve")
    workspace.review(b.id, "reject", note="no")
    undone = workspace.undo_review()
    assert (undone.fact_id, undone.from_status, undone.to_status) == (b.id, "rejected", "pending")
    again = workspace.undo_review()  # the next decision back
    assert (again.fact_id, again.to_status, again.undoes) == (a.id, "pending", first.id)
    with pytest.raises(ReviewError, match=r"no review decision left to undo"):
        workspace.undo_review()
    assert len(workspace.history()) == 2 + 4  # nothing rewritten


def test_undo_is_per_author(workspace):
    fact = make_fact(1)
    workspace.add_facts([fact])
    workspace.review(fact.id, "approve")
    with Workspace.open(workspace.path, author="bob") as bob, pytest.raises(ReviewError, match=r"bob has no"):
        bob.undo_review()


def test_a_committed_fact_is_locked_until_reverted(workspace):
    fact = make_fact(1)
    add_run_approve(workspace, [fact])
    workspace.commit("one")
    with pytest.raises(ReviewError, match=r"part of HEAD.*revert"):
        workspace.review(fact.id, "reject", note="changed my mind")
    with pytest.raises(ReviewError, match=r"part of HEAD"):
        workspace.undo_review()


def test_undo_passes_over_a_committed_decision_to_the_last_one_not_committed(workspace):
    """Trial 44: reject A, approve B, commit B: Undo said B's edit was committed, though the README
    says it takes back the last decision not yet committed (A's rejection)."""
    a, b = make_fact(1), make_fact(2)
    workspace.add_facts([a])
    workspace.review(a.id, "reject", note="wrong source")
    add_run_approve(workspace, [b])
    workspace.commit("b")
    undone = workspace.undo_review()
    assert (undone.fact_id, undone.from_status, undone.to_status) == (a.id, "rejected", "pending")
    with pytest.raises(ReviewError, match=r"part of HEAD"):
        workspace.undo_review()  # only the committed one is left
    assert workspace.fact(b.id).status == "approved"


def test_approving_a_conflicting_fact_is_refused(workspace):
    add_run_approve(workspace, [make_fact(1)])
    other = make_fact(1, target="Elsewhere")
    workspace.add_facts([other], allow_conflicts=True)
    with pytest.raises(ReviewError, match=r"already answers"):
        workspace.review(other.id, "approve")


def test_undo_never_takes_back_an_approval_committed_and_reverted_since(workspace):
    """Trial 47: after a revert, Undo turned the reverted fact's committed approval back into
    "pending", erasing from its status that it had been committed. Undo passes over it."""
    from core.model.loading import LoadOptions

    a, b = make_fact(1), make_fact(2)
    workspace.add_facts([a])
    workspace.review(a.id, "reject", note="wrong source")
    add_run_approve(workspace, [b])
    workspace.commit("b")
    workspace.revert([b.id], "drop b", options=LoadOptions(device="cpu"))
    change, blocked = workspace.undo_target()
    assert (change.fact_id, blocked) == (a.id, None)
    workspace.undo_review()  # a's rejection, not b's committed approval
    assert workspace.fact(a.id).status == "pending" and workspace.fact(b.id).status == "approved"
    assert workspace.undo_target()[1] == "reverted"
    with pytest.raises(ReviewError, match=r"committed and reverted since; preview the fact again, or reject it"):
        workspace.undo_review()
    assert workspace.fact(b.id).status == "approved"


def test_undo_passes_over_every_earlier_decision_of_a_fact_committed_and_reverted(workspace):
    """Review 48: reject B; reject A, then approve A's run; commit; revert A. Undo passed over A's
    committed approval to A's own earlier rejection, which it then refused on every try ("it has
    since become approved"), so B's rejection could never be undone."""
    from core.model.loading import LoadOptions

    a, b = make_fact(1), make_fact(2)
    workspace.add_facts([a, b])
    workspace.review(b.id, "reject", note="wrong source")
    workspace.review(a.id, "reject", note="not yet")
    record_hand_run(workspace, a)
    workspace.review(a.id, "approve")
    workspace.commit("a")
    workspace.revert([a.id], "drop a", options=LoadOptions(device="cpu"))
    change, blocked = workspace.undo_target()
    assert (change.fact_id, blocked) == (b.id, None)
    workspace.undo_review()
    assert workspace.fact(b.id).status == "pending" and workspace.fact(a.id).status == "approved"
