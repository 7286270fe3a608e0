"""Damaged, empty, foreign, inconsistent and read-only workspace files: each refused with the
ledger's own error naming the file and what to do, nothing written into it; `workspace
recover` copies what is readable into a new file; stale staging folders are cleaned up."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.ledger import SchemaError, Workspace
from core.ledger.errors import DamagedWorkspaceError, ReadOnlyWorkspaceError
from core.ledger.recover import recover_workspace
from tests.core.ledger.helpers import add_run_approve, make_facts

PAGE = 4096


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_sidecars(path: Path) -> bool:
    return not any(path.with_name(f"{path.name}{s}").exists() for s in ("-wal", "-shm", "-journal"))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


@pytest.fixture
def filled(tmp_path, tiny_model_dir) -> Path:
    """A closed workspace with 24 facts in 12 commits (WAL checkpointed into the file)."""
    path = tmp_path / "filled.factsmith"
    with Workspace.create(path, tiny_model_dir("gpt2"), author="alice") as ws:
        facts = make_facts(24)
        for i in range(0, 24, 2):
            add_run_approve(ws, facts[i : i + 2], seed=i)
            ws.commit(f"commit {i // 2}")
    assert _no_sidecars(path) and path.stat().st_size > 12 * PAGE
    return path


def _overwrite_pages(path: Path, count: int = 5, seed: int = 0) -> list[int]:
    """Random bytes over ``count`` 4 KiB pages (never page 1, the header)."""
    rng = random.Random(seed)
    pages = sorted(rng.sample(range(1, path.stat().st_size // PAGE), count))
    with path.open("r+b") as fh:
        for page in pages:
            fh.seek(page * PAGE)
            fh.write(rng.randbytes(PAGE))
    return pages


# -- overwritten pages ------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_overwritten_pages_are_refused_on_open(filled, seed):
    _overwrite_pages(filled, seed=seed)
    before = _digest(filled)
    with pytest.raises(DamagedWorkspaceError, match="is damaged") as caught:
        Workspace.open(filled)
    message = str(caught.value)
    assert str(filled) in message and "workspace check" in message and "workspace recover" in message
    assert _digest(filled) == before


def test_no_command_works_on_or_writes_into_a_damaged_file(filled, capsys):
    _overwrite_pages(filled)
    before = _digest(filled)
    fact = make_facts(1, start=100)[0]
    facts_file = filled.with_name("more.jsonl")
    facts_file.write_text(json.dumps(fact.to_dict()) + "\n")
    for argv in (["queue"], ["log"], ["review", "abc", "--approve"], ["commit", "-m", "x"],
                 ["import", str(facts_file)], ["workspace", "info"]):
        code, out, err = run_cli(capsys, *argv, "--workspace", str(filled))
        assert code == 2 and out == "", argv
        assert str(filled) in err and "is damaged" in err and "recover" in err, argv
    assert _digest(filled) == before
    code, _, err = run_cli(capsys, "workspace", "check", "--workspace", str(filled))
    assert code == 2 and "problem" in err
    assert _digest(filled) == before


def _rows(path: Path, sql: str) -> set[tuple]:
    conn = sqlite3.connect(path)
    try:
        return set(conn.execute(sql).fetchall())
    finally:
        conn.close()


FACTS = "SELECT id, body FROM facts"
COMMITS = "SELECT id, seq, state_fingerprint FROM commits WHERE message NOT LIKE '%(recovered: no commit%'"


@pytest.mark.parametrize("seed", range(4))
def test_recover_copies_what_is_readable(filled, capsys, seed):
    facts, commits = _rows(filled, FACTS), _rows(filled, COMMITS)
    _overwrite_pages(filled, seed=seed)
    before = _digest(filled)
    out = filled.with_name("recovered.factsmith")
    code, text, err = run_cli(capsys, "workspace", "recover", "--workspace", str(filled), "--out", str(out), "--json")
    assert _digest(filled) == before
    if code == 2:  # the damage hit SQLite's own table list: nothing to copy, and it says so
        assert "cannot read even its list of tables" in err and "backup" in err and not out.exists()
        return
    report = json.loads(text)
    assert not all(t["complete"] for t in report["tables"])  # the report says which tables were damaged
    assert sum(t["copied"] for t in report["tables"]) > 0
    assert _rows(out, FACTS) <= facts and _rows(out, COMMITS) <= commits  # nothing invented or garbled
    with Workspace.open(out) as ws:  # a healthy file: passes quick_check, opens for writing
        assert ws.check() == list(report["problems"])
        ws.add_facts(make_facts(1, start=700))


def test_recover_of_an_intact_workspace_keeps_everything(filled, tmp_path):
    with Workspace.open(filled) as ws:
        log, queue = [c.to_dict() for c in ws.log()], [f.to_dict() for f in ws.queue()]
        history = [h.to_dict() for h in ws.history()]
    report = recover_workspace(filled, tmp_path / "copy.factsmith")
    assert report.problems == () and all(t.unreadable == 0 for t in report.tables)
    with Workspace.open(tmp_path / "copy.factsmith") as ws:
        assert [c.to_dict() for c in ws.log()] == log
        assert [f.to_dict() for f in ws.queue()] == queue
        assert [h.to_dict() for h in ws.history()] == history
        assert ws.check() == []
        ws.add_facts(make_facts(1, start=500))  # and it takes new writes, triggers in place


def test_recover_refuses_an_existing_target(filled):
    with pytest.raises(ValueError, match="already exists"):
        recover_workspace(filled, filled)


# -- empty and foreign files ------------------------------------------------------------

def test_a_read_on_an_empty_file_writes_nothing(tmp_path, capsys):
    empty = tmp_path / "empty.factsmith"
    empty.touch()
    for argv in (["queue"], ["log"], ["workspace", "info"], ["workspace", "check"], ["review", "--undo"]):
        code, _, err = run_cli(capsys, *argv, "--workspace", str(empty))
        assert code == 2 and str(empty) in err and "empty file" in err and "workspace init" in err
    assert empty.stat().st_size == 0 and _no_sidecars(empty)
    with pytest.raises(SchemaError, match="empty file"):
        Workspace.open(empty)


def test_an_empty_file_can_still_be_initialised(tmp_path, tiny_model_dir, capsys):
    empty = tmp_path / "empty.factsmith"
    empty.touch()
    code, _, _ = run_cli(capsys, "workspace", "init", str(empty), "--model", str(tiny_model_dir("gpt2")))
    assert code == 0 and empty.stat().st_size > 0


@pytest.fixture
def foreign(tmp_path) -> Path:
    path = tmp_path / "other-app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(50)])
    conn.close()
    return path


def test_a_foreign_database_is_refused_and_left_byte_identical(foreign, capsys, tmp_path):
    before = _digest(foreign)
    facts_file = tmp_path / "f.jsonl"
    facts_file.write_text(json.dumps(make_facts(1)[0].to_dict()) + "\n")
    for argv in (["queue"], ["log"], ["import", str(facts_file)], ["commit", "-m", "x"], ["workspace", "check"],
                 ["workspace", "recover", "--out", str(tmp_path / "new.factsmith")]):
        code, _, err = run_cli(capsys, *argv, "--workspace", str(foreign))
        assert code == 2 and str(foreign) in err and "not a Factsmith workspace" in err, argv
    assert _digest(foreign) == before and _no_sidecars(foreign)
    assert not (tmp_path / "new.factsmith").exists()
    with sqlite3.connect(foreign) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # never switched to WAL
    conn.close()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "notes.factsmith"
    path.write_text("just some text\n" * 100)
    before = _digest(path)
    with pytest.raises(SchemaError, match="not an SQLite database"):
        Workspace.open(path)
    assert _digest(path) == before


# -- inconsistent schema ----------------------------------------------------------------

def _raw(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


def test_a_schema_table_behind_its_tables_is_a_clear_error(filled, capsys):
    _raw(filled, "DELETE FROM schema_migrations WHERE version > 1")
    with pytest.raises(SchemaError, match=r"records version 1.*already has .*imports.* from a later version"):
        Workspace.open(filled)
    code, _, err = run_cli(capsys, "queue", "--workspace", str(filled))
    assert code == 2 and str(filled) in err and "recover" in err and "already exists" not in err


def test_a_missing_table_is_a_clear_error(filled, capsys):
    _raw(filled, "DROP TABLE tags")
    code, _, err = run_cli(capsys, "log", "--workspace", str(filled))
    assert code == 2 and str(filled) in err and "missing tags" in err


def test_recover_rebuilds_an_inconsistent_workspace(filled, tmp_path):
    _raw(filled, "DROP TABLE tags")
    report = recover_workspace(filled, tmp_path / "fixed.factsmith")
    with Workspace.open(tmp_path / "fixed.factsmith") as ws:
        assert len(ws.log()) == 13 and ws.tags() == [] and report.problems == ()


# -- read-only files --------------------------------------------------------------------

def test_write_commands_refuse_a_read_only_file_and_reads_work(filled, capsys, monkeypatch):
    from core.ledger import opening

    real = opening.writable
    monkeypatch.setattr(opening, "writable", lambda p: False if Path(p) == filled else real(p))
    code, _, err = run_cli(capsys, "commit", "-m", "x", "--workspace", str(filled))
    assert code == 2 and "is read-only" in err and str(filled) in err and "chmod" in err
    code, out, _ = run_cli(capsys, "log", "--workspace", str(filled), "--json")
    assert code == 0 and len(json.loads(out)) == 13


def test_a_write_through_a_read_only_open_is_our_error(filled):
    fact = make_facts(1, start=300)[0]
    with Workspace.open(filled, read_only=True) as ws, pytest.raises(ReadOnlyWorkspaceError, match="is read-only"):
        ws.add_facts([fact])
    with Workspace.open(filled) as ws:
        assert all(f.id != fact.id for f in ws.queue())


@pytest.mark.skipif(sys.platform == "win32" or __import__("os").geteuid() == 0,
                    reason="root writes read-only files anyway; covered above by the writable() check")
def test_a_chmod_read_only_file(filled, capsys):
    filled.chmod(0o444)
    try:
        code, _, err = run_cli(capsys, "review", "--undo", "--workspace", str(filled))
        assert code == 2 and "is read-only" in err
    finally:
        filled.chmod(0o644)


# -- stale staging folders --------------------------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_staging_folders_are_removed_on_the_next_save(tmp_path, tiny_lm):
    from core.model.saving import STAGING_MARK, save_model_folder

    stale, live = tmp_path / ".checkout-abc123", tmp_path / ".checkout-def456"
    for folder, pid in ((stale, _dead_pid()), (live, __import__("os").getpid())):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"\0" * 100_000)
        (folder / STAGING_MARK).write_text(str(pid))
    other = tmp_path / ".not-ours"
    other.mkdir()
    save_model_folder(tiny_lm("gpt2"), tmp_path / "next-checkout")
    assert not stale.exists() and live.exists() and other.exists()
    assert not (tmp_path / "next-checkout" / STAGING_MARK).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".checkout-def456", ".not-ours", "next-checkout"]


def test_recover_counts_the_rows_it_copied_not_the_rows_it_read():
    """Review 46: rows the new file's keys refused (INSERT OR IGNORE) were counted as copied, so a
    lost row went unsaid; they are counted apart and the CLI says so."""
    from core.cli.commands_ledger import _render_recover
    from core.ledger.recover import _copy_table

    src, dst = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    src.execute("CREATE TABLE tags (name TEXT, commit_id TEXT)")  # a damaged index: two rows, one key
    src.executemany("INSERT INTO tags VALUES (?, ?)", [("v1", "a"), ("v1", "b"), ("v2", "c")])
    dst.execute("CREATE TABLE tags (name TEXT PRIMARY KEY, commit_id TEXT)")
    found = _copy_table(src, dst, "tags")
    assert (found.copied, found.refused) == (2, 1)
    said = _render_recover({"source": "a", "out": "b", "schema_version": 1, "problems": [],
                            "tables": [found.__dict__]})
    assert "tags                   2 rows copied; 1 rows not copied (their key was already copied)" in said
