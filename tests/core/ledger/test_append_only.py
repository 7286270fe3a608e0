"""The database itself refuses to change or remove the record: commits, runs, history..."""

import sqlite3

import pytest

from tests.core.ledger.helpers import add_run_approve, make_facts

APPEND_ONLY = {
    "commits": "message = 'rewritten'",
    "commit_runs": "position = position + 100",
    "runs": "method = 'other'",
    "run_facts": "position = position + 100",
    "deltas": "size = 0",
    "status_history": "note = 'rewritten'",
    "tags": "name = 'moved'",
    "imports": "source = 'elsewhere'",
    "weights": "weights_fingerprint = 'forged'",
    "base_models": "fingerprint = 'forged'",
}


@pytest.fixture
def full_workspace(workspace):
    facts = make_facts(2)
    add_run_approve(workspace, facts)
    workspace.commit("two edits")
    workspace.tag("v1")
    workspace.checkout("HEAD")  # records the weights fingerprint
    return workspace


@pytest.mark.parametrize("table", sorted(APPEND_ONLY))
def test_update_is_refused(full_workspace, table):
    db = full_workspace._store.db
    assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0
    with pytest.raises(sqlite3.IntegrityError, match=rf"{table} are append-only: rows cannot be changed"):
        db.execute(f"UPDATE {table} SET {APPEND_ONLY[table]}")


@pytest.mark.parametrize("table", sorted(APPEND_ONLY))
def test_delete_is_refused(full_workspace, table):
    with pytest.raises(sqlite3.IntegrityError, match=rf"{table} are append-only: rows cannot be deleted"):
        full_workspace._store.db.execute(f"DELETE FROM {table}")


def test_a_fact_body_cannot_be_rewritten(full_workspace):
    db = full_workspace._store.db
    with pytest.raises(sqlite3.IntegrityError, match=r"facts are fixed"):
        db.execute("UPDATE facts SET body = '{}'")
    with pytest.raises(sqlite3.IntegrityError, match=r"cannot be deleted"):
        db.execute("DELETE FROM facts")


def test_a_status_changes_only_through_a_history_row(full_workspace):
    db = full_workspace._store.db
    with pytest.raises(sqlite3.IntegrityError, match=r"only a status_history row changes a status"):
        db.execute("UPDATE facts SET status = 'rejected'")
    fact_id = db.execute("SELECT id FROM facts LIMIT 1").fetchone()[0]
    db.execute("INSERT INTO status_history (fact_id, author, at, from_status, to_status, note) "
               "VALUES (?, 'x', 'now', 'approved', 'needs-rework', 'by trigger')", (fact_id,))
    assert db.execute("SELECT status FROM facts WHERE id = ?", (fact_id,)).fetchone()[0] == "needs-rework"


def test_drafts_are_scratch_and_may_change(full_workspace):
    draft = full_workspace.save_draft({"subject": "x"})
    full_workspace._store.db.execute("DELETE FROM drafts WHERE id = ?", (draft.id,))
