"""Hook layers (``core.edit.hooklayers``) in a file beside a saved model's weights: each layer
as its initial threshold and every step, so loading rebuilds the same states (and digests)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.edit.hooklayers import HookLayerError, HookState, HookStep, fresh, install, live_states, updated

FILE_NAME = "factsmith_hook_layers.safetensors"  # written next to the weights of a saved folder
_FORMAT = "factsmith-hook-layers"


def state_tensors(state: HookState) -> dict[str, Any]:
    """The state as named tensors: its initial ε and every step, for a file."""
    import torch

    out = {f"hook::{state.param}::initial": torch.tensor([state.initial], dtype=torch.float64)}
    for i, step in enumerate(state.steps):
        out.update(step.tensors(f"hook::{state.param}::step{i:06d}::"))
    return out


def state_from_tensors(param: str, tensors: Mapping[str, Any]) -> HookState:
    """The state ``state_tensors`` wrote, rebuilt step by step (so with the same digest)."""
    prefix = f"hook::{param}::"
    if f"{prefix}initial" not in tensors:
        raise HookLayerError(f"hook layer state for {param} lacks its initial threshold")
    state = fresh(param, float(tensors[f"{prefix}initial"].reshape(-1)[0]))
    names = sorted({name[len(prefix):].split("::")[0] for name in tensors if name.startswith(prefix + "step")})
    for i, name in enumerate(names):
        try:
            left, right, keys, candidate = (tensors[f"{prefix}{name}::{p}"] for p in ("left", "right", "keys",
                                                                                        "candidate"))
        except KeyError as exc:
            raise HookLayerError(f"hook layer state for {param} lacks {exc.args[0]}") from None
        if name != f"step{i:06d}" or left.dim() != 2 or right.dim() != 2 or keys.dim() != 2:
            raise HookLayerError(f"hook layer state for {param} has a malformed step {name!r}")
        state = updated(state, HookStep(left, right, keys, float(candidate.reshape(-1)[0])))
    return state


def save_hook_layers(model, folder: Path) -> Path | None:
    """Write the model's hook layers to ``folder/FILE_NAME``; nothing when it has none."""
    from safetensors.torch import save_file

    states = live_states(model)
    if not states:
        return None
    tensors = {k: v.contiguous() for s in states.values() for k, v in state_tensors(s).items()}
    path = Path(folder) / FILE_NAME
    save_file(tensors, str(path), metadata={"format": _FORMAT})
    return path


def load_hook_layers(model, folder: Path) -> int:
    """Install the hook layers saved in ``folder`` (if any); the number installed."""
    from safetensors import safe_open

    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return 0
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118 - not a dict
    except Exception as exc:  # safetensors raises its own error type for bad bytes
        raise HookLayerError(f"{path} is not a readable hook layer file: {exc}") from None
    if meta.get("format") != _FORMAT:
        raise HookLayerError(f"{path} is not a Factsmith hook layer file")
    params = sorted({name.split("::")[1] for name in tensors if name.startswith("hook::") and name.count("::") >= 2})
    states = {param: state_from_tensors(param, tensors) for param in params}
    install(model, states)
    return len(states)
