"""The workspace schema as an ordered list of migrations, and the code that applies them.

A workspace records the migrations applied to it in ``schema_migrations``. Opening one runs
the missing steps in order, inside one transaction (SQLite DDL is transactional), after copying the file aside
(``<name>.v<N>.bak``); a workspace newer than this code, or a file that is not a
workspace, is refused rather than guessed at. Steps are never edited once released: a
change is a new step.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from core.ledger.db import now, scalar, writing
from core.ledger.errors import SchemaError

log = logging.getLogger(__name__)


def append_only(table: str) -> list[str]:
    """Triggers that make the database itself refuse to change or remove a row."""
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} are append-only: rows cannot be changed'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} are append-only: rows cannot be deleted'); END",
    ]


V1_TABLES = [
    """CREATE TABLE base_models (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL,
        fingerprint TEXT NOT NULL UNIQUE, architecture TEXT NOT NULL, created_at TEXT NOT NULL)""",
    """CREATE TABLE facts (
        id TEXT PRIMARY KEY, body TEXT NOT NULL, subject TEXT NOT NULL, prompt TEXT NOT NULL,
        target_new TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'approved', 'rejected', 'needs-rework')),
        created_at TEXT NOT NULL, created_by TEXT NOT NULL)""",
    "CREATE INDEX facts_subject_prompt ON facts (subject, prompt)",
    """CREATE TABLE status_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, fact_id TEXT NOT NULL REFERENCES facts (id),
        author TEXT NOT NULL, at TEXT NOT NULL, from_status TEXT,
        to_status TEXT NOT NULL CHECK (to_status IN ('pending', 'approved', 'rejected', 'needs-rework')),
        note TEXT NOT NULL DEFAULT '', undoes INTEGER REFERENCES status_history (id))""",
    "CREATE INDEX status_history_fact ON status_history (fact_id)",
    """CREATE TABLE deltas (
        sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL,
        storage TEXT NOT NULL CHECK (storage IN ('inline', 'file')), data BLOB,
        CHECK ((storage = 'inline') = (data IS NOT NULL)))""",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, base_id INTEGER NOT NULL REFERENCES base_models (id),
        method TEXT NOT NULL, hparams TEXT NOT NULL, overrides TEXT NOT NULL, seed INTEGER,
        environment TEXT NOT NULL, metrics TEXT NOT NULL, previews TEXT NOT NULL, seconds REAL NOT NULL,
        delta_sha256 TEXT NOT NULL REFERENCES deltas (sha256), computed_on TEXT NOT NULL,
        author TEXT NOT NULL, created_at TEXT NOT NULL)""",
    """CREATE TABLE run_facts (
        run_id INTEGER NOT NULL REFERENCES runs (id), position INTEGER NOT NULL,
        fact_id TEXT NOT NULL REFERENCES facts (id), PRIMARY KEY (run_id, position))""",
    "CREATE INDEX run_facts_fact ON run_facts (fact_id)",
    """CREATE TABLE commits (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,
        parent_id TEXT UNIQUE REFERENCES commits (id),
        base_id INTEGER NOT NULL REFERENCES base_models (id),
        kind TEXT NOT NULL CHECK (kind IN ('root', 'commit', 'revert')),
        author TEXT NOT NULL, message TEXT NOT NULL, created_at TEXT NOT NULL,
        state_fingerprint TEXT NOT NULL, n_applied INTEGER NOT NULL, n_dropped INTEGER NOT NULL)""",
    """CREATE TABLE commit_runs (
        commit_id TEXT NOT NULL REFERENCES commits (id), position INTEGER NOT NULL,
        run_id INTEGER NOT NULL REFERENCES runs (id), op TEXT NOT NULL CHECK (op IN ('apply', 'drop')),
        PRIMARY KEY (commit_id, position))""",
    "CREATE INDEX commit_runs_run ON commit_runs (run_id)",
    """CREATE TABLE tags (
        name TEXT PRIMARY KEY, commit_id TEXT NOT NULL REFERENCES commits (id),
        author TEXT NOT NULL, created_at TEXT NOT NULL)""",
]

