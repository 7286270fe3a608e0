"""Codebook adaptors (GRACE, methods.md §3): edits held beside the weights, not in them.

An adaptor wraps one module. Its codebook is a list of entries (key, value, radius ε,
label): for every token position, the module's input is compared with the keys
(Euclidean distance); if the nearest key is within its radius, the module's output at
that position is replaced by the entry's value, otherwise the module runs unchanged.

The live codebooks of a model belong to an ``AdaptorRegistry`` attached to that model
object (attribute ``_factsmith_adaptors``), never to a module-level cache, so two models
never share edits. Each codebook is an immutable ``CodebookState``; changing one swaps
the state, which makes reverting exact (put the previous object back). A module whose
codebook becomes empty loses its forward hook, so an unedited model runs untouched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.edit.sidestate import attached, read_side_file, save_side_file, states_digest

ATTR = "_factsmith_adaptors"
FILE_NAME = "factsmith_adaptors.safetensors"  # written next to the weights of a saved folder
_FORMAT = "factsmith-adaptors"


class AdaptorError(ValueError):
    """An adaptor state does not fit the model or its file is corrupt."""


@dataclass(frozen=True)
class CodebookState:
    """One module's codebook; tensors are float32 on the CPU (device copies live in the registry)."""

    module: str
    keys: Any  # (n, d_in)
    values: Any  # (n, d_out)
    radii: Any  # (n,)
    labels: tuple[str, ...]  # each entry's target, to tell "same label" from "different"

    def __len__(self) -> int:
        return len(self.labels)

    def tensors(self) -> dict[str, Any]:
        prefix = f"adaptor::{self.module}::"
        return {f"{prefix}keys": self.keys, f"{prefix}values": self.values, f"{prefix}radii": self.radii}

    def digest(self) -> str:
        """sha256 of the entries bit for bit, labels included."""
        import torch

        h = hashlib.sha256(f"{self.module}\0{json.dumps(list(self.labels))}\n".encode())
        for name, t in sorted(self.tensors().items()):
            flat = t.detach().to("cpu").contiguous().reshape(-1)
            h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\n".encode())
            h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        return h.hexdigest()


def empty_state(module: str, d_in: int, d_out: int) -> CodebookState:
    import torch

    return CodebookState(module, torch.zeros(0, d_in), torch.zeros(0, d_out), torch.zeros(0), ())


def entry_ids(state: CodebookState) -> list[bytes]:
    """A stable identity per entry (sha256 of its key and value bits): edits that change an
    existing entry's radius name it by this, so they still find it after earlier entries are
    reverted away, and find nothing (changing nothing) when the entry itself was reverted."""
    keys, values = state.keys.contiguous().numpy(), state.values.contiguous().numpy()
    return [hashlib.sha256(keys[i].tobytes() + values[i].tobytes()).digest() for i in range(len(state))]


def with_radii(state: CodebookState, radii: Mapping[int, float]) -> CodebookState:
    """``state`` with the radii of entries (by index) replaced."""
    if not radii:
        return state
    new = state.radii.clone()
    for index, radius in radii.items():
        new[index] = radius
    return CodebookState(state.module, state.keys, state.values, new, state.labels)


def appended(state: CodebookState, keys, values, radii, labels) -> CodebookState:
    """``state`` with new entries at its end."""
    import torch

    if keys.shape[1:] != state.keys.shape[1:] or values.shape[1:] != state.values.shape[1:]:
        raise AdaptorError(f"codebook entries for {state.module} have widths {tuple(keys.shape[1:])} -> "
                           f"{tuple(values.shape[1:])}, the codebook's are {tuple(state.keys.shape[1:])} -> "
                           f"{tuple(state.values.shape[1:])}")
    if not len(keys) == len(values) == len(radii.reshape(-1)) == len(labels):
        raise AdaptorError(f"codebook entries for {state.module} have mismatched counts")
    return CodebookState(state.module, torch.cat([state.keys, keys.float().cpu()]),
                         torch.cat([state.values, values.float().cpu()]),
                         torch.cat([state.radii, radii.float().cpu().reshape(-1)]), (*state.labels, *labels))


