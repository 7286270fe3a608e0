"""The one error type of facts files: which file, which row, which field, what is wrong."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


class FactsFileError(ValueError):
    """A facts file, or one of its rows, cannot be read.

    ``line`` is None for problems with the whole file; otherwise it counts in ``unit``:
    "line" (JSON Lines, 1-based), "index" (JSON array or dataset, 0-based) or "row"
    (CSV, 1-based with the header as row 1, as a spreadsheet shows it). ``more`` holds the
    other bad rows when ``read_facts`` raises for a file with several.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        unit: str = "line",
        more: Sequence[FactsFileError] = (),
        more_count: int = 0,
    ) -> None:
        self.path = Path(path)
        # a byte that was not UTF-8 (kept escaped by the reader) never reaches a terminal or a database
        self.message = _printable(message)
        self.line = line
        self.field = _printable(field) if field else None
        self.unit = unit
        self.more = tuple(more)
        self.more_count = max(more_count, len(self.more))
        super().__init__(self._describe())

    @property
    def where(self) -> str:
        """``facts.jsonl line 7``, or just the file name for whole-file problems."""
        return self.path.name if self.line is None else f"{self.path.name} {self.unit} {self.line}"

    def _describe(self) -> str:
        field = f"field {self.field!r}: " if self.field else ""
        text = f"{self.where}: {field}{self.message}"
        if self.more_count:
            plural = "s" if self.more_count > 1 else ""
            text += f" (and {self.more_count} more bad row{plural})"
        return text

    def with_more(self, more: Sequence[FactsFileError], more_count: int) -> FactsFileError:
        """This error, carrying the file's other bad rows."""
        return FactsFileError(self.path, self.message, line=self.line, field=self.field, unit=self.unit,
                              more=more, more_count=more_count)


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
