"""Edit deltas: what an edit changes, in its natural form, applied and reverted exactly.

The delta types, their file form and the apply receipt are data (``core.edit.delta_types``,
re-exported here); this module applies and reverts them.

A weight update is stored in the parameter's own storage layout as low-rank factors
(ROME: rank one; MEMIT: rank <= batch) or as a dense difference (fine-tuning, only the
touched tensors). ``apply_delta`` keeps the original tensors so ``revert_delta`` puts
back the very same bits; floating-point subtraction would not.

A key update (AlphaEdit) changes no weight either: it records the keys an edit was fitted
to in the model's edited-key memory (``core.edit.keymemory``); the receipt keeps the
state it replaced.

An adaptor update (GRACE) changes no weight: it adds entries to the codebook adaptor on
one module and may change the radii of entries already there (``core.edit.adaptors``). Its
receipt keeps the codebook it replaced, so reverting is exact too.

A repository update (RECIPE) changes no weight: it adds (key, continuous prompt) entries to
the model's retrieval repository (``core.edit.repository``); reverting removes exactly
those entries, by id.

A hook update (COMEBA-HK) changes no weight either: it extends the hook layer that copies
one weight (``core.edit.hookdeltas``); the receipt keeps the hook layer state it replaced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from core.edit.delta_types import (  # re-exported: the types are imported from here
    AdaptorUpdate,
    AppliedDelta,
    Delta,
    DeltaError,
    DenseUpdate,
    HookUpdate,
    KeyUpdate,
    LowRankUpdate,
    RepositoryUpdate,
    Update,
    WeightUpdate,
    checkpoint_used,
)

__all__ = [
    "AdaptorUpdate", "AppliedDelta", "Delta", "DeltaError", "DenseUpdate", "HookUpdate", "KeyUpdate",
    "LowRankUpdate", "RepositoryUpdate", "Update", "WeightUpdate", "add_update", "apply_delta",
    "check_fits", "checkpoint_used", "delta_applied", "install_codebooks", "next_codebooks",
    "next_hook_states", "next_key_states", "next_repository", "revert_delta", "weights_restored",
]


def _tensor_hash(t) -> str:
    import torch

    flat = t.detach().to("cpu").contiguous().reshape(-1)
    return hashlib.sha256(flat.view(torch.uint8).numpy().tobytes()).hexdigest()


def check_fits(params: dict[str, Any], delta: Delta) -> None:
    for update in delta.weight_updates:
        if update.param not in params:
            raise DeltaError(f"delta of {delta.method} touches {update.param}, which this model does not have")
        want, got = tuple(params[update.param].shape), update.shape  # from the factors: nothing multiplied
        if want != got:
            raise DeltaError(f"delta for {update.param} has shape {got}, the model's is {want}")


def apply_delta(model, delta: Delta) -> AppliedDelta:
    """Add the delta to the model's weights; all or nothing."""
    import torch

    from core.edit.hooklayers import install as install_hooks
    from core.edit.keymemory import install

    params = dict(model.named_parameters())
    check_fits(params, delta)
    codebooks = next_codebooks(model, delta)  # checked before any weight is touched
    key_states = next_key_states(model, delta)
    repository = next_repository(model, delta)
    hook_states = next_hook_states(model, delta)
    originals = {name: params[name].detach().to("cpu", copy=True) for name in delta.params}
    hooks_before: dict[str, Any] = {}
    try:
        with torch.no_grad():
            for update in delta.weight_updates:
                add_update(params[update.param], update)
        hooks_before = install_hooks(model, hook_states)
        before = install_codebooks(model, codebooks)
    except BaseException:
        _restore(params, originals)
        install_hooks(model, hooks_before)  # the replaced hook layers back (None removes)
        raise
    keys_before = install(model, key_states)  # cannot fail: plain dict writes
    added = _install_repository(model, repository, delta)
    written = {name: _tensor_hash(params[name]) for name in originals}
    return AppliedDelta(delta, originals, written, before, {m: s.digest() for m, s in codebooks.items()},
                        keys_before, key_states, added, hooks_before, hook_states)


def next_hook_states(model, delta: Delta) -> dict[str, Any]:
    """{param: hook layer state after the delta's hook updates (COMEBA-HK)}, nothing installed."""
    from core.edit.hookdeltas import next_states
    from core.edit.hooklayers import HookLayerError

    try:
        return next_states(model, delta.hook_updates)
    except HookLayerError as exc:
        raise DeltaError(f"delta of {delta.method}: {exc}") from None


def next_repository(model, delta: Delta):
    """The retrieval repository after the delta's entries (None: it adds none); nothing installed."""
    from core.edit.repository import RepositoryError, next_state

    try:
        return next_state(model, delta.repository_updates)
    except RepositoryError as exc:
        raise DeltaError(f"delta of {delta.method}: {exc}") from None


def _install_repository(model, state, delta: Delta) -> tuple[bytes, ...]:
    """Install the state (None: nothing to do); the ids of the entries the delta added."""
    from core.edit.repository import repository

    if state is not None:
        repository(model).set(state)
    return tuple(bytes(i.tolist()) for u in delta.repository_updates for i in u.ids)


