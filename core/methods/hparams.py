"""Hyperparameters: frozen dataclasses, overridden from files and KEY=VALUE strings."""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path
from typing import Any


class HParamError(ValueError):
    """A hyperparameter name or value is wrong; the message names it."""


def _coerce(name: str, text: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind in (int, float, str):
            return kind(text)
        if origin is tuple:
            inner = typing.get_args(kind)[0]
            return tuple(_coerce(name, part, inner) for part in text.split(",") if part.strip())
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            options = [k for k in typing.get_args(kind) if k is not type(None)]
            if text.lower() in ("none", ""):
                return None
            return _coerce(name, text, options[0])
    except ValueError:
        raise HParamError(f"{name}={text!r}: expected {getattr(kind, '__name__', kind)}") from None
    raise HParamError(f"{name}: cannot set a value of type {kind} from text")


def with_overrides(hparams: Any, values: dict[str, Any]) -> Any:
    """A copy of hparams with values replaced; text values are parsed by field type."""
    hints = typing.get_type_hints(type(hparams))
    fields = {f.name for f in dataclasses.fields(hparams)}
    changes = {}
    for name, value in values.items():
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise HParamError(f"unknown hyperparameter {name!r} for {type(hparams).__name__}; known: {known}")
        if isinstance(value, str):
            value = _coerce(name, value, hints[name])
        elif isinstance(value, list):
            value = tuple(value)
        changes[name] = _in_range(name, value)
    return dataclasses.replace(hparams, **changes)


MAX_STEPS = 100_000  # optimisation steps of one edit: a step takes milliseconds to seconds
MAX_SAMPLES = 10_000  # texts sampled per fact (essence, retain, ICE's continuations): each a generation
MAX_INT = 2**32  # seeds and token budgets fit below it; 99999999999999999999999 (trial 47) does not


def _in_range(name: str, value: Any) -> Any:
    """A number no edit can mean is refused with its name (trial 47: v_steps=10^23 was taken, and the
    preview ran with no end in sight); a non-finite float (nan, inf) likewise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and name.endswith("steps") and value > MAX_STEPS:
        raise HParamError(f"{name}={value}: too many steps (at most {MAX_STEPS:,} for one edit)")
    if isinstance(value, int) and name.endswith("samples") and value > MAX_SAMPLES:
        raise HParamError(f"{name}={value}: too many texts to sample (at most {MAX_SAMPLES:,} for one edit)")
    if isinstance(value, int) and abs(value) >= MAX_INT:
        raise HParamError(f"{name}={value}: too large (at most {MAX_INT - 1:,})")
    if isinstance(value, float) and not math.isfinite(value):
        raise HParamError(f"{name}={value}: must be a finite number")
    return value


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """['lr=0.1', 'steps=20'] -> {'lr': '0.1', 'steps': '20'}."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise HParamError(f"--set {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def from_file(hparams: Any, path: Path) -> Any:
    """Override from a JSON object file."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HParamError(f"cannot read hyperparameters from {path}: {exc}") from exc
    if not isinstance(values, dict):
        raise HParamError(f"{path}: expected a JSON object of hyperparameters")
    return with_overrides(hparams, values)


def as_dict(hparams: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(hparams).items()}
