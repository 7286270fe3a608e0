"""A workspace made by an older schema opens after an explicit migration, data intact."""

import sqlite3
from pathlib import Path

from core.ledger import Workspace
from core.ledger.schema import MIGRATIONS, SCHEMA_VERSION
from tests.core.ledger.helpers import make_fact, record_hand_run

V1_SQL = Path(__file__).with_name("data") / "schema_v1.sql"


def _v1_workspace(path: Path, model_dir: Path, fingerprint: str):
    """A version-1 workspace built by hand: one base model, a fact, its history and the root commit."""
    fact = make_fact(1)
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SQL.read_text())
        conn.execute("INSERT INTO base_models VALUES (1, 'tiny', ?, ?, 'gpt2', '2025-01-01')",
                     (str(model_dir), fingerprint))
        conn.execute("INSERT INTO facts VALUES (?, ?, ?, ?, ?, 'pending', '2025-01-01', 'old')",
                     (fact.id, fact.canonical_json(), fact.subject, fact.prompt, fact.target_new))
        conn.execute("INSERT INTO status_history (fact_id, author, at, from_status, to_status, note) "
                     "VALUES (?, 'old', '2025-01-01', NULL, 'pending', 'added')", (fact.id,))
        from core.ledger.state import state_fingerprint

        conn.execute("INSERT INTO commits VALUES ('r00t', 0, NULL, 1, 'root', 'old', 'base', '2025-01-01', ?, 0, 0)",
                     (state_fingerprint(fingerprint, []),))
    conn.close()
    return fact


def test_v1_workspace_opens_through_migration(tmp_path, tiny_model_dir):
    from core.model.fingerprint import folder_fingerprint

    folder = tiny_model_dir("gpt2")
    path = tmp_path / "old.factsmith"
    fact = _v1_workspace(path, folder, folder_fingerprint(folder))
    with Workspace.open(path, author="alice") as ws:
        assert ws.schema_version == SCHEMA_VERSION == 6
        assert [r.id for r in ws.queue()] == [fact.id]
        assert ws.history(fact.id)[0].author == "old"
        # The new tables work: drafts, imports, and a run then a commit on the migrated data.
        ws.save_draft({"subject": "half typed"})
        ws.review(fact.id, "approve")
        record_hand_run(ws, fact)
        assert ws.commit("after migration").parent_id == "r00t"
        assert ws.check() == []
    assert (tmp_path / "old.factsmith.v1.bak").is_file()  # the copy taken before migrating
    with sqlite3.connect(tmp_path / "old.factsmith.v1.bak") as backup:
        assert backup.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == 1


def test_migrations_are_recorded_once_and_in_order(workspace):
    rows = workspace._store.all("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == [m.version for m in MIGRATIONS]
    path = workspace.path
    workspace.close()
    with Workspace.open(path) as again:  # opening a current workspace migrates nothing
        assert len(again._store.all("SELECT version FROM schema_migrations")) == len(MIGRATIONS)
    assert not list(path.parent.glob("*.bak"))


def test_the_frozen_v1_file_matches_migration_one():
    """The hand-built v1 must be what migration 1 really made, or the test above proves nothing."""
    def schema(statements):
        conn = sqlite3.connect(":memory:")
        for sql in statements:
            conn.execute(sql)
        found = {(t, n) for t, n in conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
        conn.close()
        return found

    frozen = sqlite3.connect(":memory:")
    frozen.executescript(V1_SQL.read_text())
    by_file = {(t, n) for t, n in frozen.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    assert by_file - {("table", "schema_migrations")} == schema(MIGRATIONS[0].statements)


def test_a_read_never_converts_an_older_workspace(tmp_path, tiny_model_dir):
    """Read-only opens (queue, log, info…) refuse a workspace that needs migrating and leave
    its bytes as they were; `workspace upgrade` migrates it, keeping a copy first."""
    import pytest

    from core.cli.main import main
    from core.ledger.errors import SchemaError
    from core.model.fingerprint import folder_fingerprint

    folder = tiny_model_dir("gpt2")
    path = tmp_path / "old.factsmith"
    _v1_workspace(path, folder, folder_fingerprint(folder))
    before = path.read_bytes()
    with pytest.raises(SchemaError, match="workspace upgrade"):
        Workspace.open(path, read_only=True)
    assert main(["queue", "--workspace", str(path)]) == 2
    assert path.read_bytes() == before and not (tmp_path / "old.factsmith.v1.bak").exists()
    assert main(["workspace", "upgrade", "--workspace", str(path)]) == 0
    assert (tmp_path / "old.factsmith.v1.bak").is_file()
    with Workspace.open(path, read_only=True) as ws:
        assert ws.schema_version == SCHEMA_VERSION
