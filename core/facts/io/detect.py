"""Which JSON format a whole file is in, looking at every row, and what it leaves unread.

A format is recognised by keys some rows may lack (an EasyEdit file's first rows can have no
locality keys and so look like KnowEdit), so detection asks which formats *every* row fits,
then picks the first of those that some row positively shows. A file whose rows fit no
single format mixes formats and is refused at the first row that breaks the fit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.facts.io.errors import FactsFileError
from core.facts.io.formats import JSON_FORMATS, KNOWN_KEYS, RowFormat

Positioned = Sequence[tuple[int, Any]]


def fits(row: Mapping[str, Any], row_format: RowFormat) -> bool:
    """No key of the row means something in another format but nothing in this one."""
    return all(key not in KNOWN_KEYS or key in row_format.reads or key in row_format.known for key in row)


def _owners(keys: list[str]) -> str:
    return ", ".join(f"{key} ({'/'.join(f.name for f in JSON_FORMATS if key in f.reads | f.known)})" for key in keys)


def _mixed(path: Path, unit: str, position: int, row: Mapping[str, Any], earlier: RowFormat | None) -> FactsFileError:
    if earlier is None:
        keys = sorted(k for k in row if k in KNOWN_KEYS)
        message = f"this row holds keys of several formats: {_owners(keys)}; keep the keys of one format"
    else:
        foreign = sorted(k for k in row if k in KNOWN_KEYS and k not in earlier.reads | earlier.known)
        message = (f"the file mixes formats: the rows before this one are {earlier.name}, this one has "
                   f"{_owners(foreign)}; split the file by format")
    return FactsFileError(path, message, line=position, unit=unit)


def detect_file_format(path: Path, unit: str, rows: Positioned) -> RowFormat | None:
    """The format every object row fits and some row shows; None if no row shows one."""
    objects = [(p, r) for p, r in rows if isinstance(r, Mapping)]  # others: bad rows, reported later
    candidates = list(JSON_FORMATS)
    for i, (position, row) in enumerate(objects):
        remaining = [f for f in candidates if fits(row, f)]
        if not remaining:
            raise _mixed(path, unit, position, row, _pick(candidates, objects[:i]))
        candidates = remaining
    return _pick(candidates, objects)


def _pick(candidates: list[RowFormat], objects: Positioned) -> RowFormat | None:
    """The first candidate (most specific) that some row positively shows."""
    return next((f for f in candidates if any(f.detect(row) for _, row in objects)), None)


def ignored_keys(rows: Positioned, row_format: RowFormat) -> tuple[tuple[str, int], ...]:
    """(key, rows holding it) for each key the format takes nothing from, in first-seen order."""
    counts: Counter[str] = Counter()
    for _, row in rows:
        if isinstance(row, Mapping):
            counts.update(key for key in row if key not in row_format.reads)
    return tuple(counts.items())
