"""Edit deltas: what an edit changes, in its natural form, applied and reverted exactly.

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
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.edit.hookdeltas import HookUpdate, hook_update_from
from core.edit.repository import RepositoryUpdate


class DeltaError(ValueError):
    """A delta does not fit the model, is corrupt, or cannot be reverted safely."""


@dataclass(frozen=True)
class LowRankUpdate:
    """param += left @ right, in the parameter's storage layout."""

    param: str
    left: Any  # tensor (rows, r)
    right: Any  # tensor (r, cols)

    @property
    def shape(self) -> tuple[int, ...]:
        """The product's shape, from the factors alone (nothing is multiplied)."""
        left, right = tuple(self.left.shape), tuple(self.right.shape)
        if len(left) != 2 or len(right) != 2 or left[1] != right[0]:
            raise DeltaError(f"delta for {self.param} has low-rank factors {left} and {right}, "
                             "which do not multiply (want (rows, r) and (r, cols))")
        return (left[0], right[1])

    def dense(self):
        return self.left.float() @ self.right.float()

    def tensors(self) -> dict[str, Any]:
        return {f"lowrank::{self.param}::left": self.left, f"lowrank::{self.param}::right": self.right}


@dataclass(frozen=True)
class DenseUpdate:
    """param += diff."""

    param: str
    diff: Any  # tensor shaped like the parameter

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.diff.shape)

    def dense(self):
        return self.diff.float()

    def tensors(self) -> dict[str, Any]:
        return {f"dense::{self.param}": self.diff}


@dataclass(frozen=True)
class AdaptorUpdate:
    """New codebook entries for the adaptor on ``module``, and new radii for existing ones.

    Existing entries are named by id (``core.edit.adaptors.entry_ids``), not by position, so
    a replay that lacks an earlier entry (a revert) still changes the right ones."""

    module: str
    keys: Any  # (n, d_in) float32
    values: Any  # (n, d_out) float32
    radii: Any  # (n,) float32
    labels: tuple[str, ...]  # each new entry's target
    resized: Any  # (m, 32) uint8: ids of existing entries whose radius changes
    new_radii: Any  # (m,) float32

    def tensors(self) -> dict[str, Any]:
        prefix = f"adaptor::{self.module}::"
        return {f"{prefix}keys": self.keys, f"{prefix}values": self.values, f"{prefix}radii": self.radii,
                f"{prefix}resized": self.resized, f"{prefix}new_radii": self.new_radii}


@dataclass(frozen=True)
class KeyUpdate:
    """The keys (n, d_in) an edit of ``param`` was fitted to: no weight changes; applying adds
    them to the model's edited-key memory (``core.edit.keymemory``), which AlphaEdit reads."""

    param: str
    keys: Any  # (n, d_in) float32

    def tensors(self) -> dict[str, Any]:
        return {f"keys::{self.param}": self.keys}


Update = LowRankUpdate | DenseUpdate | AdaptorUpdate | KeyUpdate | RepositoryUpdate | HookUpdate
WeightUpdate = LowRankUpdate | DenseUpdate


@dataclass(frozen=True)
class Delta:
    method: str
    updates: tuple[Update, ...]
    fact_ids: tuple[str, ...] = ()
    hparams: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)  # losses, layer, timings: not hashed

    def tensors(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for update in self.updates:
            out.update({k: v.detach().to("cpu").contiguous() for k, v in update.tensors().items()})
        return out

    def header(self) -> dict[str, str]:
        header = {
            "method": self.method,
            "fact_ids": json.dumps(list(self.fact_ids)),
            "hparams": json.dumps(dict(self.hparams), sort_keys=True),
            "info": json.dumps(dict(self.info), sort_keys=True, default=str),
        }
        if self.adaptor_updates:  # only then, so weight deltas keep the hashes they always had
            header["adaptor_labels"] = json.dumps({u.module: list(u.labels) for u in self.adaptor_updates},
                                                  sort_keys=True)
        for u in self.repository_updates:  # at most one; absent elsewhere, so other hashes stay
            header["repository"] = json.dumps({"labels": list(u.labels), "encoder": u.encoder}, sort_keys=True)
        return header

    @property
    def sha256(self) -> str:
        """Hash of the content (method, facts, hparams, tensors), independent of file encoding."""
        import torch

        digest = hashlib.sha256()
        header = self.header()
        header.pop("info")
        digest.update(json.dumps(header, sort_keys=True).encode())
        for name, t in sorted(self.tensors().items()):
            digest.update(f"\n{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    @property
    def params(self) -> list[str]:
        """The weights the delta changes (adaptor updates change none)."""
        return sorted({u.param for u in self.weight_updates})

    @property
    def weight_updates(self) -> tuple[WeightUpdate, ...]:
        return tuple(u for u in self.updates if isinstance(u, LowRankUpdate | DenseUpdate))

    @property
    def adaptor_updates(self) -> tuple[AdaptorUpdate, ...]:
        return tuple(u for u in self.updates if isinstance(u, AdaptorUpdate))

    @property
    def key_updates(self) -> tuple[KeyUpdate, ...]:
        return tuple(u for u in self.updates if isinstance(u, KeyUpdate))

    @property
    def repository_updates(self) -> tuple[RepositoryUpdate, ...]:
        return tuple(u for u in self.updates if isinstance(u, RepositoryUpdate))

    @property
    def hook_updates(self) -> tuple[HookUpdate, ...]:
        return tuple(u for u in self.updates if isinstance(u, HookUpdate))

    def to_bytes(self) -> bytes:
        from safetensors.torch import save

        return save(self.tensors(), metadata={**self.header(), "sha256": self.sha256})

    def save(self, path: Path) -> str:
        Path(path).write_bytes(self.to_bytes())
        return self.sha256

    @classmethod
    def from_bytes(cls, data: bytes) -> Delta:
        from safetensors.torch import load

        return _delta_from(load(data), _metadata(data))

    @classmethod
    def load(cls, path: Path) -> Delta:
        return cls.from_bytes(Path(path).read_bytes())


def _metadata(data: bytes) -> dict[str, str]:
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]).get("__metadata__", {})