def extended(state: CodebookState, keys, values, radii, labels, resized, new_radii) -> CodebookState:
    """Radii of the entries named in ``resized`` (ids, (m, 32) uint8) set to ``new_radii``,
    then the new entries appended. Ids no longer in the codebook are skipped."""
    wanted = [bytes(row.tolist()) for row in resized]
    if any(len(w) != 32 for w in wanted):
        raise AdaptorError(f"the edit names entries of {state.module}'s codebook by malformed ids")
    where = {entry: i for i, entry in enumerate(entry_ids(state))} if wanted else {}
    radii_by_index = {where[w]: float(r) for w, r in zip(wanted, new_radii.tolist(), strict=True) if w in where}
    return appended(with_radii(state, radii_by_index), keys, values, radii, labels)


@dataclass(frozen=True)
class Undo:
    """How to get a codebook back from a successor made by ``extended``: the successor's
    first ``count`` entries with these radii. Kept by receipts instead of the whole previous
    codebook, so hundreds of sequential edits do not hold hundreds of codebook copies."""

    count: int
    radii: Any  # (count,)
    digest: str  # of the codebook to get back: the check that it is exactly that one


def undo_of(state: CodebookState | None) -> Undo | None:
    return None if state is None else Undo(len(state), state.radii.clone(), state.digest())


def undone(current: CodebookState, undo: Undo | None) -> CodebookState | None:
    """The codebook ``undo`` describes, rebuilt from ``current`` and checked bit for bit."""
    if undo is None:
        return None
    n = undo.count
    state = CodebookState(current.module, current.keys[:n], current.values[:n], undo.radii, current.labels[:n])
    if len(current) < n or state.digest() != undo.digest:
        raise AdaptorError(f"the codebook on {current.module} is not a successor of the one to restore")
    return state


def ids_tensor(ids: list[bytes]):
    """Entry ids as a (m, 32) uint8 tensor, the form deltas store them in."""
    import torch

    return torch.tensor([list(i) for i in ids], dtype=torch.uint8).reshape(len(ids), 32)


@dataclass
class _Live:
    """A codebook installed on a module: its state, device copies and the hook handle."""

    state: CodebookState
    keys: Any
    values: Any
    radii: Any
    key_norms: Any
    handle: Any


class AdaptorRegistry:
    """The codebooks installed on one model, by module name."""

    def __init__(self, model) -> None:
        self._model = model
        self._live: dict[str, _Live] = {}

    def states(self) -> dict[str, CodebookState]:
        return {name: live.state for name, live in sorted(self._live.items())}

    def get(self, module: str) -> CodebookState | None:
        live = self._live.get(module)
        return live.state if live is not None else None

    def set(self, module: str, state: CodebookState | None) -> None:
        """Install ``state`` on ``module`` (replacing what was there); None or empty removes it."""
        target = _module(self._model, module) if state is not None and len(state) else None
        old = self._live.pop(module, None)
        if old is not None:
            old.handle.remove()
        if target is None:
            return
        device = _device_of(target)
        precise = _precise_dtype(device)
        active = state.radii >= 0  # disabled (superseded) entries must not shadow their successors
        keys = state.keys[active].to(device, precise)
        live = _Live(state, keys, state.values[active].to(device), state.radii[active].to(device, precise),
                     keys.pow(2).sum(1), None)
        live.handle = target.register_forward_hook(_deferral_hook(live), with_kwargs=True)
        self._live[module] = live


def _precise_dtype(device):
    """float64 for distances (MPS has none: float32 there)."""
    import torch

    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def _module(model, name: str):
    modules = dict(model.named_modules())
    if name not in modules:
        raise AdaptorError(f"the model has no module named {name!r} to hold a codebook adaptor")
    return modules[name]


