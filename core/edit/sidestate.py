"""What the side state an edit leaves beside the weights (GRACE's codebook adaptors, COMEBA-HK's
hook layers, AlphaEdit's edited-key memory, RECIPE's repository) has in common: it hangs on the
model as a plain attribute, hashes into one digest for the weights fingerprint, and is saved in
a safetensors file next to a saved model's weights."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def attached(model, attr: str, make: Callable[[], T], create: bool) -> T | None:
    """The object at ``model.<attr>``, made by ``make`` on first use when ``create``."""
    found = model.__dict__.get(attr)
    if found is None and create:
        found = make()
        object.__setattr__(model, attr, found)  # a plain attribute, not a submodule or buffer
    return found


def set_all_or_none(registry, states: Mapping[str, Any]) -> dict[str, Any]:
    """``registry.set(name, state)`` for every state; when one fails, every one is set back as it
    was. The states they replaced (None: none)."""
    before = {name: registry.get(name) for name in states}
    try:
        for name, state in states.items():
            registry.set(name, state)
    except BaseException:
        for name, state in before.items():
            registry.set(name, state)
        raise
    return before


def states_digest(tag: bytes, digests: Mapping[str, str]) -> str | None:
    """One hash of every named state's digest, or None when there are none (so the fingerprints
    of models without this side state stay as they were)."""
    if not digests:
        return None
    h = hashlib.sha256(tag)
    for name, digest in digests.items():
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()


def save_side_file(folder: Path, file_name: str, tensors: Mapping[str, Any], metadata: dict[str, str]) -> Path:
    """Write the tensors (made contiguous) and metadata to ``folder/file_name``; its path."""
    from safetensors.torch import save_file

    path = Path(folder) / file_name
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def read_side_file(folder: Path, file_name: str, file_format: str, error: type[Exception],
                   what: str) -> tuple[dict[str, str], dict[str, Any]] | None:
    """(metadata, every tensor) of ``folder/file_name``, None when there is no such file;
    ``error`` when it is unreadable or its metadata names another format than ``file_format``."""
    from safetensors import safe_open

    path = Path(folder) / file_name
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118 - not a dict
    except Exception as exc:  # safetensors raises its own error type for bad bytes
        raise error(f"{path} is not a readable {what} file: {exc}") from None
    if meta.get("format") != file_format:
        raise error(f"{path} is not a Factsmith {what} file")
    return meta, tensors
