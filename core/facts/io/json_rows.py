"""Strict JSON parsing for facts files: duplicate keys and runaway nesting are errors.

``json.loads`` keeps the last of two equal keys without a word, and recurses once per
nesting level until Python's stack runs out (RecursionError). Objects with a repeated key
come back as ``KeyClash`` so that the reader can refuse the row that holds one, by name.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64  # no edit-request format nests beyond a handful of levels
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\[\]{}\n]')


class KeyClash(dict):
    """A JSON object in which ``key`` appeared more than once (the last value is kept)."""

    key: str = ""


class JsonProblem(ValueError):
    """Unparseable JSON: ``message`` says why, ``line`` (1-based) and ``column`` where."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.message, self.line, self.column = message, line, column
        super().__init__(message)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    clash = ""
    for key, value in pairs:
        if key in seen and not clash:
            clash = key
        seen[key] = value
    if not clash:
        return seen
    marked = KeyClash(seen)
    marked.key = clash
    return marked


def deep_line(text: str) -> int | None:
    """The line where brackets first nest beyond MAX_DEPTH, found without recursing."""
    depth, line = 0, 1
    for token in _TOKENS.finditer(text):
        mark = token.group()
        if mark == "\n":
            line += 1
        elif mark in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif mark in "]}":
            depth -= 1
    return None


def parse_json(text: str) -> Any:
    """The value ``text`` holds; JsonProblem for bad JSON, deep nesting or huge numbers."""
    try:
        return json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as err:
        raise JsonProblem(f"invalid JSON: {err.msg} (column {err.colno})", err.lineno, err.colno) from None
    except RecursionError:
        raise JsonProblem(f"the JSON nests deeper than {MAX_DEPTH} levels: no facts file does; is it "
                          "corrupted?", deep_line(text)) from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise JsonProblem(f"invalid JSON value: {err}") from None


def row_problem(row: Any) -> tuple[str, str] | None:
    """(field, what is wrong) for a parsed row with a repeated key or nesting beyond MAX_DEPTH."""
    stack: list[tuple[Any, str, int]] = [(row, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            return where, f"nests deeper than {MAX_DEPTH} levels"
        if isinstance(value, KeyClash):
            field = f"{where}.{value.key}" if where else value.key
            return field, "appears twice in the same object: remove one (only the last would be kept)"
        if isinstance(value, dict):
            stack += [(v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    return None