def _device_of(module):
    first = next(module.parameters(), None)
    return first.device if first is not None else "cpu"


def _deferral_hook(live: _Live):
    """Replace the output wherever the input is within the nearest key's radius."""
    import torch

    def hook(_module, args, kwargs, output):
        if not len(live.keys):
            return None
        x = args[0] if args else next(iter(kwargs.values()))
        out = output[0] if isinstance(output, tuple) else output
        flat = x.detach().reshape(-1, x.shape[-1]).to(live.keys.dtype)
        # ‖x‖² + ‖k‖² − 2x·k in float64: exact enough to compare with radii, without cdist's memory
        d2 = flat.pow(2).sum(1, keepdim=True) + live.key_norms[None, :] - 2.0 * flat @ live.keys.T
        nearest, index = d2.clamp_min(0).sqrt().min(dim=1)
        hit = nearest <= live.radii[index]
        if not bool(hit.any()):
            return None
        rows = out.reshape(-1, out.shape[-1])
        replaced = torch.where(hit[:, None], live.values[index].to(rows.dtype), rows).reshape(out.shape)
        return (replaced, *output[1:]) if isinstance(output, tuple) else replaced

    return hook


def registry(model, create: bool = True) -> AdaptorRegistry | None:
    """The model's adaptor registry (made on first use when ``create``)."""
    return attached(model, ATTR, lambda: AdaptorRegistry(model), create)


def live_states(model) -> dict[str, CodebookState]:
    """Every non-empty codebook on the model, by module name (empty for an unadapted model)."""
    found = registry(model, create=False)
    return found.states() if found is not None else {}


def adaptor_digest(model) -> str | None:
    """One hash of all codebooks, or None when the model has none (so fingerprints stay as before)."""
    return states_digest(b"factsmith-adaptors\n", {name: s.digest() for name, s in live_states(model).items()})


@contextmanager
def adaptors_restored(model) -> Iterator[None]:
    """Snapshot every codebook and put them all back on exit, whatever happens."""
    before = live_states(model)
    try:
        yield
    finally:
        reg = registry(model)
        for name in set(reg.states()) | set(before):
            if reg.get(name) is not before.get(name):
                reg.set(name, before.get(name))


def state_from_tensors(module: str, tensors: Mapping[str, Any], labels) -> CodebookState:
    prefix = f"adaptor::{module}::"
    try:
        keys, values, radii = (tensors[f"{prefix}{part}"].float() for part in ("keys", "values", "radii"))
    except KeyError as exc:
        raise AdaptorError(f"adaptor state for {module} lacks {exc.args[0]}") from None
    if not len(keys) == len(values) == len(radii) == len(labels):
        raise AdaptorError(f"adaptor state for {module} has mismatched entry counts")
    return CodebookState(module, keys, values, radii, tuple(labels))


def save_adaptors(model, folder: Path) -> Path | None:
    """Write the model's codebooks to ``folder/FILE_NAME``; nothing when it has none."""
    states = live_states(model)
    if not states:
        return None
    tensors = {k: v for s in states.values() for k, v in s.tensors().items()}
    labels = {name: list(s.labels) for name, s in states.items()}
    return save_side_file(folder, FILE_NAME, tensors, {"format": _FORMAT, "labels": json.dumps(labels)})


def load_adaptors(model, folder: Path) -> int:
    """Install the codebooks saved in ``folder`` (if any) on the model; the number of modules."""
    found = read_side_file(folder, FILE_NAME, _FORMAT, AdaptorError, "adaptor")
    if found is None:
        return 0
    meta, tensors = found
    labels = json.loads(meta.get("labels", "{}"))
    reg = registry(model)
    for module, names in sorted(labels.items()):
        reg.set(module, state_from_tensors(module, tensors, names))
    return len(labels)
