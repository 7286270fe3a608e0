"""A seeded fuzzer for the facts reader: mutations of valid files in every format, each with
the outcome it may have. Shared by tests/core/test_import_fuzz.py and bench/fuzz_import.py.

Each case is a valid file (JSON Lines, JSON array or CSV, in one of the row formats) with one
mutation. An oracle says what reading it may give: the original facts (the mutation is
harmless, or hit a field the format ignores), a FactsFileError naming the mutated row, a
prefix of the original facts (truncation at a row boundary), or, for random damage such as bit
flips, anything but a non-FactsFileError exception.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.facts.fact import Fact
from core.facts.io import FactsFileError, export_csv, read_facts

SAMPLES = Path(__file__).parent / "data" / "facts_io_samples.json"
DEEP = "@@DEEP@@"
BAD_CHARS = ("\u0000", "\u200b", "\u00ad", "\u202e", "\u200f", "\u0007", "\ufeff", "\u2060")
WRONG_VALUES = (False, True, 0, 1, 3.5, {}, {"x": 1})
OUTCOMES = ("traceback", "wrong", "refused", "read")


@dataclass(frozen=True)
class Case:
    name: str
    suffix: str
    data: bytes
    oracle: str  # "equal" | "refused_at" | "refused_or_equal" | "prefix" | "clean"
    expected: tuple[Fact, ...]
    position: int | None = None  # the mutated row, as the reader numbers it


def samples() -> dict[str, Any]:
    return json.loads(SAMPLES.read_text(encoding="utf-8"))


def base_rows(name: str, sample: dict[str, Any]) -> list[dict[str, Any]]:
    """Four rows of a format; an EasyEdit file whose first rows have no locality keys."""
    rows = [json.loads(json.dumps(sample)) for _ in range(4)]
    if name == "easyedit":
        for row in rows[:2]:
            row.pop("locality_prompt")
            row.pop("locality_ground_truth")
        rows[3]["fake_evidence"] = "Danielle Darrieux was born in London and speaks English."
    return rows


def _position(container: str, index: int) -> int:
    return {"jsonl": index + 1, "json": index, "csv": index + 2}[container]


def serialise(container: str, row_texts: list[str]) -> str:
    if container == "jsonl":
        return "".join(text + "\n" for text in row_texts)
    return "[\n" + ",\n".join(row_texts) + "\n]\n"


def _dump(row: Any) -> str:
    text = json.dumps(row)  # ensure_ascii: lone surrogates become \ud83d escapes
    return text.replace(f'"{DEEP}"', "[" * 5000 + "]" * 5000)


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*path, i))
    return found


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(row: Any, path: tuple, new: Any) -> Any:
    row = json.loads(json.dumps(row))
    _get(row, path[:-1])[path[-1]] = new
    return row


def _string_paths(row: Any) -> list[tuple]:
    return [p for p in _paths(row) if isinstance(_get(row, p), str)]


JsonMutation = Callable[[random.Random, list[dict[str, Any]]], tuple[list[str], str, int | None]]


def _texts(rows: list[dict[str, Any]]) -> list[str]:
    return [_dump(row) for row in rows]


def _one_row(rng: random.Random, rows: list[dict[str, Any]], change: Callable[[Any], Any]) -> tuple[list[str], int]:
    index = rng.randrange(len(rows))
    texts = _texts(rows)
    texts[index] = change(rows[index])
    return texts, index


def m_surrogate(rng, rows):
    def change(row):
        path = rng.choice(_string_paths(row))
        return _dump(_set(row, path, _get(row, path) + rng.choice(("\ud83d", "\udc00", "\ud800"))))
    texts, index = _one_row(rng, rows, change)
    return texts, "refused_or_equal", index


def m_bad_char(rng, rows):
    def change(row):
        path = rng.choice(_string_paths(row))
        value = _get(row, path)
        at = rng.randrange(len(value) + 1)
        return _dump(_set(row, path, value[:at] + rng.choice(BAD_CHARS) + value[at:]))
    texts, index = _one_row(rng, rows, change)
    return texts, "refused_or_equal", index


def m_blank(rng, rows):
    def change(row):
        path = rng.choice(_string_paths(row))
        return _dump(_set(row, path, rng.choice(("\u200b", "\u0301\u0301", "\u200f\u200e", "\u0000", "\u034f"))))
    texts, index = _one_row(rng, rows, change)
    return texts, "refused_or_equal", index


def m_wrong_type(rng, rows):
    def change(row):
        path = rng.choice(_paths(row))
        old = _get(row, path)
        # A value of another type: {} for a KnowEdit probe group is just an empty group.
        wrong = [v for v in WRONG_VALUES if type(v) is not type(old)]
        return _dump(_set(row, path, rng.choice(wrong)))
    texts, index = _one_row(rng, rows, change)
    return texts, "refused_or_equal", index


def m_deep(rng, rows):
    texts, index = _one_row(rng, rows, lambda row: _dump(_set(row, rng.choice(_paths(row)), DEEP)))
    return texts, "refused", index  # a JSON array fails as a whole: the error names the file's line


def m_duplicate_key(rng, rows):
    def change(row):
        path = rng.choice([p for p in [(), *_paths(row)] if isinstance(_get(row, p), dict) and _get(row, p)])
        obj = _get(row, path)
        key = rng.choice(list(obj))
        marker = "@@OBJ@@"
        text = _dump(_set(row, path, marker) if path else marker)
        clash = "{" + json.dumps(key) + ': "other value", ' + _dump(obj)[1:]
        return text.replace(f'"{marker}"', clash)
    texts, index = _one_row(rng, rows, change)
    return texts, "refused_at", index


def m_harmless(rng, rows):
    texts = []
    for row in rows:
        items = list(row.items())
        rng.shuffle(items)
        extra = {"reviewer_note": "checked"} if rng.random() < 0.5 else {}
        texts.append(json.dumps({**dict(items), **extra}, ensure_ascii=rng.random() < 0.5))
    return texts, "equal", None


def m_bit_flip(rng, rows):
    texts = _texts(rows)
    index = rng.randrange(len(texts))
    raw = bytearray(texts[index].encode())
    at = rng.randrange(len(raw))
    raw[at] ^= 1 << rng.randrange(8)
    texts[index] = raw.decode("utf-8", errors="surrogateescape")
    return texts, "clean", index


JSON_MUTATIONS: dict[str, JsonMutation] = {
    "surrogate": m_surrogate, "bad_char": m_bad_char, "blank": m_blank, "wrong_type": m_wrong_type,
    "deep": m_deep, "duplicate_key": m_duplicate_key, "harmless": m_harmless, "bit_flip": m_bit_flip,
}


def m_mixed(rng, rows, name, all_samples):
    others = [other for other in all_samples if _converter_family(other) != _converter_family(name)]
    other = rng.choice(others)
    texts = _texts(rows)
    index = rng.randrange(1, len(rows))
    texts[index] = _dump(all_samples[other])
    # Refused, but maybe at a later row: rows can fit both formats until one shows the difference.
    return texts, "refused", index


def _converter_family(name: str) -> str:
    return "knowedit" if name == "ice" else name


# --- CSV: the file as records (lists of cells), mutated, then written back -----------------

CsvMutation = Callable[[random.Random, list[list[str]]], tuple[str, str, int | None]]
TEXT_COLUMNS = ("subject", "prompt", "target_new", "target_true", "relation")


def write_records(records: list[list[str]], terminator: str = "\n") -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerows(records)
    return out.getvalue()


def _data_row(rng: random.Random, records: list[list[str]]) -> int:
    return rng.randrange(1, len(records))


def c_drop_cell(rng, records):
    index = _data_row(rng, records)
    del records[index][rng.randrange(len(records[index]))]
    return write_records(records), "refused_at", index + 1


def c_extra_cell(rng, records):
    index = _data_row(rng, records)
    records[index].insert(rng.randrange(len(records[index]) + 1), "extra")
    return write_records(records), "refused_at", index + 1


def c_bad_char(rng, records):
    index = _data_row(rng, records)
    column = rng.randrange(len(records[index]))
    cell = records[index][column]
    at = rng.randrange(len(cell) + 1)
    records[index][column] = cell[:at] + rng.choice(BAD_CHARS) + cell[at:]
    return write_records(records), "refused_or_equal", index + 1


def c_stray_quote(rng, records):
    index = _data_row(rng, records)
    text = write_records(records)
    lines = text.split("\n")
    line = lines[index]
    cuts = [0] + [i + 1 for i, char in enumerate(line) if char == ","]
    at = rng.choice(cuts)
    lines[index] = line[:at] + '"' + line[at:]
    return "\n".join(lines), "refused", index + 1


def c_crlf(rng, records):
    return write_records(records, "\r\n"), "equal", None


def c_no_final_newline(rng, records):
    return write_records(records).rstrip("\n"), "refused_or_equal", len(records)


CSV_MUTATIONS: dict[str, CsvMutation] = {
    "drop_cell": c_drop_cell, "extra_cell": c_extra_cell, "bad_char": c_bad_char, "stray_quote": c_stray_quote,
    "crlf": c_crlf, "no_final_newline": c_no_final_newline,
}


# --- cases, and judging their outcome -------------------------------------------------------

CONTAINERS = ("jsonl", "json", "csv")


class _Bases:
    """Valid files and the facts they hold, built once per format and container."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.samples = samples()
        self.cache: dict[tuple[str, str], tuple[list[dict[str, Any]], tuple[Fact, ...], str]] = {}

    def get(self, name: str, container: str) -> tuple[list[dict[str, Any]], tuple[Fact, ...], str]:
        key = (name, container)
        if key not in self.cache:
            rows = base_rows(name, self.samples[name])
            path = self.folder / f"base-{name}.{'jsonl' if container == 'csv' else container}"
            path.write_text(serialise(container if container != "csv" else "jsonl", _texts(rows)), encoding="utf-8")
            facts = tuple(read_facts(path))
            text = ""
            if container == "csv":
                export_csv(self.folder / f"base-{name}.csv", facts)
                text = (self.folder / f"base-{name}.csv").read_text(encoding="utf-8")
            self.cache[key] = (rows, facts, text)
        return self.cache[key]


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(1, len(data))]


