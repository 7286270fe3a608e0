"""Replaying deltas in log order: ``apply_delta``'s arithmetic without its per-delta receipts.

A checkout rebuilds a state from the base and fingerprints the whole model once at the
end, so a receipt per delta (a copy of each touched tensor and a sha256 of what was
written) buys nothing there; on a 1,000-edit log it cost more than the arithmetic. The
arithmetic is ``apply_delta``'s own (``add_update``), delta after delta, so the weights are
bit for bit what applying them one at a time gives: what recorded fingerprints, the app's
live model and earlier versions agree on. Summing the low-rank factors of a matrix into
one product would be faster on large matrices but rounds differently, in an order that
depends on the BLAS kernel, so a log could verify on one CPU and fail on another.

A replay is all or nothing, and undoable: ``Replayed`` keeps one copy of each weight it
touches and the codebooks (GRACE), edited keys (AlphaEdit), retrieval repository (RECIPE)
and hook layers (COMEBA-HK) it replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.edit.deltas import (
    Delta,
    DeltaError,
    add_update,
    check_fits,
    install_codebooks,
    next_codebooks,
    next_key_states,
    next_repository,
)
from core.util.progress import Progress, silent


@dataclass(frozen=True)
class Replayed:
    """What a replay replaced, enough to put the model back exactly (``undo_replay``)."""

    originals: Mapping[str, Any]  # each touched weight before the replay, copied to the CPU
    codebooks: Mapping[str, Any]  # every live codebook state before
    keys: Mapping[str, Any]  # every edited-key state before
    count: int  # deltas replayed
    repository: Any = None  # the retrieval repository's state before (None: none)
    hooks: Mapping[str, Any] = field(default_factory=dict)  # every hook layer state before


def _snapshot(model, params: dict[str, Any], deltas: Sequence[Delta]) -> Replayed:
    from core.edit.adaptors import live_states
    from core.edit.hooklayers import live_states as live_hooks
    from core.edit.keymemory import memory
    from core.edit.repository import live_state

    touched = sorted({name for delta in deltas for name in delta.params})
    keys = memory(model, create=False)
    return Replayed({name: params[name].detach().to("cpu", copy=True) for name in touched}, live_states(model),
                    keys.states() if keys is not None else {}, len(deltas), live_state(model), live_hooks(model))


def _apply(model, params: dict[str, Any], delta: Delta) -> None:
    """One delta, the way ``apply_delta`` does it: codebooks and keys worked out before any weight changes."""
    from core.edit.deltas import next_hook_states
    from core.edit.hooklayers import install as install_hooks
    from core.edit.keymemory import install
    from core.edit.repository import repository

    codebooks = next_codebooks(model, delta) if delta.adaptor_updates else {}
    key_states = next_key_states(model, delta) if delta.key_updates else {}
    hook_states = next_hook_states(model, delta) if delta.hook_updates else {}
    entries = next_repository(model, delta)  # None: the delta adds no entries
    for update in delta.weight_updates:
        add_update(params[update.param], update)
    install_codebooks(model, codebooks)
    install(model, key_states)
    install_hooks(model, hook_states)
    if entries is not None:
        repository(model).set(entries)


def replay_deltas(model, deltas: Sequence[Delta], progress: Progress | None = None) -> Replayed:
    """Apply the deltas in order; on any failure (cancelling too) the model is put back as it was."""
    import torch

    progress = progress or silent()
    params = dict(model.named_parameters())
    for i, delta in enumerate(deltas):
        with _numbered(i, len(deltas)):
            check_fits(params, delta)  # every shape before the first weight changes
    before = _snapshot(model, params, deltas)
    try:
        with torch.no_grad():
            for i, delta in enumerate(deltas):
                progress.check()
                with _numbered(i, len(deltas)):
                    _apply(model, params, delta)
                progress.report(i + 1, len(deltas), f"applied {i + 1}/{len(deltas)} deltas")
    except BaseException:
        undo_replay(model, before)
        raise
    return before


class ReplayError(DeltaError):
    """A delta of a replay does not fit; ``index``: its place in the replay (the ledger names its run)."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


@contextmanager
def _numbered(index: int, total: int):
    try:
        yield
    except ReplayError:
        raise
    except DeltaError as exc:
        raise ReplayError(f"delta {index + 1} of {total}: {exc}", index) from None


def undo_replay(model, replayed: Replayed) -> None:
    """Put back the weights, codebooks, edited keys, repository and hook layers a replay replaced, bit for bit."""
    import torch

    from core.edit.adaptors import live_states, registry
    from core.edit.keymemory import memory
    from core.edit.repository import live_state, repository

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, original in replayed.originals.items():
            params[name].copy_(original.to(params[name].device))
    current = live_states(model)
    if current or replayed.codebooks:
        reg = registry(model)
        for module in sorted(set(current) | set(replayed.codebooks)):
            if current.get(module) is not replayed.codebooks.get(module):
                reg.set(module, replayed.codebooks.get(module))  # None removes the adaptor and its hook
    keys = memory(model, create=False)
    if keys is not None:
        for param in set(keys.states()) | set(replayed.keys):
            keys.set(param, replayed.keys.get(param))
    if live_state(model) is not replayed.repository:
        repository(model).set(replayed.repository)
    _undo_hooks(model, replayed.hooks)


def _undo_hooks(model, before: Mapping[str, Any]) -> None:
    """The hook layer states ``before`` back (states are immutable: identity tells what changed)."""
    from core.edit.hooklayers import live_states, registry

    current = live_states(model)
    if current or before:
        reg = registry(model)
        for param in sorted(set(current) | set(before)):
            if current.get(param) is not before.get(param):
                reg.set(param, before.get(param))  # None removes the hook layer
