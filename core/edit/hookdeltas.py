"""Hook updates (COMEBA-HK) as parts of a delta (``core.edit.deltas``): the update itself, how
it is read back from a delta file, and the checks before and after it is applied.

A hook update changes no weight: it adds a low-rank update to the hook layer that copies
one weight, the keys it was fitted to to that layer's key gram, and may lower the layer's
threshold (``core.edit.hooklayers``). A receipt keeps the hook layer states it replaced
(states are immutable), so reverting and undoing a replay are exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.edit.hooklayers import HookLayerError, HookState, HookStep, fresh, registry, updated

_PARTS = ("left", "right", "keys", "thresholds")


@dataclass(frozen=True)
class HookUpdate:
    """One batch's update of the hook layer copying ``param``: its weight gains left @ right
    (as a map from input to output), its key gram KᵀK, and its threshold becomes
    min(ε, candidate); a hook layer this update creates starts at ε = the initial threshold."""

    param: str
    left: Any  # (d_out, r) float32
    right: Any  # (r, d_in) float32
    keys: Any  # (n, d_in) float32
    thresholds: Any  # (2,) float64: initial ε, the batch's candidate

    def tensors(self) -> dict[str, Any]:
        return {f"hook::{self.param}::{part}": getattr(self, part) for part in _PARTS}


def hook_update_from(param: str, tensors: Mapping[str, Any]) -> HookUpdate:
    """The update ``HookUpdate.tensors`` wrote for ``param``."""
    return HookUpdate(param, *(tensors[f"hook::{param}::{part}"] for part in _PARTS))


def next_states(model, updates: Sequence[HookUpdate]) -> dict[str, HookState]:
    """{param: hook layer state after the updates, in order}; nothing installed. HookLayerError
    when one does not fit the model."""
    live = registry(model, create=False)
    params = dict(model.named_parameters())
    out: dict[str, HookState] = {}
    for update in updates:
        _check_parts(update)
        initial, candidate = update.thresholds.reshape(-1).tolist()
        param, step = update.param, HookStep(update.left, update.right, update.keys, candidate)
        shape = tuple(params[param].shape) if param in params else None
        if shape is None or (step.left.shape[0], step.right.shape[-1]) not in (shape, shape[::-1]):
            raise HookLayerError(f"it updates a hook layer on {param}, which this model does not have "
                                 "with that shape")
        state = out[param] if param in out else (live.get(param) if live is not None else None)
        out[param] = updated(state if state is not None else fresh(param, initial), step)
    return out


def _check_parts(update: HookUpdate) -> None:
    """Matrices where matrices belong and two thresholds (review 46: a malformed update failed
    its replay with "too many values to unpack")."""
    flat = [part for part in ("left", "right", "keys") if getattr(update, part).dim() != 2]
    if flat or update.thresholds.numel() != 2:
        what = f"{', '.join(flat)} not matrices" if flat else f"{update.thresholds.numel()} thresholds, not 2"
        raise HookLayerError(f"its hook update on {update.param} is malformed: {what}")


def check_unchanged(model, written: Mapping[str, HookState]) -> None:
    """Every state in ``written`` is still the one installed; HookLayerError otherwise."""
    reg = registry(model, create=False)
    for param, state in written.items():
        if reg is None or reg.get(param) is not state:
            raise HookLayerError(f"the hook layer on {param} changed")