def make_case(rng: random.Random, bases: _Bases, number: int) -> Case:
    name = rng.choice(sorted(bases.samples))
    container = rng.choice(CONTAINERS)
    rows, facts, csv_text = bases.get(name, container)
    truncate = rng.random() < 0.15
    if container == "csv":
        import csv
        import io

        records = [list(r) for r in csv.reader(io.StringIO(csv_text))]
        kind = "truncate" if truncate else rng.choice(sorted(CSV_MUTATIONS))
        text, oracle, position = (csv_text, "prefix", None) if truncate else CSV_MUTATIONS[kind](rng, records)
    else:
        kind = "truncate" if truncate else rng.choice([*sorted(JSON_MUTATIONS), "mixed"])
        if truncate:
            texts, oracle, index = _texts(rows), "prefix", None
        elif kind == "mixed":
            texts, oracle, index = m_mixed(rng, rows, name, bases.samples)
        else:
            texts, oracle, index = JSON_MUTATIONS[kind](rng, rows)
        text = serialise(container, texts)
        position = None if index is None else _position(container, index)
    data = text.encode("utf-8", errors="surrogateescape")
    if truncate:
        data = _truncate(rng, data)
    return Case(f"{number:05d}-{name}-{container}-{kind}", container, data, oracle, facts, position)


