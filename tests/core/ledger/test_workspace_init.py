"""Creating and opening workspaces: the base model, the root commit, clear refusals."""

import sqlite3

import pytest

from core.ledger import LedgerError, SchemaError, Workspace, resolve_author
from core.ledger.schema import SCHEMA_VERSION
from core.ledger.state import state_fingerprint
from core.model.fingerprint import folder_fingerprint


def test_create_records_base_and_root_commit(workspace, tiny_model_dir):
    folder = tiny_model_dir("gpt2")
    base = workspace.base
    assert base.fingerprint == folder_fingerprint(folder)
    assert (base.architecture, base.path) == ("gpt2", str(folder.resolve()))
    head = workspace.head()
    assert (head.kind, head.seq, head.parent_id) == ("root", 0, None)
    assert head.state_fingerprint == state_fingerprint(base.fingerprint, [])
    assert workspace.schema_version == SCHEMA_VERSION


def test_wal_and_foreign_keys_are_on(workspace):
    db = workspace._store.db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_reopen_sees_the_same_workspace(workspace):
    with Workspace.open(workspace.path, author="bob") as again:
        assert again.head() == workspace.head()
        assert again.author == "bob"


def test_create_refuses_an_existing_file(workspace, tiny_model_dir):
    with pytest.raises(LedgerError, match=r"already exists"):
        Workspace.create(workspace.path, tiny_model_dir("gpt2"))


def test_create_refuses_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(LedgerError, match=r"config.json"):
        Workspace.create(tmp_path / "ws.factsmith", tmp_path)


def test_open_missing_workspace_says_how_to_create_one(tmp_path):
    with pytest.raises(LedgerError, match=r"workspace init"):
        Workspace.open(tmp_path / "nothing.factsmith")


def test_open_refuses_another_sqlite_database(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    with pytest.raises(SchemaError, match=r"not a Factsmith workspace.*songs"):
        Workspace.open(path)


def test_open_refuses_a_file_that_is_not_sqlite(tmp_path):
    path = tmp_path / "notes.factsmith"
    path.write_text("just some text, long enough to not be an empty database file " * 20)
    with pytest.raises(LedgerError, match=r"not a Factsmith workspace"):
        Workspace.open(path)


def test_open_refuses_a_newer_schema(workspace):
    path = workspace.path
    workspace._store.db.execute("INSERT INTO schema_migrations VALUES (99, 'future', 'then')")
    workspace.close()
    with pytest.raises(SchemaError, match=r"schema version 99.*upgrade Factsmith"):
        Workspace.open(path)


def test_author_comes_from_argument_then_environment_then_os(monkeypatch):
    monkeypatch.setenv("FACTSMITH_AUTHOR", "carol")
    assert resolve_author("dave") == "dave"
    assert resolve_author() == "carol"
    monkeypatch.delenv("FACTSMITH_AUTHOR")
    monkeypatch.setattr("getpass.getuser", lambda: "os-user")
    assert resolve_author() == "os-user"
