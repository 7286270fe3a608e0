"""Edited-key memory: the keys earlier edits were fitted to, per edited weight (AlphaEdit).

AlphaEdit keeps the keys of earlier edits in its objective (the K_pK_pᵀ term), so a later
edit does not undo them. Those keys are state that the weights do not hold, so each
AlphaEdit delta carries the keys it was fitted to (a ``core.edit.deltas.KeyUpdate`` per
weight), and applying the delta adds K Kᵀ to the model's memory for that weight. The
memory is therefore exactly what the applied deltas say, in the order applied: a replay of
the edit log (checkout, revert, patch) rebuilds it bit for bit, and a revert puts the
previous state object back.

Like the codebook adaptors (``core.edit.adaptors``), the memory belongs to the model object
(attribute ``_factsmith_edit_keys``), never to a module-level cache. It changes no output,
so it is not part of the model's state fingerprint, and it is not saved into checkout
folders: a folder saved from an edited model is a new base whose earlier edits are part
of its preserved knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.edit.sidestate import attached

ATTR = "_factsmith_edit_keys"


class KeyMemoryError(ValueError):
    """Keys do not fit the memory they are added to."""


@dataclass(frozen=True)
class KeyState:
    """The accumulated Σ K Kᵀ (float64, CPU) of ``count`` edited keys at one weight."""

    param: str
    count: int
    gram: Any  # (d_in, d_in) float64


def extended(state: KeyState | None, param: str, keys) -> KeyState:
    """``state`` with the keys (n, d_in) added: a new object, ``state`` is left as it was."""
    import torch

    k = keys.detach().to("cpu", torch.float64)
    if k.ndim != 2:
        raise KeyMemoryError(f"edited keys for {param} must be (n, d_in), not {tuple(k.shape)}")
    gram = k.T @ k
    if state is None:
        return KeyState(param, len(k), gram)
    if state.gram.shape != gram.shape:
        raise KeyMemoryError(f"edited keys for {param} have width {k.shape[1]}, the memory's is "
                             f"{state.gram.shape[0]}")
    return KeyState(param, state.count + len(k), state.gram + gram)


class KeyMemory:
    """The edited-key states of one model, by parameter name."""

    def __init__(self) -> None:
        self._states: dict[str, KeyState] = {}

    def get(self, param: str) -> KeyState | None:
        return self._states.get(param)

    def set(self, param: str, state: KeyState | None) -> None:
        if state is None:
            self._states.pop(param, None)
        else:
            self._states[param] = state

    def states(self) -> dict[str, KeyState]:
        return dict(sorted(self._states.items()))


def memory(model, create: bool = True) -> KeyMemory | None:
    """The model's edited-key memory (made on first use when ``create``)."""
    return attached(model, ATTR, KeyMemory, create)


def edited_gram(model, param: str):
    """Σ K_p K_pᵀ of the edits applied at ``param`` (float64), or None when there are none."""
    found = memory(model, create=False)
    state = found.get(param) if found is not None else None
    return None if state is None else state.gram


def next_states(model, updates) -> dict[str, KeyState]:
    """{param: state after adding each (param, keys) of ``updates`` in order}; nothing installed."""
    if not updates:  # most deltas carry no keys: spare the walk over the parameters
        return {}
    live = memory(model, create=False)
    params = dict(model.named_parameters())
    out: dict[str, KeyState] = {}
    for param, keys in updates:
        if param not in params:
            raise KeyMemoryError(f"it records keys for {param}, which this model does not have")
        state = out[param] if param in out else (live.get(param) if live is not None else None)
        out[param] = extended(state, param, keys)
    return out


def install(model, states: dict[str, KeyState]) -> dict[str, KeyState | None]:
    """Install the states; the ones they replaced (None: none)."""
    if not states:
        return {}
    mem = memory(model)
    before = {param: mem.get(param) for param in states}
    for param, state in states.items():
        mem.set(param, state)
    return before


def checked_memory(model, written) -> KeyMemory:
    """The model's memory, once every state in ``written`` is still the one installed."""
    mem = memory(model, create=bool(written))
    for param, state in written.items():
        if mem.get(param) is not state:
            raise KeyMemoryError(f"the edited keys recorded for {param} changed")
    return mem
