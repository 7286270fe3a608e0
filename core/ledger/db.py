"""The workspace's SQLite connection: WAL, foreign keys, a busy timeout and explicit transactions.

Every write goes through ``writing()``: ``BEGIN IMMEDIATE`` takes the write lock up front
(waiting up to the busy timeout), so two processes never interleave a multi-row write and a
reader never sees half of one. Reads that span several queries use ``reading()`` for one
consistent WAL snapshot.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from core.ledger import opening
from core.ledger.errors import LedgerError, WorkspaceBusyError

DEFAULT_BUSY_SECONDS = 5.0


def now() -> str:
    """UTC time with microseconds, ISO 8601: sorts as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def loads(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def busy_error(path: Path, seconds: float) -> WorkspaceBusyError:
    return WorkspaceBusyError(f"workspace {path} is busy: another process kept it locked for more than "
                         f"{seconds:g} s; try again when it has finished")


def connect(path: Path, busy_seconds: float = DEFAULT_BUSY_SECONDS, *, existing: bool = False,
            read_only: bool = False, verify: bool = True) -> Database:
    """Open with the pragmas every workspace connection uses. ``existing``: the file must
    already be a workspace (checked before anything is written; ``verify``: and pass
    quick_check); otherwise it is created. ``read_only``: the connection refuses writes."""
    if existing:
        opening.check_file(path, read_only)
    try:
        # isolation_level=None: no implicit transactions; ours are explicit (writing/reading).
        conn = sqlite3.connect(str(path), timeout=busy_seconds, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise LedgerError(f"cannot open workspace {path}: {exc}") from None
    try:
        _configure(conn, path, busy_seconds, existing, read_only, verify)
    except BaseException:
        conn.close()
        raise
    return Database(conn, execute_plugins=False)


def _configure(conn: sqlite3.Connection, path: Path, busy_seconds: float, existing: bool, read_only: bool,
               verify: bool) -> None:
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(busy_seconds * 1000)}")
        if existing:
            opening.refuse_foreign(conn, path)  # before WAL: switching rewrites the file's header
            if verify:
                opening.quick_check(conn, path)
        if read_only:
            return
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        # FULL: a committed transaction survives power loss too, not only a killed process.
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise busy_error(path, busy_seconds) from None
        raise opening.translate(exc, path) or LedgerError(f"cannot open workspace {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"{path} is not a Factsmith workspace (SQLite says: {exc})") from None
    if mode.lower() != "wal":
        raise LedgerError(f"workspace {path}: SQLite refused write-ahead logging (journal mode {mode})")


def query_only(db: Database) -> None:
    """From now on this connection refuses every write (read commands never change a file)."""
    db.conn.execute("PRAGMA query_only = ON")


def _translated(exc: sqlite3.Error, path: Path) -> BaseException:
    return opening.translate(exc, path) or exc


@contextmanager
def writing(db: Database, path: Path, busy_seconds: float) -> Iterator[Database]:
    """One write transaction, all or nothing; WorkspaceBusyError if the lock is not had in time;
    a read-only or damaged file gives the ledger's own error."""
    if db.conn.in_transaction:
        raise LedgerError("internal: nested write transaction")
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise busy_error(path, busy_seconds) from None
        raise _translated(exc, path) from None
    try:
        yield db
    except sqlite3.DatabaseError as exc:
        _rollback(db)
        translated = opening.translate(exc, path)
        if translated is None:
            raise
        raise translated from None
    except BaseException:
        _rollback(db)
        raise
    try:
        db.conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        _rollback(db)
        if _is_busy(exc):
            raise busy_error(path, busy_seconds) from None
        raise _translated(exc, path) from None


def _rollback(db: Database) -> None:
    if db.conn.in_transaction:
        db.conn.execute("ROLLBACK")


@contextmanager
def reading(db: Database) -> Iterator[Database]:
    """One read snapshot; nests inside a write transaction (which is already consistent)."""
    if db.conn.in_transaction:
        yield db
        return
    db.conn.execute("BEGIN")
    try:
        yield db
    except sqlite3.DatabaseError as exc:
        translated = opening.translate(exc, Path(db.conn.execute("PRAGMA database_list").fetchone()[2]))
        if translated is None:
            raise
        raise translated from None
    finally:
        if db.conn.in_transaction:
            db.conn.execute("COMMIT")


def one(db: Database, sql: str, params: tuple | dict = ()) -> dict[str, Any] | None:
    return next(db.query(sql, params), None)


def scalar(db: Database, sql: str, params: tuple | dict = ()) -> Any:
    row = db.execute(sql, params).fetchone()
    return None if row is None else row[0]


@dataclass(frozen=True)
class Store:
    """What every ledger function needs: the connection, where it lives, and who acts."""

    db: Database
    path: Path
    author: str
    busy_seconds: float = DEFAULT_BUSY_SECONDS
    inline_limit: int = 16 * 1024 * 1024  # larger deltas go to files beside the database

    def writing(self):
        return writing(self.db, self.path, self.busy_seconds)

    def reading(self):
        return reading(self.db)

    def one(self, sql: str, params: tuple | dict = ()) -> dict[str, Any] | None:
        return one(self.db, sql, params)

    def all(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def scalar(self, sql: str, params: tuple | dict = ()) -> Any:
        return scalar(self.db, sql, params)
