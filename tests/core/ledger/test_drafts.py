"""Drafts: what the reviewer is typing, kept between sessions."""

import pytest

from core.ledger import LedgerError, Workspace


def test_save_update_list_delete(workspace):
    draft = workspace.save_draft({"subject": "Fra"})
    updated = workspace.save_draft({"subject": "France", "prompt": "The capital of France is"}, draft.id)
    assert updated.id == draft.id and updated.body["subject"] == "France"
    with Workspace.open(workspace.path) as again:
        assert [d.body for d in again.drafts()] == [updated.body]
    workspace.delete_draft(draft.id)
    assert workspace.drafts() == []
    with pytest.raises(LedgerError, match=rf"no draft {draft.id}"):
        workspace.delete_draft(draft.id)
