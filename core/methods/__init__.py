"""Registry of editing methods, imported lazily by name."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.methods.base import EditError, EditMethod
from core.methods.hparams import from_file, with_overrides

__all__ = ["TRAINED_EDITORS", "EditError", "EditMethod", "get_method", "method_names", "preset_variant",
           "resolve_hparams"]

_REGISTRY: dict[str, str] = {
    "rome": "core.methods.rome:ROME",
    "ft-l": "core.methods.ft:FT_L",
    "ft-m": "core.methods.ft:FT_M",
    "memit": "core.methods.memit:MEMIT",
    "ice": "core.methods.ice:ICE",
    "grace": "core.methods.grace:GRACE",
    "alphaedit": "core.methods.alphaedit:ALPHAEDIT",
    "mend": "core.methods.mend:MEND",
    "ke": "core.methods.ke:KE",
    "instructedit": "core.methods.instructedit:INSTRUCTEDIT",
    "recipe": "core.methods.recipe:RECIPE",
    "comeba-hk": "core.methods.comeba:COMEBA_HK",
}

# The methods whose edits come from an editor network trained beforehand (``factsmith train``,
# ``core.workflows.train``); all but RECIPE are ``core.methods.trained.TrainedEditorMethod``s.
TRAINED_EDITORS = ("mend", "ke", "instructedit", "recipe")


def method_names() -> list[str]:
    return list(_REGISTRY)


def get_method(name: str) -> EditMethod:
    key = name.lower()
    if key not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(_REGISTRY)}")
    module, attr = _REGISTRY[key].split(":")
    return getattr(importlib.import_module(module), attr)


def resolve_hparams(lm, method_name: str, overrides: Mapping[str, Any] | None = None, base: Any | None = None,
                    file: Path | None = None):
    """The hyperparameters an edit runs with, the one way the CLI, workflows and app build
    them: ``base`` (default: the method's preset for this model), then a JSON file of
    values, then KEY=VALUE overrides (text parsed by field type). HParamError names a bad one."""
    hparams = base if base is not None else get_method(method_name).preset(lm)
    if file is not None:
        hparams = from_file(hparams, file)
    return with_overrides(hparams, dict(overrides or {}))


def preset_variant(lm, method_name: str, variant: str | None):
    """The method's hyperparameters for this model: its default preset, or the named
    alternative from ``core.methods.presets`` (ValueError naming those offered)."""
    from core.methods.presets import preset_values

    method = get_method(method_name)
    if variant is None:
        return method.preset(lm)
    return method.hparams_class(**preset_values(method.name, lm, variant))
