"""Delta bytes, content-addressed by ``Delta.sha256``.

Deltas up to ``Store.inline_limit`` (16 MiB) live in the database as BLOBs: written in the
same transaction as the run that made them, so a killed process leaves both or neither,
and the workspace stays one file to copy. ROME/MEMIT deltas are low-rank (kilobytes to a
few MiB), so this is the usual case. A dense fine-tuning delta of a large model can reach
gigabytes, past what a BLOB should hold (SQLite's limit is 1 GB, and WAL writes it twice);
those go to ``<workspace>.deltas/<sha[:2]>/<sha>.safetensors``, written and fsynced
*before* the row naming them commits: a crash can leave an unreferenced file, never a row
pointing at a missing one. Every read checks the bytes against the recorded hash.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from core.edit.deltas import Delta
from core.ledger.db import Store
from core.ledger.errors import LedgerError
from core.util.atomic import replacing


def delta_folder(store: Store) -> Path:
    return store.path.with_name(f"{store.path.name}.deltas")


def _file_for(store: Store, sha: str) -> Path:
    return delta_folder(store) / sha[:2] / f"{sha}.safetensors"


def recorded_sha(data: bytes) -> str:
    """The sha256 that ``Delta.to_bytes`` wrote into the safetensors header ("" if there is none)."""
    length = int.from_bytes(data[:8], "little")
    try:
        sha = json.loads(data[8 : 8 + length]).get("__metadata__", {}).get("sha256", "")
    except (ValueError, AttributeError, RecursionError):  # bytes from outside (a patch) may be anything
        return ""
    return sha if isinstance(sha, str) else ""


def _write_durably(path: Path, data: bytes) -> None:
    with replacing(path, durable=True) as temp:
        temp.write_bytes(data)


def put_delta(store: Store, delta: Delta) -> tuple[str, int]:
    """Store the delta (once per content) inside the caller's write transaction; (sha256, bytes)."""
    data = delta.to_bytes()
    sha = recorded_sha(data)
    if store.scalar("SELECT size FROM deltas WHERE sha256 = ?", (sha,)) is not None:
        return sha, len(data)
    if len(data) > store.inline_limit:
        _write_durably(_file_for(store, sha), data)
        store.db.execute("INSERT INTO deltas (sha256, size, storage, data) VALUES (?, ?, 'file', NULL)",
                         (sha, len(data)))
    else:
        store.db.execute("INSERT INTO deltas (sha256, size, storage, data) VALUES (?, ?, 'inline', ?)",
                         (sha, len(data), data))
    return sha, len(data)


def delta_bytes(store: Store, sha: str) -> bytes:
    return _row_bytes(store, sha, store.one("SELECT storage, data FROM deltas WHERE sha256 = ?", (sha,)))


def _row_bytes(store: Store, sha: str, row: dict | None) -> bytes:
    if row is None:
        raise LedgerError(f"workspace {store.path}: no delta {sha[:12]} is stored")
    if row["storage"] == "inline":
        return bytes(row["data"])
    path = _file_for(store, sha)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LedgerError(f"delta {sha[:12]} is missing: expected the file {path}") from None


def get_delta(store: Store, sha: str) -> Delta:
    """The delta, checked: its content must hash to the sha256 it is stored under."""
    return _checked(store, sha, delta_bytes(store, sha))


def get_deltas(store: Store, hashes: Sequence[str]) -> list[Delta]:
    """The deltas in the given order, read in one query (a log replays hundreds), each checked
    like ``get_delta``."""
    by_sha = {row["sha256"]: row for row in store.all(
        "SELECT sha256, storage, data FROM deltas WHERE sha256 IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(hashes))),))}
    # popped as parsed: the bytes of all deltas and all parsed deltas are never held at once
    found = {sha: _checked(store, sha, _row_bytes(store, sha, by_sha.pop(sha, None))) for sha in dict.fromkeys(hashes)}
    return [found[sha] for sha in hashes]


def _checked(store: Store, sha: str, data: bytes) -> Delta:
    where = f"delta {sha[:12]} in workspace {store.path} is corrupt"
    try:
        recorded, delta = recorded_sha(data), Delta.from_bytes(data)  # checks the content against the header
    except Exception as exc:  # safetensors raises its own error type for bad bytes
        raise LedgerError(f"{where}: {exc}") from None
    if recorded != sha:
        raise LedgerError(f"{where}: its header records the hash {recorded[:12]}")
    return delta
