"""Reading edit requests: ``read_facts`` for code (all or nothing), ``inspect_facts`` for the
import dialog (format, facts, every bad row, a preview and duplicates)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.facts.fact import Fact, FactError
from core.facts.io.csv_format import check_mapping, csv_fact, parse_column_mapping
from core.facts.io.detect import detect_file_format, ignored_keys
from core.facts.io.errors import FactsFileError
from core.facts.io.formats import JSON_FORMATS, Converter, json_format
from core.facts.io.sources import RawRows, load_rows

log = logging.getLogger(__name__)

FORMAT_NAMES: tuple[str, ...] = (*(f.name for f in JSON_FORMATS), "csv")
ColumnMapping = Mapping[str, str] | str | Sequence[str]


@dataclass(frozen=True)
class DuplicateGroup:
    """Facts with the same content-hash id, and where each copy was read."""

    fact_id: str
    lines: tuple[int, ...]


@dataclass(frozen=True)
class FactsFileReport:
    """What a facts file holds. ``facts`` is partial when ``errors`` is not empty."""

    path: Path
    format: str  # a name from FORMAT_NAMES
    container: str  # "jsonl" | "json" | "csv" | "datasets"
    unit: str  # how lines count: "line" | "index" | "row" (see FactsFileError)
    rows: int  # every row of the file, those that do not parse included
    facts: tuple[Fact, ...]
    fact_lines: tuple[int, ...]  # where each fact was read
    errors: tuple[FactsFileError, ...]  # the first bad rows, in file order
    error_count: int  # all bad rows, beyond the cap on ``errors`` too
    preview: tuple[Any, ...]  # the first rows as read
    duplicates: tuple[DuplicateGroup, ...]
    ignored: tuple[tuple[str, int], ...] = ()  # (field or column with no place in a Fact, rows holding it)

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def raise_for_errors(self) -> None:
        """Raise the first bad row, carrying the others, if there is any."""
        if self.errors:
            raise self.errors[0].with_more(self.errors[1:], self.error_count - 1)


def find_duplicates(facts: Sequence[Fact], lines: Iterable[int] | None = None) -> tuple[DuplicateGroup, ...]:
    """Groups of facts sharing an id; ``lines`` says where each fact came from (default: its index)."""
    groups: dict[str, list[int]] = {}
    for fact, line in zip(facts, range(len(facts)) if lines is None else lines, strict=True):
        groups.setdefault(fact.id, []).append(line)
    return tuple(DuplicateGroup(fact_id, tuple(found)) for fact_id, found in groups.items() if len(found) > 1)


def read_facts(path: str | os.PathLike[str], format: str | None = None,
               mapping: ColumnMapping | None = None) -> list[Fact]:
    """Every request in the file, or a FactsFileError for the first bad row (``.more``: the rest)."""
    report = inspect_facts(path, format, mapping)
    report.raise_for_errors()
    for key, rows, meant in _misspelt(report):  # trial 46: "paraphrase" dropped without a word
        log.warning("%s: field %r (%d rows) is not read; did you mean %r?", Path(path).name, key, rows, meant)
    return list(report.facts)


def _misspelt(report: FactsFileReport) -> list[tuple[str, int, str]]:
    """Ignored fields that look like a misspelt fact field: (field, rows holding it, the field meant)."""
    import difflib

    from core.facts.fact import Fact

    fields = [f.name for f in dataclasses.fields(Fact) if not f.name.startswith("_")]
    found = []
    for key, rows in report.ignored:
        # 0.88: "paraphrase" and "targetnew" are typos; "relation_id" (0.84) is a field of its own
        close = difflib.get_close_matches(str(key).lower(), fields, n=1, cutoff=0.88)
        if close and close[0] != key:
            found.append((key, rows, close[0]))
    return found


def inspect_facts(path: str | os.PathLike[str], format: str | None = None, mapping: ColumnMapping | None = None,
                  *, max_errors: int = 100, preview_rows: int = 5) -> FactsFileReport:
    """Read the file and report on it; raises FactsFileError only when the file as a whole
    cannot be read (missing, empty, unknown format)."""
    path = Path(path)
    if format is not None and format not in FORMAT_NAMES:
        raise FactsFileError(path, f"unknown format {format!r}; the formats are {', '.join(FORMAT_NAMES)}")
    raw = load_rows(path, format)
    if not raw.rows and not raw.errors:
        raise FactsFileError(path, "the file holds no edit requests")
    name, convert, ignored = _converter(path, raw, format, _mapping(path, mapping))
    facts, lines, errors = _convert_rows(path, raw, convert)
    errors.sort(key=lambda err: err.line or 0)
    log.info("read %d facts from %s as %s (%s), %d bad rows", len(facts), path, name, raw.container, len(errors))
    return FactsFileReport(
        path=path, format=name, container=raw.container, unit=raw.unit, rows=len(raw.rows) + len(raw.errors),
        facts=tuple(facts), fact_lines=tuple(lines), errors=tuple(errors[:max_errors]), error_count=len(errors),
        preview=tuple(row for _, row in raw.rows[:preview_rows]), duplicates=find_duplicates(facts, lines),
        ignored=ignored,
    )


def _mapping(path: Path, mapping: ColumnMapping | None) -> Mapping[str, str] | None:
    if mapping is None or isinstance(mapping, Mapping):
        return mapping
    try:
        return parse_column_mapping(mapping)
    except ValueError as err:
        raise FactsFileError(path, str(err)) from None


def _converter(path: Path, raw: RawRows, format: str | None,
               mapping: Mapping[str, str] | None) -> tuple[str, Converter, tuple[tuple[str, int], ...]]:
    """(format name, row converter, ignored fields with the number of rows holding them)."""
    if raw.container == "csv":
        chosen = check_mapping(path, raw.columns, mapping)
        unmapped = tuple((c, len(raw.rows)) for c in raw.columns if c not in chosen and c)
        return "csv", lambda row: [csv_fact(row, chosen)], unmapped
    if mapping is not None:
        raise FactsFileError(path, "a column mapping applies to CSV files only")
    if format == "csv":
        raise FactsFileError(path, f"format 'csv' was asked for, but this is a {raw.container} source")
    if not raw.rows:  # not one row parsed: nothing to recognise a format by
        raise raw.errors[0].with_more(raw.errors[1:], len(raw.errors) - 1)
    row_format = json_format(format) if format else detect_file_format(path, raw.unit, raw.rows)
    if row_format is None:
        raise _unknown_format(path, raw)
    return row_format.name, row_format.convert, ignored_keys(raw.rows, row_format)


def _unknown_format(path: Path, raw: RawRows) -> FactsFileError:
    first = next((row for _, row in raw.rows if isinstance(row, Mapping)), None)
    if first is None:
        kind = type(raw.rows[0][1]).__name__
        return FactsFileError(path, f"unknown format: rows must be JSON objects, the first is a {kind}")
    tried = "; ".join(f"{f.name} ({f.rule})" for f in JSON_FORMATS)
    keys = ", ".join(map(str, first)) or "none"
    return FactsFileError(path, f"unknown format: tried {tried}; the first row has the keys: {keys}")


def _convert_rows(path: Path, raw: RawRows, convert: Converter) -> tuple[list[Fact], list[int], list[FactsFileError]]:
    facts: list[Fact] = []
    lines: list[int] = []
    errors = list(raw.errors)
    for position, row in raw.rows:
        try:
            made = convert(row)
        except FactError as err:
            field = None if err.field in ("", "(row)") else err.field
            errors.append(FactsFileError(path, err.message, line=position, field=field, unit=raw.unit))
            continue
        facts += made
        lines += [position] * len(made)
    return facts, lines, errors
