"""Checks made before a workspace file is used: is it ours, intact and writable?

A file is looked at before SQLite is asked to change anything: an empty file is refused by
its size, one that is not SQLite by SQLite's own "not a database" when its tables are read,
a foreign SQLite database by its tables (before the switch to write-ahead logging, which
would rewrite its header), a damaged one by ``PRAGMA quick_check``; a command that writes is
refused a file it cannot write.

The workspace file is never opened here outside SQLite: closing any descriptor of a file
drops every POSIX lock this process holds on it, including those of SQLite connections
already open (a window's). Another process closing its connection then finds no other
reader, checkpoints and deletes the -wal and -shm files under the open connection, whose
later commits go to a deleted file that no other process sees.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from core.ledger.errors import DamagedWorkspaceError, LedgerError, ReadOnlyWorkspaceError, SchemaError

VERSION_TABLE = "schema_migrations"
SQLITE_MAGIC = b"SQLite format 3\x00"


def damaged_message(path: Path, what: str) -> str:
    return (f"workspace {path} is damaged ({what}); nothing was written to it. See the problems with "
            f"`factsmith workspace check --workspace {path}`, and copy what is readable into a new file with "
            f"`factsmith workspace recover --workspace {path} --out NEW`")


def readonly_message(path: Path) -> str:
    return (f"workspace {path} is read-only (the file or its folder cannot be written) and this command writes; "
            "make it writable (chmod u+w on the file and its folder) or copy it somewhere writable. Read "
            "commands (queue, log, show) work on it as it is")


def check_file(path: Path, read_only: bool) -> None:
    """Refuse, by its size alone, a file that cannot be an existing workspace (what is in it:
    ``refuse_foreign``, through SQLite)."""
    if not path.is_file():
        raise LedgerError(f"no workspace at {path}; create one with `factsmith workspace init {path} --model DIR`")
    if path.stat().st_size == 0:  # by its size: opening the file here would drop SQLite's locks (above)
        raise SchemaError(f"{path} is an empty file, not a workspace; nothing was written to it. Create a "
                          f"workspace there with `factsmith workspace init {path} --model DIR`")
    if not read_only and not writable(path):
        raise ReadOnlyWorkspaceError(readonly_message(path))


def writable(path: Path) -> bool:
    """The file and its folder (where SQLite keeps the -wal and -shm files) can be written."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def tables(conn: sqlite3.Connection, path: Path) -> set[str]:
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB and not _sqlite_header(path):
            raise SchemaError(f"{path} is not a Factsmith workspace (not an SQLite database); choose the "
                              "workspace file (*.factsmith)") from None
        raise DamagedWorkspaceError(damaged_message(path, f"SQLite cannot read its schema: {exc}")) from None


def _sqlite_header(path: Path) -> bool:
    """Whether the file starts as SQLite's do (then a "not a database" means a damaged header).
    Read only once SQLite has refused the file, so no connection here holds a lock on it."""
    try:
        with path.open("rb") as fh:
            return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """A database without our version table is not ours: refused before anything is written."""
    found = tables(conn, path)
    if VERSION_TABLE not in found:
        listed = ", ".join(sorted(found)[:8]) or "no tables"
        raise SchemaError(f"{path} is an SQLite database but not a Factsmith workspace (it has {listed} and no "
                          f"{VERSION_TABLE}); it was left unchanged. Choose the workspace file (*.factsmith)")


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite's quick_check (b-tree pages, cells, free list; no index cross-check)."""
    try:
        lines = [line.strip() for r in conn.execute("PRAGMA quick_check(3)") for line in str(r[0]).splitlines()]
        problems = [line for line in lines if line and line != "ok" and not line.startswith("***")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems:
        raise DamagedWorkspaceError(damaged_message(path, "SQLite quick_check: " + "; ".join(problems[:3])))


def translate(exc: sqlite3.Error, path: Path) -> LedgerError | None:
    """Our error for an SQLite failure a user can act on; None for anything else."""
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        return ReadOnlyWorkspaceError(readonly_message(path))
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return DamagedWorkspaceError(damaged_message(path, f"SQLite: {exc}"))
    return None
