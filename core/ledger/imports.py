"""Reading a facts file for import: all rows or none by default, or, on request, the valid
rows with the others listed as skipped (kept with the import's record, migration 4)."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.facts.io import FactsFileReport, inspect_facts
from core.ledger.records import SkippedRow


@dataclass(frozen=True)
class ImportRecord:
    """What the ``imports`` row keeps besides the facts themselves."""

    source: str
    format: str
    sha256: str
    duplicates: int
    conflicts: int
    skipped: tuple[SkippedRow, ...] = ()
    ignored: tuple[tuple[str, int], ...] = ()


def source_sha256(path: Path) -> str:
    """sha256 of a file, or of a dataset folder's files (names and contents)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}\0".encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def read_for_import(path: Path, format: str | None, mapping: Any,
                    skip_invalid: bool) -> tuple[FactsFileReport, tuple[SkippedRow, ...]]:
    """The file's report and the rows to skip; FactsFileError when a bad row blocks the import
    (any, by default; with ``skip_invalid`` only a file with no valid row at all)."""
    report = inspect_facts(path, format, mapping, max_errors=sys.maxsize if skip_invalid else 100)
    if not skip_invalid or not report.facts:
        report.raise_for_errors()
    skipped = tuple(SkippedRow(e.line, e.unit, e.field, e.message) for e in report.errors)
    return report, skipped