def _adaptor_update(module: str, tensors: dict[str, Any], labels: dict[str, list[str]]) -> AdaptorUpdate:
    prefix = f"adaptor::{module}::"
    parts = [tensors[f"{prefix}{p}"] for p in ("keys", "values", "radii", "resized", "new_radii")]
    return AdaptorUpdate(module, *parts[:3], tuple(labels.get(module, [])), *parts[3:])


def _delta_from(tensors: dict[str, Any], meta: dict[str, str]) -> Delta:
    updates: list[Update] = []
    labels = json.loads(meta.get("adaptor_labels", "{}"))
    for name in sorted(tensors):
        kind, param, *part = name.split("::")
        if kind == "dense":
            updates.append(DenseUpdate(param, tensors[name]))
        elif kind == "lowrank" and part == ["left"]:
            updates.append(LowRankUpdate(param, tensors[name], tensors[f"lowrank::{param}::right"]))
        elif kind == "adaptor" and part == ["keys"]:
            updates.append(_adaptor_update(param, tensors, labels))
        elif kind == "keys":
            updates.append(KeyUpdate(param, tensors[name]))
        elif kind == "hook" and part == ["left"]:
            updates.append(hook_update_from(param, tensors))
        elif kind == "repository" and param == "keys":
            extra = json.loads(meta.get("repository", "{}"))
            updates.append(RepositoryUpdate(*(tensors[f"repository::{p}"] for p in ("keys", "prompts", "sentinel",
                                                                                     "ids")),
                                            tuple(extra.get("labels", ())), extra.get("encoder", "")))
    delta = Delta(
        method=meta.get("method", ""),
        updates=tuple(updates),
        fact_ids=tuple(json.loads(meta.get("fact_ids", "[]"))),
        hparams=json.loads(meta.get("hparams", "{}")),
        info=json.loads(meta.get("info", "{}")),
    )
    expected = meta.get("sha256")
    if expected and expected != delta.sha256:
        raise DeltaError(f"delta content hash {delta.sha256[:12]} does not match its recorded {expected[:12]}")
    return delta


@dataclass(frozen=True)
class AppliedDelta:
    """Receipt of an apply: the original tensors and a hash of what apply wrote; for
    adaptor updates how to undo each codebook (None: there was none) and its successor's hash."""

    delta: Delta
    originals: Mapping[str, Any]
    written: Mapping[str, str]
    codebooks_before: Mapping[str, Any] = field(default_factory=dict)
    codebooks_written: Mapping[str, str] = field(default_factory=dict)
    keys_before: Mapping[str, Any] = field(default_factory=dict)  # edited-key states replaced (None: none)
    keys_written: Mapping[str, Any] = field(default_factory=dict)  # the states installed, checked by identity
    repository_ids: tuple[bytes, ...] = ()  # the repository entries added (removed again by id)
    hooks_before: Mapping[str, Any] = field(default_factory=dict)  # hook layer states replaced (None: none)
    hooks_written: Mapping[str, Any] = field(default_factory=dict)  # the states installed, checked by identity


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

    if not codebooks:
        return {}
    reg = registry(model)
    before = {module: reg.get(module) for module in codebooks}
    try:
        for module, state in codebooks.items():
            reg.set(module, state)
    except BaseException:
        for module, state in before.items():
            reg.set(module, state)
        raise
    return {module: undo_of(state) for module, state in before.items()}


def _restore(params: dict[str, Any], originals: Mapping[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for name, original in originals.items():
            params[name].copy_(original.to(params[name].device))


def revert_delta(model, applied: AppliedDelta) -> None:
    """Put back the exact original weights; refuses if they changed since the apply."""
    from core.edit.adaptors import AdaptorError, registry, undone
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


# a trained editor's delta.info keys (core.methods.mend) -> the run record's "editor_checkpoint" keys
_CHECKPOINT_INFO = {"checkpoint": "path", "checkpoint_sha256": "sha256", "checkpoint_step": "step",
                    "checkpoint_fingerprint": "fingerprint"}


def checkpoint_used(delta: Delta | None) -> dict | None:
    """The trained editor a delta came from (path, file SHA-256, steps, the base model's
    fingerprint it was trained for), or None for methods without one."""
    info = dict(delta.info) if delta is not None else {}
    if "checkpoint" not in info:
        return None
    return {name: info[key] for key, name in _CHECKPOINT_INFO.items() if key in info}
