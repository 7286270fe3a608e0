"""Registry of editing methods, imported lazily by name."""

from __future__ import annotations

import importlib

from core.methods.base import EditError, EditMethod

__all__ = ["EditError", "EditMethod", "get_method", "method_names"]

_REGISTRY: dict[str, str] = {
    "rome": "core.methods.rome:ROME",
    "ft-l": "core.methods.ft:FT_L",
    "ft-m": "core.methods.ft:FT_M",
    "memit": "core.methods.memit:MEMIT",
    "ice": "core.methods.ice:ICE",
    "grace": "core.methods.grace:GRACE",
}


def method_names() -> list[str]:
    return list(_REGISTRY)


def get_method(name: str) -> EditMethod:
    key = name.lower()
    if key not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(_REGISTRY)}")
    module, attr = _REGISTRY[key].split(":")
    return getattr(importlib.import_module(module), attr)