def cases(count: int, seed: int, folder: Path) -> list[Case]:
    rng = random.Random(seed)
    bases = _Bases(folder)
    return [make_case(rng, bases, number) for number in range(count)]


def _is_prefix(read: list[Fact], expected: tuple[Fact, ...]) -> bool:
    return tuple(read) == expected[: len(read)]


def judge(case: Case, folder: Path) -> tuple[str, str]:
    """(outcome in OUTCOMES, detail) for one case."""
    path = folder / f"{case.name}.{case.suffix}"
    path.write_bytes(case.data)
    try:
        read = read_facts(path)
    except FactsFileError as err:
        return _judge_refusal(case, err)
    except Exception as err:  # the point of the fuzzer: nothing else may escape
        return "traceback", f"{type(err).__name__}: {err}"[:300]
    ok = {"equal": tuple(read) == case.expected, "refused_at": False, "refused": False,
          "refused_or_equal": tuple(read) == case.expected, "prefix": _is_prefix(read, case.expected),
          "clean": True}[case.oracle]
    return ("read", "") if ok else ("wrong", f"accepted {len(read)} facts, expected {case.oracle}")


def _judge_refusal(case: Case, err: FactsFileError) -> tuple[str, str]:
    if case.oracle == "equal":
        return "wrong", f"refused a harmless change: {err}"
    if case.oracle in ("refused_at", "refused_or_equal") and err.line != case.position:
        return "wrong", f"refused at {err.line}, not at the mutated row {case.position}: {err}"
    if case.oracle == "refused" and err.line is None:
        return "wrong", f"refused without naming a row: {err}"
    return "refused", str(err)[:300]


def run(count: int, seed: int, folder: Path) -> tuple[Counter[str], list[tuple[str, str, str]]]:
    """Counts per outcome, and (case, outcome, detail) for the tracebacks and wrong outcomes."""
    counts: Counter[str] = Counter({outcome: 0 for outcome in OUTCOMES})
    bad = []
    for case in cases(count, seed, folder):
        outcome, detail = judge(case, folder)
        counts[outcome] += 1
        if outcome in ("traceback", "wrong"):
            bad.append((case.name, outcome, detail))
    return counts, bad
