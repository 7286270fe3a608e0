"""Writing facts: Factsmith JSONL (lossless) and exports for EasyEdit, KnowEdit and CSV.

Every write is atomic (a temp file beside the target, then os.replace), so a crash never
leaves a half-written file. Exports take optional extra columns per fact (status, note,
reviewer, ...) as ``{fact.id: {column: value}}``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

from core.facts.fact import Fact
from core.facts.io.csv_format import PROBE_FIELDS, TEXT_FIELDS
from core.util.atomic import replacing

log = logging.getLogger(__name__)

Extras = Mapping[str, Mapping[str, Any]]
# KnowEdit groups probes by kind; Factsmith's are not classified, so they go under the
# kinds EasyEdit's KnowEdit runner reads for general locality and one-hop portability.
KNOWEDIT_LOCALITY_KIND = "Relation_Specificity"
KNOWEDIT_PORTABILITY_KIND = "Reasoning"
CSV_COLUMNS = (*TEXT_FIELDS, "paraphrases", "locality", "portability", "context")


def atomic_write(path: str | os.PathLike[str], write: Callable[[TextIO], None]) -> None:
    """Write through ``write`` into a temp file in the target's folder, then swap it in."""
    with replacing(path, durable=True) as temp, open(temp, "w", encoding="utf-8", newline="") as out:
        write(out)


def write_facts_jsonl(path: str | os.PathLike[str], facts: Iterable[Fact]) -> None:
    """One ``Fact.to_dict()`` per line; ``read_facts`` reads it back unchanged."""
    lines = [json.dumps(fact.to_dict(), ensure_ascii=False) + "\n" for fact in facts]
    atomic_write(path, lambda out: out.writelines(lines))


def easyedit_row(fact: Fact) -> dict[str, Any]:
    """EasyEdit's flat CounterFact row: it holds one paraphrase and one locality probe."""
    locality = fact.locality[0] if fact.locality else None
    return {
        "prompt": fact.prompt,
        "subject": fact.subject,
        "target_new": fact.target_new,
        "ground_truth": fact.target_true,
        "rephrase_prompt": fact.paraphrases[0] if fact.paraphrases else "",
        "locality_prompt": locality.prompt if locality else "",
        "locality_ground_truth": locality.answer if locality else "",
    }


def knowedit_row(fact: Fact) -> dict[str, Any]:
    """A KnowEdit row; ``context`` (ICE data) only when the fact has one."""
    row = {
        "subject": fact.subject,
        "prompt": fact.prompt,
        "target_new": fact.target_new,
        "ground_truth": fact.target_true,
        "rephrase_prompt": fact.paraphrases[0] if fact.paraphrases else "",
        "portability": _grouped(KNOWEDIT_PORTABILITY_KIND, fact.portability),
        "locality": _grouped(KNOWEDIT_LOCALITY_KIND, fact.locality),
    }
    if fact.context:
        row["context"] = list(fact.context)
    return row


def _grouped(kind: str, probes: Sequence[Any]) -> dict[str, list[dict[str, str]]]:
    return {kind: [{"prompt": p.prompt, "ground_truth": p.answer} for p in probes]} if probes else {}


def csv_row(fact: Fact) -> dict[str, str]:
    """Texts as they are; lists as JSON, which the CSV reader's default mapping reads back."""
    row = {name: getattr(fact, name) for name in TEXT_FIELDS}
    row["paraphrases"] = _json_cell(list(fact.paraphrases))
    for name in PROBE_FIELDS:
        row[name] = _json_cell([p.to_dict() for p in getattr(fact, name)])
    row["context"] = _json_cell(list(fact.context))
    return row


def _json_cell(value: list[Any]) -> str:
    return json.dumps(value, ensure_ascii=False) if value else ""


def _with_extras(row: dict[str, Any], fact: Fact, extras: Extras | None) -> dict[str, Any]:
    extra = (extras or {}).get(fact.id, {})
    clash = sorted(set(extra) & set(row))
    if clash:
        raise ValueError(f"extra columns {clash} clash with the exported fields")
    return {**row, **extra}


def _warn_lossy(facts: Sequence[Fact], what: str, lost: Callable[[Fact], bool]) -> None:
    count = sum(1 for fact in facts if lost(fact))
    if count:
        log.warning("%d of %d facts lose %s in this export", count, len(facts), what)


def export_easyedit_json(path: str | os.PathLike[str], facts: Sequence[Fact], extras: Extras | None = None) -> None:
    """A JSON array of EasyEdit flat CounterFact rows, with ``case_id`` counting from 0."""
    _warn_lossy(facts, "paraphrases or locality probes beyond the first",
                lambda f: len(f.paraphrases) > 1 or len(f.locality) > 1)
    _warn_lossy(facts, "portability, context or relation", lambda f: bool(f.portability or f.context or f.relation))
    rows = [_with_extras({"case_id": i, **easyedit_row(f)}, f, extras) for i, f in enumerate(facts)]
    _write_json(path, rows)


def export_knowedit_json(path: str | os.PathLike[str], facts: Sequence[Fact], extras: Extras | None = None) -> None:
    """A JSON array of KnowEdit rows (ICE-compatible where facts carry context)."""
    _warn_lossy(facts, "paraphrases beyond the first or the relation",
                lambda f: len(f.paraphrases) > 1 or bool(f.relation))
    _write_json(path, [_with_extras(knowedit_row(f), f, extras) for f in facts])


def _write_json(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> None:
    text = json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    atomic_write(path, lambda out: out.write(text))


def export_csv(path: str | os.PathLike[str], facts: Sequence[Fact], extras: Extras | None = None) -> None:
    """All fields of each fact (lossless), then the extra columns in order of first appearance."""
    rows = [_with_extras(csv_row(f), f, extras) for f in facts]
    columns = list(CSV_COLUMNS)
    for row in rows:
        columns += [key for key in row if key not in columns]

    def write(out: TextIO) -> None:
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows({key: _csv_cell(value) for key, value in row.items()} for row in rows)

    atomic_write(path, write)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
