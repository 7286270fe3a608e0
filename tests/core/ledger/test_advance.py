"""Moving a live model to the commit just made on it (the window's commit path): the commit's
edits added to the parent's weights, checked at both ends, all or nothing."""

import pytest
import torch

from core.ledger.errors import VerificationError
from core.model.fingerprint import state_fingerprint
from tests.core.ledger.helpers import add_run_approve, make_facts


def test_advance_gives_the_bits_a_checkout_gives_and_records_them(workspace):
    add_run_approve(workspace, make_facts(1))
    first = workspace.commit("one")
    live = workspace.checkout(first).lm  # fresh from the base: its bits are recorded
    add_run_approve(workspace, make_facts(2, start=1))
    second = workspace.commit("two more")
    moved = workspace.advance(live, second)
    assert moved.verified is False and moved.runs == 2, "nothing recorded yet for the new state"
    rebuilt = workspace.checkout(second)
    assert rebuilt.verified, "the advanced weights were recorded, and a rebuild from the base meets them"
    assert state_fingerprint(live.model) == state_fingerprint(rebuilt.lm.model) == moved.weights_fingerprint


def test_a_changed_start_is_refused_before_any_weight_moves(workspace):
    add_run_approve(workspace, make_facts(1))
    live = workspace.checkout(workspace.commit("one")).lm
    add_run_approve(workspace, make_facts(1, start=1))
    second = workspace.commit("two")
    with torch.no_grad():
        next(live.model.parameters()).view(-1)[0] += 1.0  # a stray change, e.g. a preview that did not restore
    changed = state_fingerprint(live.model)
    with pytest.raises(VerificationError, match=r"not those recorded for commit .* check out the commit afresh"):
        workspace.advance(live, second)
    assert state_fingerprint(live.model) == changed


def test_a_revert_is_not_advanced_onto(workspace):
    from core.ledger import LedgerError

    add_run_approve(workspace, make_facts(2))
    live = workspace.checkout(workspace.commit("two")).lm
    reverted = workspace.revert(["HEAD"], "undo").commit
    with pytest.raises(LedgerError, match="drops edits"):
        workspace.advance(live, reverted)


def test_a_start_nothing_vouches_for_is_refused_and_a_fresh_load_is_recorded(workspace):
    """The review: with no record for the parent, a stray change went through unchecked. A model
    loaded and checked out by the caller (as the window does) is recorded when it says it is fresh."""
    from core.model.loading import load_model

    add_run_approve(workspace, make_facts(1))
    first = workspace.commit("one")
    add_run_approve(workspace, make_facts(1, start=1))
    second = workspace.commit("two")
    unvouched = workspace.checkout(first, lm=load_model(workspace.base.path)).lm  # records nothing
    with pytest.raises(VerificationError, match=r"no weights are recorded for commit \w+"):
        workspace.advance(unvouched, second)
    live = workspace.checkout(first, lm=load_model(workspace.base.path), loaded_fresh=True).lm
    assert workspace.advance(live, second).runs == 1


def test_a_failure_after_the_replay_takes_the_replay_back(workspace, monkeypatch):
    """Review 46: only a mismatch undid the replay; a busy workspace (another process writing)
    or a cancel while the new weights were recorded left the live model holding the commit
    while the window still named its parent."""
    import core.ledger.materialise as materialise
    from core.ledger.errors import WorkspaceBusyError

    add_run_approve(workspace, make_facts(1))
    live = workspace.checkout(workspace.commit("one")).lm
    start = state_fingerprint(live.model)
    add_run_approve(workspace, make_facts(1, start=1))
    second = workspace.commit("two")

    def busy(*_args, **_kwargs):
        raise WorkspaceBusyError("another process kept it locked")

    pristine = workspace.checkout("ROOT").lm  # for a checkout onto the caller's pristine base below
    base = state_fingerprint(pristine.model)
    monkeypatch.setattr(materialise, "check_weights", busy)
    replayed = []
    real_replay = materialise.replay
    monkeypatch.setattr(materialise, "replay", lambda *a, **k: replayed.append(1) or real_replay(*a, **k))
    with pytest.raises(WorkspaceBusyError):
        workspace.advance(live, second)
    assert state_fingerprint(live.model) == start
    with pytest.raises(WorkspaceBusyError):
        workspace.checkout(second, lm=pristine)
    assert state_fingerprint(pristine.model) == base
    assert len(replayed) == 2, "both failed after their replay, which was taken back"
