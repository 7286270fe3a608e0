"""Export reviewed facts with their status, the reviewer's note and who decided."""

from __future__ import annotations

import errno
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.ledger.db import Store
from core.ledger.errors import LedgerError
from core.ledger.queue import check_statuses, list_facts
from core.ledger.records import STATUSES, ExportReport, FactRecord
from core.ledger.review import latest_decisions
from core.ledger.state import is_reverted, reverted_facts

EXPORT_FORMATS = ("jsonl", "easyedit", "knowedit", "csv")


def review_columns(store: Store, records: Sequence[FactRecord]) -> dict[str, dict[str, Any]]:
    """{fact id: {status, note, reviewer, reviewed_at, committed, reverted_in}}; no reviewer before a
    decision; ``reverted_in``: the revert commit that took the fact's edit out of HEAD ("" if none)."""
    latest, reverted = latest_decisions(store), reverted_facts(store)
    out = {}
    for record in records:
        change = latest[record.id]
        decided = change.from_status is not None
        out[record.id] = {"status": record.status, "note": change.note if decided else "",
                          "reviewer": change.author if decided else "", "reviewed_at": change.at if decided else "",
                          "committed": record.committed,
                          "reverted_in": reverted[record.id].id if record.id in reverted else ""}
    return out


def _write_jsonl(path: Path, records: Sequence[FactRecord], extras: dict[str, dict[str, Any]]) -> None:
    from core.facts.io.writers import atomic_write  # JSONL plus review columns

    lines = [json.dumps({**r.fact.to_dict(), **extras[r.id]}, ensure_ascii=False) + "\n" for r in records]
    atomic_write(path, lambda out: out.writelines(lines))


def _unwritable(path: Path, exc: OSError) -> str:
    """What keeps ``path`` from being written, naming a folder on the way (not our temp file)."""
    name = str(exc.filename or "")
    where = f" ({name})" if name and name != str(path) and not name.endswith(".tmp") else ""
    advice = "free some disk space" if exc.errno == errno.ENOSPC else "choose a folder you can write to"
    return f"cannot write {path}: {(exc.strerror or str(exc)).lower()}{where}; {advice}"


def export_facts(store: Store, out: str | Path, format: str = "jsonl",
                 statuses: Sequence[str] | None = ("approved",), include_reverted: bool = False) -> ExportReport:
    """Write the facts with the given statuses (all when None or empty), in the order they were added.
    A fact whose committed edit a revert took out stays "approved" but is left out of a chosen
    status (and counted) unless ``include_reverted``: whoever replays an approved set would
    otherwise bring it back. All statuses means every fact, with its ``reverted_in`` column."""
    from core.facts.io import export_csv, export_easyedit_json, export_knowedit_json

    if format not in EXPORT_FORMATS:
        raise LedgerError(f"unknown export format {format!r}; use one of {', '.join(EXPORT_FORMATS)}")
    statuses = check_statuses(statuses)
    with store.reading():
        chosen = list_facts(store, statuses)
        reverted = reverted_facts(store)
        every = not statuses or set(statuses) >= set(STATUSES)  # all ticked is all, as none ticked is
        records = [r for r in chosen if include_reverted or every or not is_reverted(r, reverted)]
        extras = review_columns(store, records)
    path, facts = Path(out), [r.fact for r in records]
    try:
        if format == "jsonl":
            _write_jsonl(path, records, extras)
        elif format == "easyedit":
            export_easyedit_json(path, facts, extras)
        elif format == "knowedit":
            export_knowedit_json(path, facts, extras)
        else:
            export_csv(path, facts, extras)
    except OSError as exc:  # said as what is wrong where, not "[Errno 2] …" (trial 42)
        raise LedgerError(_unwritable(path, exc)) from exc
    return ExportReport(str(path), format, len(records), statuses, len(chosen) - len(records))