# The cached status must always be the last history row's: the history is the truth.
V1_FACT_TRIGGERS = [
    """CREATE TRIGGER status_history_sets_status AFTER INSERT ON status_history
       BEGIN UPDATE facts SET status = NEW.to_status WHERE id = NEW.fact_id; END""",
    """CREATE TRIGGER facts_body_fixed BEFORE UPDATE ON facts
       WHEN NEW.id IS NOT OLD.id OR NEW.body IS NOT OLD.body OR NEW.created_at IS NOT OLD.created_at
         OR NEW.status IS NOT (SELECT to_status FROM status_history WHERE fact_id = OLD.id
                               ORDER BY id DESC LIMIT 1)
       BEGIN SELECT RAISE(ABORT, 'facts are fixed: only a status_history row changes a status'); END""",
    """CREATE TRIGGER facts_no_delete BEFORE DELETE ON facts
       BEGIN SELECT RAISE(ABORT, 'facts cannot be deleted: reject them instead'); END""",
]

V1_APPEND_ONLY = ("base_models", "status_history", "deltas", "runs", "run_facts", "commits", "commit_runs", "tags")

V1 = V1_TABLES + V1_FACT_TRIGGERS + [sql for table in V1_APPEND_ONLY for sql in append_only(table)]

V2 = [
    # Where facts came from: one row per imported file, all or nothing.
    """CREATE TABLE imports (
        id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, sha256 TEXT NOT NULL,
        format TEXT NOT NULL, author TEXT NOT NULL, at TEXT NOT NULL, added INTEGER NOT NULL,
        duplicates INTEGER NOT NULL, conflicts INTEGER NOT NULL)""",
    "ALTER TABLE facts ADD COLUMN import_id INTEGER REFERENCES imports (id)",
    # What the reviewer is typing: scratch, so neither append-only nor content-hashed.
    """CREATE TABLE drafts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, author TEXT NOT NULL, body TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    # The weights fingerprint a state materialised to, per dtype and device type; later
    # checkouts must reproduce it bit for bit.
    """CREATE TABLE weights (
        state_fingerprint TEXT NOT NULL, dtype TEXT NOT NULL, device TEXT NOT NULL,
        weights_fingerprint TEXT NOT NULL, recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL,
        PRIMARY KEY (state_fingerprint, dtype, device))""",
    *append_only("imports"),
    *append_only("weights"),
]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


V3 = [
    # The commit gate a commit passed (or was forced past): thresholds, the warnings, forced.
    """CREATE TABLE commit_gates (
        commit_id TEXT PRIMARY KEY REFERENCES commits (id), thresholds TEXT NOT NULL,
        warnings TEXT NOT NULL, forced INTEGER NOT NULL CHECK (forced IN (0, 1)))""",
    *append_only("commit_gates"),
]

V4 = [
    # Rows an import skipped on request (--skip-invalid): where they were and why.
    """CREATE TABLE import_skipped (
        import_id INTEGER NOT NULL REFERENCES imports (id), position INTEGER NOT NULL,
        line INTEGER, unit TEXT NOT NULL, field TEXT, reason TEXT NOT NULL,
        PRIMARY KEY (import_id, position))""",
    *append_only("import_skipped"),
    # Fields of the file that have no place in a Fact, as [[name, rows], ...].
    "ALTER TABLE imports ADD COLUMN ignored TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE imports ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0",
]

V5 = [
    # The run an approval approves (the one the reviewer had before them, or picked); NULL
    # for other decisions and for approvals recorded before this step (then inferred by time).
    "ALTER TABLE status_history ADD COLUMN run_id INTEGER REFERENCES runs (id)",
]

V6 = [
    # A gated metric of a run as a commit measured it with the commit's edits in place
    # (core.workflows.together), stored only where it differs from what the run showed before:
    # what History, Diff and `show` read for it from then on (core.ledger.figures).
    """CREATE TABLE commit_figures (
        commit_id TEXT NOT NULL REFERENCES commits (id), run_id INTEGER NOT NULL REFERENCES runs (id),
        metric TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (commit_id, run_id, metric))""",
    "CREATE INDEX commit_figures_run ON commit_figures (run_id)",
    *append_only("commit_figures"),
]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "facts, review history, runs, deltas, commits, tags", tuple(V1)),
    Migration(2, "imports, drafts, recorded weights", tuple(V2)),
    Migration(3, "commit gates", tuple(V3)),
    Migration(4, "rows skipped by imports, ignored fields", tuple(V4)),
    Migration(5, "the run each approval approves", tuple(V5)),
    Migration(6, "figures measured together at a commit", tuple(V6)),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"""


def current_version(db: Database, path: Path) -> int:
    """The workspace's schema version; 0 for an empty file; SchemaError for anything else."""
    tables = set(db.table_names())
    if "schema_migrations" in tables:
        return int(scalar(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
    if tables:
        raise SchemaError(f"{path} is an SQLite database but not a Factsmith workspace "
                          f"(it has the tables {', '.join(sorted(tables))} and no schema_migrations)")
    return 0


def pending_migrations(version: int, path: Path) -> list[Migration]:
    if version > SCHEMA_VERSION:
        raise SchemaError(f"workspace {path} has schema version {version}, newer than this Factsmith "
                          f"understands ({SCHEMA_VERSION}); upgrade Factsmith to open it")
    return [m for m in MIGRATIONS if m.version > version]


def backup(db: Database, path: Path, version: int) -> Path:
    """A consistent copy of the workspace before migrating it (SQLite's online backup)."""
    target = path.with_name(f"{path.name}.v{version}.bak")
    with sqlite3.connect(str(target)) as copy:
        db.conn.backup(copy)
    copy.close()
    return target


_CREATE_TABLE = re.compile(r"^\s*CREATE TABLE (?:IF NOT EXISTS )?(\w+)")


def tables_of(version: int) -> set[str]:
    """The tables migrations up to ``version`` create."""
    return {m.group(1) for step in MIGRATIONS if step.version <= version
            for sql in step.statements if (m := _CREATE_TABLE.match(sql))}


def check_consistent(db: Database, path: Path, version: int) -> None:
    """The tables must be those the recorded schema version has: not fewer, not later ones."""
    actual = set(db.table_names()) - {"sqlite_sequence", "schema_migrations"}
    missing = sorted(tables_of(version) - actual)
    later = sorted((tables_of(SCHEMA_VERSION) - tables_of(version)) & actual)
    if missing or later:
        found = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                            f"already has {', '.join(later)} from a later version" if later else "")
                          if part)
        raise SchemaError(f"workspace {path}: its schema table records version {version}, but its tables do not "
                          f"match ({found}); the file was changed outside Factsmith. Copy what is readable into a "
                          f"new file with `factsmith workspace recover --workspace {path} --out NEW`")


def refuse_unmigrated(db: Database, path: Path) -> int:
    """For reads, which never convert a file: SchemaError if the workspace needs migrating;
    returns its version."""
    version = current_version(db, path)
    if version:
        check_consistent(db, path, min(version, SCHEMA_VERSION))
    if pending_migrations(version, path):
        raise SchemaError(f"workspace {path} has schema version {version} and this Factsmith uses version "
                          f"{SCHEMA_VERSION}; a read never converts a file. Upgrade it with `factsmith workspace "
                          f"upgrade --workspace {path}` (a copy is kept first), or run any command that writes")
    return version


def migrate(db: Database, path: Path, busy_seconds: float) -> int:
    """Bring the workspace up to SCHEMA_VERSION; returns the version it had before."""
    before = current_version(db, path)
    if before:
        check_consistent(db, path, min(before, SCHEMA_VERSION))
    if not pending_migrations(before, path):
        return before
    if before:
        log.info("workspace %s: schema version %d, backed up to %s", path, before, backup(db, path, before))
    with writing(db, path, busy_seconds):
        version = current_version(db, path)  # another process may have migrated meanwhile
        db.execute(_VERSION_TABLE)
        for step in pending_migrations(version, path):
            _apply(db, path, step)
    return before


def _apply(db: Database, path: Path, step: Migration) -> None:
    try:
        for sql in step.statements:
            db.execute(sql)
    except sqlite3.OperationalError as exc:
        raise SchemaError(f"workspace {path}: migrating to schema version {step.version} failed ({exc}); the "
                          "file was changed outside Factsmith and was left as it was. Copy what is readable into "
                          f"a new file with `factsmith workspace recover --workspace {path} --out NEW`") from None
    db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
               (step.version, step.name, now()))
    log.info("workspace %s migrated to schema version %d (%s)", path, step.version, step.name)
