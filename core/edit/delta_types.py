"""Edit deltas as data: the frozen update types a delta is made of, the delta itself (its
file form, safetensors with a JSON header, and its content hash), and the receipt an apply
leaves. Applying and reverting them is ``core.edit.deltas``, which re-exports every name here.

A weight update is stored in the parameter's own storage layout as low-rank factors
(ROME: rank one; MEMIT: rank <= batch) or as a dense difference (fine-tuning, only the
touched tensors). A key update (AlphaEdit), an adaptor update (GRACE), a repository update
(RECIPE, ``core.edit.repository``) and a hook update (COMEBA-HK, ``core.edit.hookdeltas``)
change no weight.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
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
        """Every update's tensors by name. A later update of a weight an earlier one already
        changes (a ROME batch: one rank-one update per fact, all on one matrix) is stored in
        a slot of its own, ``kind::param@000001::part``, so none overwrites another; the first
        keeps the plain name, so a delta with one update per weight hashes as it always did."""
        out: dict[str, Any] = {}
        repeats: dict[tuple[str, ...], int] = {}
        for update in self.updates:
            named = update.tensors()
            slot = repeats.get(tuple(named), 0)
            repeats[tuple(named)] = slot + 1
            if slot and isinstance(update, AdaptorUpdate | RepositoryUpdate):  # their labels are keyed by module
                raise DeltaError(f"a {self.method} delta holds two updates of {next(iter(named))}; merge them")
            out.update({_in_slot(k, slot): v.detach().to("cpu").contiguous() for k, v in named.items()})
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


def _in_slot(name: str, slot: int) -> str:
    """``name`` with the update's slot after its weight's name (slot 0: the plain name)."""
    if not slot:
        return name
    kind, param, *rest = name.split("::")
    return "::".join((kind, f"{param}@{slot:06d}", *rest))


def _by_slot(tensors: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{weight@slot: that slot's tensors under the plain names its update reads them by}."""
    slots: dict[str, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        kind, token, *rest = name.split("::")  # every name is kind::weight[::part]
        if "@" in token:
            slots.setdefault(token, {})["::".join((kind, token.partition("@")[0], *rest))] = tensor
    return slots


def _delta_from(tensors: dict[str, Any], meta: dict[str, str]) -> Delta:
    updates: list[Update] = []
    labels = json.loads(meta.get("adaptor_labels", "{}"))
    slots = _by_slot(tensors)
    for name in sorted(tensors):  # a weight's slots sort in order: @000001 after the plain name
        kind, token, *part = name.split("::")
        param, own = token.partition("@")[0], slots.get(token, tensors)
        if kind == "dense":
            updates.append(DenseUpdate(param, own[f"dense::{param}"]))
        elif kind == "lowrank" and part == ["left"]:
            updates.append(LowRankUpdate(param, own[f"lowrank::{param}::left"], own[f"lowrank::{param}::right"]))
        elif kind == "adaptor" and part == ["keys"]:
            updates.append(_adaptor_update(param, tensors, labels))
        elif kind == "keys":
            updates.append(KeyUpdate(param, own[f"keys::{param}"]))
        elif kind == "hook" and part == ["left"]:
            updates.append(hook_update_from(param, own))
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
    unread = sorted(set(tensors) - set(delta.tensors()))
    if unread:  # the hash covers what was read, so a stray tensor would pass it unseen (review 46)
        raise DeltaError(f"delta file holds tensors no update reads: {', '.join(unread[:5])}")
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
