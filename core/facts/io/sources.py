"""Raw rows out of a file or folder: JSON Lines, a JSON array (or an object wrapping one),
CSV, or a Hugging Face dataset saved with ``save_to_disk``. The container is told from the
content, not the file name (except .csv/.tsv, which settle a doubt towards CSV).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.facts.io.csv_rows import looks_like_csv, read_csv_rows
from core.facts.io.errors import FactsFileError
from core.facts.io.formats import detect_json_format
from core.facts.io.json_rows import JsonProblem, KeyClash, parse_json, row_problem

_ESCAPED = re.compile("[\udc80-\udcff]")  # a byte that was not UTF-8, kept by surrogateescape
_DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


@dataclass(frozen=True)
class RawRows:
    container: str  # "jsonl" | "json" | "csv" | "datasets"
    unit: str  # how ``rows`` positions count: "line" | "index" | "row" (see FactsFileError)
    rows: tuple[tuple[int, Any], ...]  # (position, row as read)
    errors: tuple[FactsFileError, ...] = ()  # rows that could not even be parsed
    columns: tuple[str, ...] = ()  # CSV header


def load_rows(path: Path, format: str | None) -> RawRows:
    """The rows of ``path``; ``format`` "csv" forces CSV, a JSON format name forbids it."""
    if path.is_dir():
        return _dataset_rows(path)
    text = _read_text(path)
    if not text.strip():
        raise FactsFileError(path, "the file is empty")
    if format == "csv":
        return _csv_rows(path, text)
    if text.lstrip()[0] in "[{":
        return _json_rows(path, text)
    if format is None and looks_like_csv(text, path):
        return _csv_rows(path, text)
    wanted = f"format {format!r} needs JSON or JSON Lines" if format else "it is not JSON, JSON Lines or CSV"
    raise FactsFileError(path, f"cannot read this file: {wanted}; it starts with {text.strip()[:40]!r}")


def _read_text(path: Path) -> str:
    """The file as text. A byte that is not UTF-8 stays in it escaped (U+DC80-U+DCFF), so the row
    holding it is refused by name and the others still read (trial 40: one bad byte hid every other
    problem, even with skip-invalid); a file of mostly such bytes is no facts file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        # the whole path: its last part alone may name another file or folder (trial 46)
        raise FactsFileError(path, f"no such file: {path.absolute()}") from None
    except OSError as err:
        raise FactsFileError(path, f"cannot read the file: {err.strerror or err}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        text = data.decode("utf-8-sig", errors="surrogateescape")
        lines = [line for line in text.split("\n") if line.strip()]
        if b"\x00" in data or 2 * sum(bool(_ESCAPED.search(line)) for line in lines) > len(lines):
            line = 1 + err.object[: err.start].count(b"\n")
            raise FactsFileError(path, f"not UTF-8 text (byte {err.start}): is it a facts file? Re-save it as "
                                       "UTF-8", line=line) from None
        return text


def undecoded(value: Any, field: str | None = None) -> tuple[str | None, str] | None:
    """(field, message) for the first string in a row holding a byte that was not UTF-8."""
    if isinstance(value, str):
        found = _ESCAPED.search(value)
        return None if found is None else (field, f"not UTF-8 text (byte 0x{ord(found.group()) - 0xDC00:02X}): "
                                                  "re-save the file as UTF-8")
    if isinstance(value, Mapping):
        for key in value:  # a field's name too: it is shown and stored with the import (ignored fields)
            if _ESCAPED.search(str(key)):
                return undecoded(str(key), str(key).encode("utf-8", "backslashreplace").decode())
        items = [(str(key), item) for key, item in value.items()]
    else:
        items = [(field, item) for item in value] if isinstance(value, list) else []
    for name, item in items:
        problem = undecoded(item, field or name)
        if problem is not None:
            return problem
    return None


def _csv_rows(path: Path, text: str) -> RawRows:
    read = read_csv_rows(path, text)
    if (problem := undecoded(list(read.header))) is not None:
        raise FactsFileError(path, f"the header row: {problem[1]}", line=1, unit="row")
    good, errors = [], list(read.errors)
    for number, row in read.rows:
        problem = undecoded(row)
        if problem is None:
            good.append((number, row))
        else:
            errors.append(FactsFileError(path, problem[1], line=number, field=problem[0], unit="row"))
    return RawRows("csv", "row", tuple(good), tuple(sorted(errors, key=lambda e: e.line or 0)), read.header)


def _checked(path: Path, rows: list[tuple[int, Any]], unit: str,
             errors: list[FactsFileError]) -> tuple[tuple[tuple[int, Any], ...], tuple[FactsFileError, ...]]:
    """Rows without a repeated key or runaway nesting; those become errors naming the field."""
    good = []
    for position, row in rows:
        problem = row_problem(row) or undecoded(row)
        if problem is None:
            good.append((position, row))
        else:
            errors.append(FactsFileError(path, problem[1], line=position, field=problem[0] or None, unit=unit))
    return tuple(good), tuple(errors)


def _json_rows(path: Path, text: str) -> RawRows:
    try:
        data = parse_json(text)
    except JsonProblem as err:
        if text.lstrip().startswith("{"):
            return _jsonl_rows(path, text)  # several objects, one per line
        raise FactsFileError(path, err.message, line=err.line) from None
    if isinstance(data, list):
        return RawRows("json", "index", *_checked(path, list(enumerate(data)), "index", []))
    if not isinstance(data, dict):
        raise FactsFileError(path, f"the JSON holds a {type(data).__name__}, not a list of edit requests")
    wrapped = _wrapped_list(path, data)
    if wrapped is not None:
        return RawRows("json", "index", *_checked(path, list(enumerate(wrapped)), "index", []))
    # A single request: number it by its line, as JSON Lines would (and a .jsonl of one line is JSON Lines)
    container = "jsonl" if Path(path).suffix.lower() == ".jsonl" else "json"
    return RawRows(container, "line", *_checked(path, [(1 + _leading_lines(text), data)], "line", []))


def _leading_lines(text: str) -> int:
    return text[: len(text) - len(text.lstrip())].count("\n")


def _wrapped_list(path: Path, data: dict[str, Any]) -> list[Any] | None:
    """The list of requests an object wraps ({"data": [...]}), or None for a bare request."""
    if detect_json_format([data]) is not None:
        return None
    lists = [key for key, value in data.items() if isinstance(value, list) and value
             and all(isinstance(item, Mapping) for item in value)]
    if len(lists) > 1:
        raise FactsFileError(path, f"the JSON object holds several lists ({', '.join(lists)}): "
                                   "cannot tell which holds the edit requests")
    if lists and isinstance(data, KeyClash):
        raise FactsFileError(path, f"the wrapping object repeats the key {data.key!r}: remove one")
    return data[lists[0]] if lists else None


def _jsonl_rows(path: Path, text: str) -> RawRows:
    rows, errors = [], []
    # Split on "\n" only: JSON strings may hold U+2028 and the like, which splitlines() splits on.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, parse_json(line)))
        except JsonProblem as err:
            errors.append(FactsFileError(path, err.message, line=number))
    return RawRows("jsonl", "line", *_checked(path, rows, "line", errors))


def _dataset_rows(path: Path) -> RawRows:
    if not any((path / marker).is_file() for marker in _DATASET_MARKERS):
        raise FactsFileError(path, "a folder, but not a dataset saved with datasets' save_to_disk")
    from datasets import DatasetDict, load_from_disk  # heavy: only when a dataset is opened

    try:
        dataset = load_from_disk(str(path))
    except (OSError, ValueError) as err:
        raise FactsFileError(path, f"cannot load the dataset: {err}") from None
    if isinstance(dataset, DatasetDict):
        if len(dataset) != 1:
            raise FactsFileError(path, f"the dataset holds the splits {', '.join(dataset)}: "
                                       "open one split's folder instead")
        dataset = next(iter(dataset.values()))
    return RawRows("datasets", "index", tuple(enumerate(dataset)))
