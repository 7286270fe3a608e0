"""``recover``: copy what is still readable of a damaged workspace into a new file.

The new file gets the schema of the source's version (tables first, triggers after the
rows are in, so history rows are copied as they were), every row SQLite can still read
(a table whose scan fails part-way is read again row by row), the large-delta folder,
then the remaining migrations; the report says what was copied, what could not be read
and what ``workspace check`` finds in the new file.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.ledger import opening
from core.ledger.db import connect, now
from core.ledger.errors import DamagedWorkspaceError, LedgerError
from core.ledger.schema import MIGRATIONS, SCHEMA_VERSION, tables_of

log = logging.getLogger(__name__)

MAX_PROBES = 200_000  # rowids tried one by one after a scan fails
GIVE_UP_AFTER = 2_000  # consecutive rowids missing past the last readable row, when the table's end is unknown


@dataclass(frozen=True)
class TableRecovery:
    table: str
    copied: int
    unreadable: int  # rowids SQLite could not read, before the last row it could
    complete: bool  # the table read in one clean scan
    refused: int = 0  # rows read but not copied: a key the new file already held (a damaged duplicate)


@dataclass(frozen=True)
class RecoverReport:
    source: str
    out: str
    schema_version: int
    tables: tuple[TableRecovery, ...]
    problems: tuple[str, ...]  # `workspace check` of the new file

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "out": self.out, "schema_version": self.schema_version,
                "tables": [t.__dict__ for t in self.tables], "problems": list(self.problems)}


def _source_version(conn: sqlite3.Connection, present: set[str]) -> int:
    try:
        version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
        if version:
            return min(int(version), SCHEMA_VERSION)
    except sqlite3.DatabaseError:
        pass
    fitting = [m.version for m in MIGRATIONS if tables_of(m.version) <= present]  # guess from the tables
    return max(fitting, default=1)


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _max_rowid(conn: sqlite3.Connection, table: str) -> int | None:
    try:
        top = conn.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0]
        return int(top or 0)
    except sqlite3.DatabaseError:
        return None


def _probe(conn: sqlite3.Connection, select: str, start: int, top: int | None) -> tuple[list[tuple], int]:
    """Rows read one rowid at a time from ``start``; (rows, errors before the last row read)."""
    rows, errors, errors_then, misses, rowid = [], 0, 0, 0, start
    while rowid <= start + MAX_PROBES and (rowid <= top if top is not None else misses < GIVE_UP_AFTER):
        try:
            row = conn.execute(f"{select} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            row, errors = None, errors + 1
        if row is None:
            misses += 1
        else:
            rows.append(row)
            misses, errors_then = 0, errors
        rowid += 1
    return rows, errors_then


def salvage(conn: sqlite3.Connection, table: str, columns: list[str]) -> tuple[list[tuple], int, bool]:
    """(readable rows, unreadable rowids, complete): one scan, then row by row past a failure."""
    select = f"SELECT rowid, {', '.join(columns)} FROM {table}"
    rows: list[tuple] = []
    try:
        for row in conn.execute(f"{select} ORDER BY rowid"):
            rows.append(row)
        return [r[1:] for r in rows], 0, True
    except sqlite3.DatabaseError as exc:
        log.warning("%s: scan failed after %d rows (%s); reading row by row", table, len(rows), exc)
    more, unreadable = _probe(conn, select, (rows[-1][0] if rows else 0) + 1, _max_rowid(conn, table))
    return [r[1:] for r in rows + more], unreadable, False


def _statements(version: int, triggers: bool) -> list[str]:
    return [sql for m in MIGRATIONS if m.version <= version for sql in m.statements
            if sql.lstrip().startswith("CREATE TRIGGER") == triggers]


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> TableRecovery:
    try:
        wanted = set(_columns(src, table))
    except sqlite3.DatabaseError:
        return TableRecovery(table, 0, 0, False)
    columns = [c for c in _columns(dst, table) if c in wanted]
    rows, unreadable, complete = salvage(src, table, columns)
    marks = ", ".join("?" for _ in columns)
    before = dst.total_changes
    dst.executemany(f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    copied = dst.total_changes - before  # counted, not assumed: an ignored row is said (review 46)
    return TableRecovery(table, copied, unreadable, complete, len(rows) - copied)


def _build(src: sqlite3.Connection, out: Path, version: int, present: set[str]) -> list[TableRecovery]:
    db = connect(out)
    dst = db.conn
    try:
        dst.execute("PRAGMA foreign_keys = OFF")  # rows arrive table by table; check reports dangling ones
        dst.execute("BEGIN IMMEDIATE")
        for sql in _statements(version, triggers=False):
            dst.execute(sql)
        dst.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                    "applied_at TEXT NOT NULL)")
        dst.executemany("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        [(m.version, m.name, now()) for m in MIGRATIONS if m.version <= version])
        copied = [_copy_table(src, dst, t) for t in _table_order(version) if t in present]
        for sql in _statements(version, triggers=True):
            dst.execute(sql)
        dst.execute("COMMIT")
    finally:
        dst.close()
    return copied


def _table_order(version: int) -> list[str]:
    order = []
    for m in MIGRATIONS:
        order += [t for t in sorted(tables_of(m.version) - tables_of(m.version - 1))]
    return [t for t in order if t in tables_of(version)]


def _ensure_root(store) -> None:
    """A workspace whose commits were all unreadable gets a new root, so it can be written again."""
    from core.ledger.commits import insert_commit
    from core.ledger.state import base_model

    if store.scalar("SELECT COUNT(*) FROM commits"):
        return
    with store.writing():
        insert_commit(store, None, "root", f"base model {base_model(store).name} (recovered: no commit was readable)")


def recover_workspace(source: str | Path, out: str | Path) -> RecoverReport:
    """Copy the readable rows of ``source`` (never written) into the new workspace ``out``."""
    from core.ledger.workspace import Workspace

    source, out = Path(source).expanduser(), Path(out).expanduser()
    if out.exists() or out.with_name(f"{out.name}.deltas").exists():
        raise LedgerError(f"{out} already exists; choose a new file for the recovered workspace")
    opening.check_file(source, read_only=True)
    src = sqlite3.connect(str(source), isolation_level=None)
    try:
        src.execute("PRAGMA query_only = ON")
        try:
            present = opening.tables(src, source)
        except DamagedWorkspaceError:
            raise LedgerError(f"{source}: SQLite cannot read even its list of tables, so nothing can be "
                              f"recovered from it; restore a backup (such as {source.name}.v*.bak)") from None
        if opening.VERSION_TABLE not in present:
            opening.refuse_foreign(src, source)
        version = _source_version(src, present)
        copied = _build(src, out, version, present)
    except BaseException:
        for leftover in (out, out.with_name(f"{out.name}-wal"), out.with_name(f"{out.name}-shm")):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    deltas = source.with_name(f"{source.name}.deltas")
    if deltas.is_dir():
        shutil.copytree(deltas, out.with_name(f"{out.name}.deltas"))
    with Workspace.open(out, verify=False) as ws:  # migrates to the current schema
        _ensure_root(ws._store)
        problems = tuple(ws.check())
    log.info("recovered %s into %s: %d problem(s) remain", source, out, len(problems))
    return RecoverReport(str(source), str(out), version, tuple(copied), problems)
