"""CSV records, checked for the damage a cut-off or hand-edited file shows.

The csv module is lenient: a quote never closed swallows the rest of the file into one
cell, a short row is padded silently, and a file cut mid-row reads as a complete last row.
Here the reader is strict and every record must have exactly the header's cells.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.facts.io.errors import FactsFileError

_DELIMITERS = ",\t;"


@dataclass(frozen=True)
class CsvRows:
    header: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]  # (row number, {column: cell}); the header is row 1
    errors: list[FactsFileError]


def looks_like_csv(text: str, path: Path) -> bool:
    first_line = text.lstrip().split("\n", 1)[0]
    return path.suffix.lower() in (".csv", ".tsv") or any(d in first_line for d in _DELIMITERS)


def _delimiter(text: str, path: Path) -> str:
    """Tab for .tsv, else the delimiter the header line uses most (headers are rarely quoted)."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    first_line = text.lstrip().split("\n", 1)[0]
    return max(_DELIMITERS, key=first_line.count)


def _records(text: str, delimiter: str) -> Iterator[tuple[int, int, list[str] | str]]:
    """(row number, first line, cells or the csv module's complaint) per record."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    number, line = 0, 1
    while True:
        number += 1
        try:
            cells: list[str] | str = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            cells = str(err)
        yield number, line, cells
        line = reader.line_num + 1


def _record_error(path: Path, number: int, line: int, problem: str) -> FactsFileError:
    if "end of data" in problem:
        return FactsFileError(path, f"a quote opened in this row (line {line}) is never closed: it runs to the "
                                    "end of the file (was the file cut off?); close or double the quote",
                              line=number, unit="row")
    return FactsFileError(path, f"malformed CSV at line {line}: {problem}; a quote inside a cell must be doubled "
                                "(\"\") and the cell quoted", line=number, unit="row")


def _count_error(path: Path, number: int, line: int, cells: list[str], width: int) -> FactsFileError | None:
    if len(cells) == width:
        return None
    merged = any("\n" in cell for cell in cells)
    hint = ("; a cell spans several lines, so a quote is probably not closed where it should be" if merged
            else "; quote cells that hold the delimiter")
    where = f" (it starts on line {line} of the file)" if line != number else ""  # rows span lines when a cell does
    return FactsFileError(path, f"has {len(cells)} cells but the header has {width}{where}{hint}",
                          line=number, unit="row")


def _unterminated(path: Path, text: str, number: int, cells: list[str], width: int) -> FactsFileError | None:
    """The last record of a file that does not end with a line break may have been cut off."""
    # Only a line break shows the last cell is complete: even a closing quote may be the first
    # half of a doubled "" cut off.
    if text.endswith(("\n", "\r")):
        return None
    cut = f"has {len(cells)} of {width} cells and" if len(cells) < width else ""
    return FactsFileError(path, f"the last row {cut} has no line end: the file looks cut off mid-row; if the row is "
                                "complete, end the file with a line break", line=number, unit="row")


def read_csv_rows(path: Path, text: str) -> CsvRows:
    records = _records(text, _delimiter(text, path))
    first = next(records, None)
    if first is None or isinstance(first[2], str) or not any(cell.strip() for cell in first[2]):
        raise FactsFileError(path, "the CSV file has no readable header row")
    header = tuple(cell.strip() for cell in first[2])
    if len(set(header)) != len(header):
        raise FactsFileError(path, f"the header repeats a column name: {', '.join(header)}", line=1, unit="row")
    result = CsvRows(header, [], [])
    last: tuple[int, list[str]] | None = None
    for number, line, cells in records:
        if isinstance(cells, str):
            result.errors.append(_record_error(path, number, line, cells))
            last = None
            continue
        last = (number, cells)
        if not any(cell.strip() for cell in cells):
            continue
        error = _count_error(path, number, line, cells, len(header))
        if error is None:
            result.rows.append((number, dict(zip(header, cells, strict=True))))
        else:
            result.errors.append(error)
    _check_end(path, text, result, last)
    return result


def _check_end(path: Path, text: str, result: CsvRows, last: tuple[int, list[str]] | None) -> None:
    if last is None or not any(cell.strip() for cell in last[1]):
        return
    error = _unterminated(path, text, last[0], last[1], len(result.header))
    if error is None:
        return
    result.rows[:] = [(n, row) for n, row in result.rows if n != last[0]]
    result.errors[:] = [e for e in result.errors if e.line != last[0]] + [error]
