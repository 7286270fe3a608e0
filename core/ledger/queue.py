"""The review queue's facts: adding them (typed or imported, all or nothing), finding them,
spotting duplicates and conflicts, and the reviewer's drafts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.facts.fact import Fact, fact_from_dict
from core.ledger.db import Store, dumps, loads, now
from core.ledger.errors import ImportConflictError, LedgerError
from core.ledger.imports import ImportRecord, read_for_import, source_sha256
from core.ledger.records import STATUSES, Conflict, Draft, Duplicate, FactRecord, ImportReport, SkippedRow
from core.ledger.state import head, state_fact_ids

log = logging.getLogger(__name__)

SHOWN_PROBLEMS = 10  # rows named in one error message; the report has them all


def _record(row: dict[str, Any], committed: set[str]) -> FactRecord:
    fact = fact_from_dict(loads(row["body"]))
    if fact.id != row["id"]:
        raise LedgerError(f"fact {row['id'][:12]} is corrupt: its body hashes to {fact.id[:12]}")
    return FactRecord(fact, row["status"], row["created_at"], row["created_by"], row.get("import_id"),
                      row["id"] in committed)


def committed_fact_ids(store: Store) -> set[str]:
    return set(state_fact_ids(store, head(store)))


def get_fact(store: Store, ref: str) -> FactRecord:
    """A fact by id or unique id prefix (at least 4 characters)."""
    ref = ref.strip().lower()
    if len(ref) < 4:
        raise LedgerError(f"fact id {ref!r} is too short: give at least 4 characters")
    rows = store.all("SELECT * FROM facts WHERE id >= ? AND id < ? ORDER BY id LIMIT 6", (ref, ref + "g"))
    if not rows:
        raise LedgerError(f"no fact {ref!r} in workspace {store.path}")
    if len(rows) > 1:
        raise LedgerError(f"fact id {ref!r} is ambiguous: it starts {', '.join(r['id'][:12] for r in rows)}")
    return _record(rows[0], committed_fact_ids(store))


def fact_records(store: Store, fact_ids: Sequence[str]) -> list[FactRecord]:
    """Records of known fact ids, in the given order."""
    with store.reading():
        committed = committed_fact_ids(store)
        rows = {r["id"]: r for r in store.all("SELECT * FROM facts")} if len(fact_ids) > 50 else \
            {i: store.one("SELECT * FROM facts WHERE id = ?", (i,)) for i in fact_ids}
    return [_record(rows[i], committed) for i in fact_ids]


def list_facts(store: Store, statuses: Sequence[str] | None = None) -> list[FactRecord]:
    """Facts in the order they were added, optionally only those with the given statuses."""
    statuses = check_statuses(statuses)
    with store.reading():
        committed = committed_fact_ids(store)
        rows = store.all("SELECT * FROM facts ORDER BY created_at, rowid")
    return [_record(r, committed) for r in rows if not statuses or r["status"] in statuses]


def check_statuses(statuses: Sequence[str] | None) -> tuple[str, ...]:
    for status in statuses or ():
        if status not in STATUSES:
            raise LedgerError(f"unknown status {status!r}; the statuses are {', '.join(STATUSES)}")
    return tuple(statuses or ())


def find_conflicts(store: Store, facts: Sequence[tuple[Fact, int | None]], committed: set[str]) -> list[Conflict]:
    """Facts whose subject and prompt match an approved or committed fact with another target."""
    found = []
    for fact, line in facts:
        rows = store.all("SELECT id, status, target_new FROM facts WHERE subject = ? AND prompt = ? AND id != ?",
                         (fact.subject, fact.prompt, fact.id))
        for row in rows:
            is_committed = row["id"] in committed
            if (row["status"] == "approved" or is_committed) and \
                    row["target_new"].casefold() != fact.target_new.casefold():
                found.append(Conflict(fact.id, line, row["id"], row["status"], row["target_new"], is_committed))
    return found


def _split_duplicates(store: Store, facts: Sequence[Fact], lines: Sequence[int]):
    """(new facts with their first line, duplicates): same id in the file or already stored."""
    seen: dict[str, list[int]] = {}
    first: dict[str, Fact] = {}
    for fact, line in zip(facts, lines, strict=True):
        seen.setdefault(fact.id, []).append(line)
        first.setdefault(fact.id, fact)
    new, duplicates = [], []
    for fact_id, where in seen.items():
        status = store.scalar("SELECT status FROM facts WHERE id = ?", (fact_id,))
        if status is not None:
            duplicates.append(Duplicate(fact_id, tuple(where), f"already in the workspace ({status})", already=True))
        else:
            new.append((first[fact_id], where[0]))
            if len(where) > 1:
                duplicates.append(Duplicate(fact_id, tuple(where), "repeated in the file; added once"))
    return new, duplicates


def _conflict_error(source: str, unit: str, conflicts: list[Conflict]) -> ImportConflictError:
    name = Path(source).name
    lines = [c.describe(f"{name} {unit} {c.line}" if c.line is not None else name)
             for c in conflicts[:SHOWN_PROBLEMS]]
    more = len(conflicts) - len(lines)
    tail = f"\n  (and {more} more)" if more else ""
    return ImportConflictError(f"nothing imported from {name}: {len(conflicts)} row(s) conflict with approved or "
                          "committed facts (reject those first, or allow conflicts to import these as pending):\n  "
                          + "\n  ".join(lines) + tail, tuple(conflicts))


def add_facts(store: Store, facts: Sequence[Fact], *, lines: Sequence[int] | None = None, source: str = "(typed)",
              format: str = "api", sha256: str = "", unit: str = "item", allow_conflicts: bool = False,
              skipped: Sequence[SkippedRow] = (), ignored: Sequence[tuple[str, int]] = ()) -> ImportReport:
    """Add facts as pending, in one transaction: all of them or, on a conflict, none.

    ``skipped`` (rows left out of a file on request) and ``ignored`` (fields with no place in a
    Fact) are recorded with the import."""
    lines = list(lines) if lines is not None else list(range(1, len(facts) + 1))
    with store.writing():
        new, duplicates = _split_duplicates(store, facts, lines)
        conflicts = find_conflicts(store, new, committed_fact_ids(store))
        if conflicts and not allow_conflicts:
            raise _conflict_error(source, unit, conflicts)
        record = ImportRecord(source, format, sha256, len(duplicates), len(conflicts), tuple(skipped), tuple(ignored))
        import_id = _insert(store, new, record) if new or skipped else None
    log.info("%s: %d facts added, %d duplicates, %d conflicts, %d rows skipped", source, len(new), len(duplicates),
             len(conflicts), len(skipped))
    return ImportReport(source, format, import_id, tuple(f.id for f, _ in new), tuple(duplicates), tuple(conflicts),
                        tuple(skipped), tuple(ignored))


def _insert(store: Store, new: list[tuple[Fact, int]], record: ImportRecord) -> int:
    at, who = now(), store.author
    cursor = store.db.execute(
        "INSERT INTO imports (source, sha256, format, author, at, added, duplicates, conflicts, ignored, skipped) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record.source, record.sha256, record.format, who, at, len(new), record.duplicates, record.conflicts,
         dumps([list(pair) for pair in record.ignored]), len(record.skipped)))
    import_id = cursor.lastrowid
    store.db.conn.executemany(
        "INSERT INTO facts (id, body, subject, prompt, target_new, status, created_at, created_by, import_id) "
        "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
        [(f.id, f.canonical_json(), f.subject, f.prompt, f.target_new, at, who, import_id) for f, _ in new])
    note = f"added from {Path(record.source).name}" if record.format != "api" else "added"
    store.db.conn.executemany(
        "INSERT INTO status_history (fact_id, author, at, from_status, to_status, note) "
        "VALUES (?, ?, ?, NULL, 'pending', ?)", [(f.id, who, at, note) for f, _ in new])
    store.db.conn.executemany(
        "INSERT INTO import_skipped (import_id, position, line, unit, field, reason) VALUES (?, ?, ?, ?, ?, ?)",
        [(import_id, i, s.line, s.unit, s.field, s.reason) for i, s in enumerate(record.skipped)])
    return import_id


def skipped_rows(store: Store, import_id: int) -> list[SkippedRow]:
    """The rows an import left out, in file order."""
    rows = store.all("SELECT * FROM import_skipped WHERE import_id = ? ORDER BY position", (import_id,))
    return [SkippedRow(r["line"], r["unit"], r["field"], r["reason"]) for r in rows]


def import_file(store: Store, path: Path, format: str | None = None, mapping: Any = None,
                allow_conflicts: bool = False, skip_invalid: bool = False) -> ImportReport:
    """Import a facts file: a bad row (FactsFileError, naming it) or a conflict imports nothing,
    unless ``skip_invalid``: then the valid rows are imported and the others recorded as skipped."""
    path = Path(path)
    report, skipped = read_for_import(path, format, mapping, skip_invalid)
    return add_facts(store, report.facts, lines=report.fact_lines, source=str(path), format=report.format,
                     sha256=source_sha256(path), unit=report.unit, allow_conflicts=allow_conflicts,
                     skipped=skipped, ignored=report.ignored)


def save_draft(store: Store, body: dict[str, Any], draft_id: int | None = None) -> Draft:
    """Keep what the reviewer is typing (any JSON object, valid or not yet)."""
    at = now()
    with store.writing():
        if draft_id is None:
            draft_id = store.db.execute("INSERT INTO drafts (author, body, created_at, updated_at) "
                                        "VALUES (?, ?, ?, ?)", (store.author, dumps(body), at, at)).lastrowid
        elif store.db.execute("UPDATE drafts SET body = ?, updated_at = ? WHERE id = ?",
                              (dumps(body), at, draft_id)).rowcount == 0:
            raise LedgerError(f"no draft {draft_id} in workspace {store.path}")
    return get_draft(store, draft_id)


def _draft(row: dict[str, Any]) -> Draft:
    return Draft(row["id"], row["author"], loads(row["body"]), row["created_at"], row["updated_at"])


def get_draft(store: Store, draft_id: int) -> Draft:
    row = store.one("SELECT * FROM drafts WHERE id = ?", (draft_id,))
    if row is None:
        raise LedgerError(f"no draft {draft_id} in workspace {store.path}")
    return _draft(row)


def list_drafts(store: Store) -> list[Draft]:
    return [_draft(r) for r in store.all("SELECT * FROM drafts ORDER BY updated_at DESC, id DESC")]


def delete_draft(store: Store, draft_id: int) -> None:
    with store.writing():
        if store.db.execute("DELETE FROM drafts WHERE id = ?", (draft_id,)).rowcount == 0:
            raise LedgerError(f"no draft {draft_id} in workspace {store.path}")
