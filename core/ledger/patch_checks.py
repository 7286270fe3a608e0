"""What a patch's contents must satisfy: the hash chain over its edits, and deltas whose
header (sizes, shapes) is sane before any tensor is loaded, multiplied or applied.

The chain binds every edit entry (facts, method, hyperparameters, metrics, the delta's
content hash and its file's sha256, which covers the ``info`` in its header) to the one
before it, from a seed naming the base and the start and end states. An edit altered,
dropped, swapped or reordered without recomputing the chain breaks it at that edit; one
recomputed throughout no longer matches the author's signature over the manifest.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from core.edit.deltas import Delta, DenseUpdate, LowRankUpdate
from core.ledger.errors import PatchError

CHAIN_VERSION = "factsmith-patch-chain-v1"
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_DENSE_ELEMENTS = 2**31  # what a low-rank product may expand to, before the model's shapes are known
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def chain_seed(manifest: dict[str, Any]) -> str:
    base, start, end = manifest["base"], manifest["from"], manifest["to"]
    text = (f"{CHAIN_VERSION}\n{base['fingerprint']}\n{base.get('identity', '')}\n{start['state_fingerprint']}\n"
            f"{end['commit']}\n{end['state_fingerprint']}\n")
    return hashlib.sha256(text.encode()).hexdigest()


def link(previous: str, edit: dict[str, Any]) -> str:
    body = {k: v for k, v in edit.items() if k != "link"}
    return hashlib.sha256(previous.encode() + b"\n" + _canonical(body)).hexdigest()


def chain_end(last: str, manifest: dict[str, Any]) -> str:
    tail = {"commits": manifest.get("commits", []), "weights": manifest["weights"]}
    return hashlib.sha256(last.encode() + b"\n" + _canonical(tail)).hexdigest()


def seal(manifest: dict[str, Any]) -> None:
    """Write each edit's link and the chain's end into the manifest (already JSON-normalised)."""
    previous = chain_seed(manifest)
    for edit in manifest["edits"]:
        edit["link"] = previous = link(previous, edit)
    manifest["to"]["chain"] = chain_end(previous, manifest)


def broken_link(manifest: dict[str, Any]) -> int | None:
    """Index of the first edit that breaks the chain; len(edits) if only the end does; None if whole."""
    previous = chain_seed(manifest)
    for i, edit in enumerate(manifest["edits"]):
        previous = link(previous, edit)
        if edit["link"] != previous:
            return i
    return None if chain_end(previous, manifest) == manifest["to"]["chain"] else len(manifest["edits"])


def describe_edit(edit: dict[str, Any], index: int, total: int) -> str:
    fact = (edit.get("facts") or [{}])[0]
    return (f"edit {index + 1} of {total} ({edit.get('method')}: {fact.get('prompt')!r} -> "
            f"{fact.get('target_new')!r})")


def _tensor_shape(name: str, entry: Any, body: int) -> tuple[int, ...]:
    if not isinstance(entry, dict) or entry.get("dtype") not in _DTYPE_BYTES:
        raise ValueError(f"tensor {name!r} has no known dtype")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"tensor {name!r} has a malformed shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(n, int) for n in offsets)):
        raise ValueError(f"tensor {name!r} has malformed offsets")
    size = math.prod(shape) * _DTYPE_BYTES[entry["dtype"]]
    if offsets[1] - offsets[0] != size or not 0 <= offsets[0] <= offsets[1] <= body:
        raise ValueError(f"tensor {name!r} declares shape {shape} but {offsets[1] - offsets[0]} bytes")
    return tuple(shape)


def header_shapes(data: bytes) -> dict[str, tuple[int, ...]]:
    """The tensors' shapes from the safetensors header, checked against the file's size."""
    length = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < length <= min(MAX_HEADER_BYTES, len(data) - 8):
        raise ValueError(f"the header length {length} does not fit the file ({len(data)} bytes)")
    header = json.loads(data[8 : 8 + length])
    if not isinstance(header, dict):
        raise ValueError("the header is not an object")
    header.pop("__metadata__", None)
    shapes = {name: _tensor_shape(name, entry, len(data) - 8 - length) for name, entry in header.items()}
    for name, left in shapes.items():
        if name.startswith("lowrank::") and name.endswith("::left"):
            right = shapes.get(name.removesuffix("::left") + "::right")
            if right is None or len(left) != 2 or len(right) != 2 or left[1] != right[0]:
                raise ValueError(f"low-rank factors of {name[9:-6]} do not fit together ({left} @ {right})")
            if left[0] * right[1] > MAX_DENSE_ELEMENTS:
                raise ValueError(f"{name[9:-6]}: {left} @ {right} would expand to {left[0] * right[1]} elements")
    return shapes


def load_delta(path: Path, what: str, data: bytes, edit: dict[str, Any], version: int) -> Delta:
    """The delta, its header checked first, then its content hash and (v2) its file's bytes."""
    from core.ledger.deltastore import recorded_sha

    try:
        header_shapes(data)
        delta = Delta.from_bytes(data)  # checks the content against the header's hash
    except Exception as exc:  # safetensors and json raise their own error types for bad bytes
        raise PatchError(f"{path.name}: {what}: the delta is corrupt ({exc})") from None
    sha = edit["delta_sha256"]
    if recorded_sha(data) != sha:
        raise PatchError(f"{path.name}: {what}: the delta hashes to {recorded_sha(data)[:12]}, but the patch "
                         f"records {sha[:12]}")
    if version >= 2 and (len(data) != edit["delta_size"] or
                         hashlib.sha256(data).hexdigest() != edit["delta_file_sha256"]):
        raise PatchError(f"{path.name}: {what}: the delta file differs from the one the patch records (its "
                         "header or info was altered)")
    return delta


def check_fits(model, deltas: list[Delta], describe: list[str]) -> None:
    """Every update names a parameter of the model, with its shape; nothing is multiplied out."""
    params = dict(model.named_parameters())
    for delta, what in zip(deltas, describe, strict=True):
        for update in delta.weight_updates:
            if update.param not in params:
                raise PatchError(f"{what}: the delta changes {update.param}, which this model does not have")
            want = tuple(params[update.param].shape)
            if isinstance(update, LowRankUpdate):
                got = (tuple(update.left.shape)[:1] + tuple(update.right.shape)[1:]
                       if update.left.dim() == 2 == update.right.dim() else ())
            else:
                got = tuple(update.diff.shape) if isinstance(update, DenseUpdate) else ()
            if got != want:
                raise PatchError(f"{what}: the delta for {update.param} has shape {got}, the model's is {want}")
