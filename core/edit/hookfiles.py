"""Hook layers (``core.edit.hooklayers``) in a file beside a saved model's weights: each layer
as its initial threshold and every step, so loading rebuilds the same states (and digests)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.edit.hooklayers import HookLayerError, HookState, HookStep, fresh, install, live_states, updated
from core.edit.sidestate import read_side_file, save_side_file

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
    states = live_states(model)
    if not states:
        return None
    tensors = {k: v for s in states.values() for k, v in state_tensors(s).items()}
    return save_side_file(folder, FILE_NAME, tensors, {"format": _FORMAT})


def load_hook_layers(model, folder: Path) -> int:
    """Install the hook layers saved in ``folder`` (if any); the number installed."""
    found = read_side_file(folder, FILE_NAME, _FORMAT, HookLayerError, "hook layer")
    if found is None:
        return 0
    _, tensors = found
    params = sorted({name.split("::")[1] for name in tensors if name.startswith("hook::") and name.count("::") >= 2})
    states = {param: state_from_tensors(param, tensors) for param in params}
    install(model, states)
    return len(states)