def add_update(p, update: WeightUpdate) -> None:
    """p += update, in float32 and rounded to p's dtype once: the one arithmetic every apply
    and replay uses, so their weights (and fingerprints) agree bit for bit. Call under no_grad."""
    import torch

    dense = update.dense().to(p.device)
    if p.dtype == torch.float32:
        p.add_(dense)  # the very sums of the line below, without its two temporary copies
    else:
        p.copy_((p.float() + dense).to(p.dtype))


def next_key_states(model, delta: Delta) -> dict[str, Any]:
    """{param: edited-key state after the delta's key updates}, nothing installed yet."""
    from core.edit.keymemory import KeyMemoryError, next_states

    try:
        return next_states(model, [(u.param, u.keys) for u in delta.key_updates])
    except KeyMemoryError as exc:
        raise DeltaError(f"delta of {delta.method}: {exc}") from None


def next_codebooks(model, delta: Delta) -> dict[str, Any]:
    """{module: codebook after the delta's adaptor updates}, computed without installing anything."""
    from core.edit.adaptors import AdaptorError, empty_state, extended, registry

    live = registry(model, create=False)
    out: dict[str, Any] = {}
    for u in delta.adaptor_updates:
        state = out[u.module] if u.module in out else (live.get(u.module) if live is not None else None)
        if state is None:
            state = empty_state(u.module, u.keys.shape[1], u.values.shape[1])
        try:
            out[u.module] = extended(state, u.keys, u.values, u.radii, u.labels, u.resized, u.new_radii)
        except AdaptorError as exc:
            raise DeltaError(f"delta of {delta.method}: {exc}") from None
    return out


def install_codebooks(model, codebooks: Mapping[str, Any]) -> dict[str, Any]:
    """Install the codebooks, all or none; how to undo each."""
    from core.edit.adaptors import registry, undo_of
    from core.edit.sidestate import set_all_or_none

    if not codebooks:
        return {}
    before = set_all_or_none(registry(model), codebooks)
    return {module: undo_of(state) for module, state in before.items()}


def _restore(params: dict[str, Any], originals: Mapping[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for name, original in originals.items():
            params[name].copy_(original.to(params[name].device))


def revert_delta(model, applied: AppliedDelta) -> None:
    """Put back the exact original weights; refuses if they changed since the apply."""
    from core.edit.hookdeltas import check_unchanged
    from core.edit.hooklayers import HookLayerError
    from core.edit.hooklayers import install as install_hooks
    from core.edit.keymemory import KeyMemoryError, checked_memory

    params = dict(model.named_parameters())
    for name, expected in applied.written.items():
        if _tensor_hash(params[name]) != expected:
            raise DeltaError(
                f"{name} changed after this {applied.delta.method} delta was applied; "
                "revert the later edits first"
            )
    reg, previous = _codebooks_before(model, applied)
    try:
        mem = checked_memory(model, applied.keys_written)
        check_unchanged(model, applied.hooks_written)
    except (KeyMemoryError, HookLayerError) as exc:
        raise DeltaError(f"{exc} after this {applied.delta.method} delta was applied; revert the later edits "
                         "first") from None
    repository = _repository_without(model, applied)
    _restore(params, applied.originals)
    for module, state in previous.items():
        reg.set(module, state)  # None removes the adaptor and its hook
    for param, state in applied.keys_before.items():
        mem.set(param, state)
    install_hooks(model, applied.hooks_before)  # None removes the hook layer
    if applied.repository_ids:
        from core.edit.repository import repository as live_repository

        live_repository(model).set(repository)


def _codebooks_before(model, applied: AppliedDelta) -> tuple[Any, dict[str, Any]]:
    """The adaptor registry, and each codebook the apply wrote as it was before; DeltaError when
    one changed since."""
    from core.edit.adaptors import AdaptorError, registry, undone

    reg = registry(model, create=bool(applied.codebooks_written))
    previous = {}
    for module, expected in applied.codebooks_written.items():
        state = reg.get(module)
        if state is None or state.digest() != expected:
            raise DeltaError(f"the codebook adaptor on {module} changed after this {applied.delta.method} delta "
                             "was applied; revert the later edits first")
        try:
            previous[module] = undone(state, applied.codebooks_before[module])
        except AdaptorError as exc:
            raise DeltaError(f"cannot revert this {applied.delta.method} delta: {exc}") from None
    return reg, previous


def _repository_without(model, applied: AppliedDelta):
    """The retrieval repository without the receipt's entries; DeltaError when one is gone."""
    from core.edit.repository import RepositoryError, live_state, removed

    if not applied.repository_ids:
        return None
    try:
        return removed(live_state(model), applied.repository_ids)
    except RepositoryError as exc:
        raise DeltaError(f"cannot revert this {applied.delta.method} delta: {exc}") from None


@contextmanager
def delta_applied(model, delta: Delta) -> Iterator[AppliedDelta]:
    """Temporarily apply a delta (for evaluation); reverted in ``finally``."""
    receipt = apply_delta(model, delta)
    try:
        yield receipt
    finally:
        revert_delta(model, receipt)


@contextmanager
def weights_restored(model, names: list[str]) -> Iterator[None]:
    """Snapshot named parameters and restore them bit for bit on exit, whatever happens."""
    params = dict(model.named_parameters())
    originals = {name: params[name].detach().to("cpu", copy=True) for name in names}
    try:
        yield
    finally:
        _restore(params, originals)
