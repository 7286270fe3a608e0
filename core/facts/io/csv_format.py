"""CSV files: each column mapped onto a Fact field (COLUMN=FIELD).

Without a mapping, columns named like a field (or like EasyEdit's flat fields) map to it
and the others are ignored. List fields take a JSON list or ``|``-separated texts; probe
fields take a JSON list of {prompt, answer}, or come from a pair of list columns
(``locality_prompt`` + ``locality_answer``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from core.facts.fact import Fact, FactError
from core.facts.io.csv_rows import CsvRows, looks_like_csv, read_csv_rows
from core.facts.io.errors import FactsFileError
from core.facts.io.rows import build_fact

TEXT_FIELDS = ("subject", "prompt", "target_new", "target_true", "relation")
LIST_FIELDS = ("paraphrases", "context", "locality_prompt", "locality_answer", "portability_prompt",
               "portability_answer")
PROBE_FIELDS = ("locality", "portability")
CSV_FIELDS = TEXT_FIELDS + LIST_FIELDS + PROBE_FIELDS
REQUIRED_FIELDS = ("subject", "prompt", "target_new")
__all__ = ["CSV_FIELDS", "CsvRows", "check_mapping", "csv_fact", "looks_like_csv", "parse_column_mapping",
           "read_csv_rows"]
# Column names from EasyEdit's flat files, understood without a mapping.
_ALIASES = {
    "ground_truth": "target_true",
    "rephrase_prompt": "paraphrases",
    "locality_ground_truth": "locality_answer",
    "portability_ground_truth": "portability_answer",
}


def parse_column_mapping(spec: str | Iterable[str]) -> dict[str, str]:
    """``"question=prompt, answer=target_new"`` (or a list of such items) -> {column: field}."""
    items = re.split(r"[,\n]", spec) if isinstance(spec, str) else list(spec)
    mapping = {}
    for item in items:
        column, sep, field = item.rpartition("=")
        if not item.strip():
            continue
        if not sep or not column.strip() or not field.strip():
            raise ValueError(f"column mapping {item.strip()!r}: expected COLUMN=FIELD")
        mapping[column.strip()] = field.strip()
    return mapping


def _default_mapping(columns: Iterable[str]) -> dict[str, str]:
    mapping = {}
    for column in columns:
        name = column.strip().lower()
        if name in CSV_FIELDS or name in _ALIASES:
            mapping[column] = _ALIASES.get(name, name)
    return mapping


def check_mapping(path: Path, columns: tuple[str, ...], mapping: Mapping[str, str] | None) -> dict[str, str]:
    """The mapping to use for this header; a FactsFileError says what is missing or wrong."""
    chosen = _default_mapping(columns) if mapping is None else dict(mapping)
    for column, field in chosen.items():
        if column not in columns:
            raise FactsFileError(path, f"column mapping: no column {column!r}; the columns are {', '.join(columns)}")
        if field not in CSV_FIELDS:
            raise FactsFileError(path, f"column mapping: {column!r} maps to unknown field {field!r}; "
                                       f"fields: {', '.join(CSV_FIELDS)}")
    for field in TEXT_FIELDS:
        sources = [c for c, f in chosen.items() if f == field]
        if len(sources) > 1:
            raise FactsFileError(path, f"column mapping: field {field!r} comes from several columns: "
                                       f"{', '.join(sources)}")
    missing = [f for f in REQUIRED_FIELDS if f not in chosen.values()]
    if missing:
        raise FactsFileError(path, f"no column for field {', '.join(map(repr, missing))}; the columns are "
                                   f"{', '.join(columns)}; pass a mapping such as COLUMN={missing[0]}")
    return chosen


def split_list(cell: str, column: str) -> list[str]:
    """A JSON list of texts, or texts separated by ``|``."""
    cell = cell.strip()
    if cell.startswith("["):
        try:
            value = json.loads(cell)
        except json.JSONDecodeError:
            value = None  # text that merely starts with "[": read it as |-separated
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise FactError(column, "must be a JSON list of texts")
            return [v.strip() for v in value if v.strip()]
    return [part.strip() for part in cell.split("|") if part.strip()]


def _json_probes(cell: str, column: str) -> list[Any]:
    if not cell.strip():
        return []
    try:
        value = json.loads(cell)
    except json.JSONDecodeError as err:
        raise FactError(column, f"must be a JSON list of {{prompt, answer}} objects ({err.msg})") from None
    if not isinstance(value, list):
        raise FactError(column, "must be a JSON list of {prompt, answer} objects")
    return value


def _paired_probes(fields: dict[str, Any], names: dict[str, str], kind: str) -> list[dict[str, str]]:
    prompts, answers = fields.pop(f"{kind}_prompt", []), fields.pop(f"{kind}_answer", [])
    if len(prompts) != len(answers):
        column = names.get(f"{kind}_answer") or names.get(f"{kind}_prompt")
        raise FactError(column, f"has {len(answers)} answers for {len(prompts)} {kind} prompts")
    if prompts:
        names.setdefault(kind, names[f"{kind}_prompt"])
    return [{"prompt": p, "answer": a} for p, a in zip(prompts, answers, strict=True)]


def csv_fact(row: Mapping[str, Any], mapping: Mapping[str, str]) -> Fact:
    """One CSV row as a Fact; errors name the CSV column."""
    fields: dict[str, Any] = {}
    names: dict[str, str] = {}
    for column, field in mapping.items():
        cell = row.get(column) or ""
        names.setdefault(field, column)
        if field in TEXT_FIELDS:
            fields[field] = cell
        elif field in PROBE_FIELDS:
            fields.setdefault(field, []).extend(_json_probes(cell, column))
        else:
            fields.setdefault(field, []).extend(split_list(cell, column))
    for kind in PROBE_FIELDS:
        fields[kind] = fields.get(kind, []) + _paired_probes(fields, names, kind)
    return build_fact(fields, names)
