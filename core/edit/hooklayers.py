"""Hook layers (COMEBA-HK, seed 004 §3.1.2-3.1.3): edits held in copies of edited layers.

A hook layer copies one weight W0 (an MLP output matrix) and takes every update, so its
weight is W0 + D while W0 stays as it was. It hangs on W0's module as a forward hook; with
y = W0·x + b the module's output, the hook layer's is y + D·x. Two modes:

- validated (the default, and the only one outside an edit): per sequence, the z-scores
  of the per-token norms ‖D·x‖ (hook output − original output) over the sequence's tokens,
  padding excluded (the attention mask, caught by a pre-hook on the model); where a
  token's z-score reaches the threshold ε the output becomes the hook layer's, elsewhere
  the original passes through untouched. A sequence of one token (a cached generation
  step) has no z-score and is never swapped, as in the reference code. A teacher-forced
  answer scored after its prompt is no part of the input either (``prompts_only``): its
  tokens neither count in the z-scores nor swap, so a score reads what generation does.
- temporary (while an edit is computed): the whole output is the hook layer's, so the
  residual is measured on the hook weights (seed §3.1.2).

Per hook layer the state also holds what Eq. 13 needs on the next batch: G = Σ K Kᵀ of
every key edited into it (float64) and their count. Like the codebook adaptors
(``core.edit.adaptors``) the states belong to a registry attached to the model object
(attribute ``_factsmith_hook_layers``), never to a module-level cache; each state is
immutable, so a revert puts the previous object back. They answer prompts, so they are
part of the state fingerprint and are saved beside the weights (``core.edit.hookfiles``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.edit.sidestate import attached, set_all_or_none, states_digest

ATTR = "_factsmith_hook_layers"
VALIDATED, TEMPORARY = "validated", "temporary"


class HookLayerError(ValueError):
    """A hook layer state does not fit the model, or its file is corrupt."""


@dataclass(frozen=True)
class HookStep:
    """One batch's update of a hook layer: its weight gains left @ right (as a map from input
    to output), its keys K join the gram, its threshold becomes min(ε, candidate)."""

    left: Any  # (d_out, r) float32
    right: Any  # (r, d_in) float32
    keys: Any  # (n, d_in) float32
    candidate: float

    def tensors(self, prefix: str) -> dict[str, Any]:
        import torch

        return {f"{prefix}left": self.left, f"{prefix}right": self.right, f"{prefix}keys": self.keys,
                f"{prefix}candidate": torch.tensor([self.candidate], dtype=torch.float64)}


@dataclass(frozen=True)
class HookState:
    """One hook layer as the steps that made it, oldest first: D = Σ left @ right (added in
    order, in float32, so a replay gives the same bits), G = Σ KᵀK. Earlier states are
    prefixes sharing the step objects, so receipts keep them for free and revert exactly."""

    param: str  # the weight it copies
    initial: float  # ε before any step (seed App. B)
    steps: tuple[HookStep, ...]
    threshold: float  # ε now: min(initial, every step's candidate)
    digest: str  # sha256 chained over param, initial and every step's bits

    @property
    def module(self) -> str:
        return self.param.rsplit(".", 1)[0]

    @property
    def count(self) -> int:
        return sum(len(step.keys) for step in self.steps)

    def key_gram(self):
        """G = Σ K Kᵀ (d_in, d_in) float64 of every key edited in, or None before any."""
        import torch

        if not self.steps:
            return None
        keys = torch.cat([step.keys for step in self.steps]).to(torch.float64)
        return keys.T @ keys


def _tensor_bytes(name: str, t) -> bytes:
    import torch

    flat = t.detach().to("cpu").contiguous().reshape(-1)
    return f"{name}\0{t.dtype}\0{tuple(t.shape)}\n".encode() + flat.view(torch.uint8).numpy().tobytes()


def fresh(param: str, initial: float) -> HookState:
    """A hook layer that still equals W0."""
    digest = hashlib.sha256(f"factsmith-hook-layer\0{param}\0{float(initial)!r}\n".encode()).hexdigest()
    return HookState(param, float(initial), (), float(initial), digest)


def updated(state: HookState, step: HookStep) -> HookState:
    """``state`` with one more step (seed Eq. 13 and 18): a new object, ``state`` unchanged."""
    import torch

    step = HookStep(step.left.detach().to("cpu", torch.float32).contiguous(),
                    step.right.detach().to("cpu", torch.float32).contiguous(),
                    step.keys.detach().to("cpu", torch.float32).contiguous(), float(step.candidate))
    d_out, rank = step.left.shape
    d_in = step.right.shape[1]
    first = state.steps[0] if state.steps else step
    if (step.right.shape[0] != rank or step.keys.shape[1:] != (d_in,) or
            (first.left.shape[0], first.right.shape[1]) != (d_out, d_in)):
        raise HookLayerError(f"a step of the hook layer on {state.param} has factors {tuple(step.left.shape)}, "
                             f"{tuple(step.right.shape)} and keys {tuple(step.keys.shape)}, which do not fit it")
    h = hashlib.sha256(state.digest.encode())
    for name, t in sorted(step.tensors("").items()):
        h.update(_tensor_bytes(name, t))
    return HookState(state.param, state.initial, (*state.steps, step), min(state.threshold, step.candidate),
                     h.hexdigest())


def token_z_scores(norms, valid):
    """Per row, the z-scores of ``norms`` (b, s) over its ``valid`` (b, s) tokens (unbiased
    std, as torch's default); −inf where undefined (padding, < 2 tokens, all equal)."""
    import torch

    w = valid.to(norms.dtype)
    n = w.sum(1, keepdim=True)
    mean = (norms * w).sum(1, keepdim=True) / n.clamp_min(1)
    std = ((((norms - mean) * w) ** 2).sum(1, keepdim=True) / (n - 1).clamp_min(1)).sqrt()
    defined = valid & (n >= 2) & (std > 0)
    return torch.where(defined, (norms - mean) / std.clamp_min(1e-30), torch.full_like(norms, float("-inf")))


@dataclass
class _Live:
    state: HookState
    master: Any  # D (d_out, d_in) float32 on the CPU, None before any step
    diff: Any  # D on the module's device, in its weight's dtype
    handle: Any


def _diff(state: HookState, known: _Live | None):
    """D of ``state``: continued from ``known`` when its steps are a prefix of the state's
    (the same additions in the same order, so the same bits as from scratch)."""
    done, diff = 0, None
    if known is not None and len(known.state.steps) <= len(state.steps) and all(
            a is b for a, b in zip(known.state.steps, state.steps, strict=False)):
        done, diff = len(known.state.steps), known.master
    for step in state.steps[done:]:
        product = step.left @ step.right
        diff = product if diff is None else diff + product
    return diff


class HookRegistry:
    """The hook layers installed on one model, by weight name, with the editing modes."""

    def __init__(self, model) -> None:
        self._model = model
        self._live: dict[str, _Live] = {}
        self._root: tuple = ()
        self.modes: dict[str, str] = {}  # absent: validated
        self.calibration: dict[str, float] | None = None  # set while ε candidates are measured
        self.mask = None  # the attention mask of the forward pass under way
        self.prompt_ends: list[int] | None = None  # each row's question length while answers are scored

    def get(self, param: str) -> HookState | None:
        live = self._live.get(param)
        return live.state if live is not None else None

    def states(self) -> dict[str, HookState]:
        return {name: live.state for name, live in sorted(self._live.items())}

    def set(self, param: str, state: HookState | None) -> None:
        """Install ``state`` for ``param`` (replacing what was there); None removes it."""
        old = self._live.get(param)
        if state is not None:
            module = _module(self._model, state.module)
            weight = getattr(module, "weight", None)
            if weight is None or state.param != param:
                raise HookLayerError(f"the model has no weight {param!r} to copy into a hook layer")
            master = _diff(state, old)
            if master is not None and tuple(master.shape) not in (tuple(weight.shape), tuple(weight.shape)[::-1]):
                raise HookLayerError(f"the hook layer on {param} maps {master.shape[1]} -> {master.shape[0]}, "
                                     f"which does not fit the weight's shape {tuple(weight.shape)}")
            diff = master.to(weight.device, weight.dtype) if master is not None else None
        if old is not None:
            old.handle.remove()
            del self._live[param]
        if state is not None:
            handle = module.register_forward_hook(_hook(self, param), with_kwargs=True)
            self._live[param] = _Live(state, master, diff, handle)
        self._root_hooks(bool(self._live))

    def snapshot(self) -> dict[str, _Live]:
        return dict(self._live)

    def restore(self, snapshot: dict[str, _Live]) -> None:
        """Back to ``snapshot`` exactly, its computed weights reused (nothing recomputed)."""
        for param in set(self._live) | set(snapshot):
            live, old = snapshot.get(param), self._live.pop(param, None)
            if old is not None and old is not live:
                old.handle.remove()
            if live is not None:
                if old is not live:
                    live.handle = _module(self._model, live.state.module).register_forward_hook(
                        _hook(self, param), with_kwargs=True)
                self._live[param] = live
        self._root_hooks(bool(self._live))

    def _root_hooks(self, wanted: bool) -> None:
        if wanted and not self._root:
            self._root = (self._model.register_forward_pre_hook(self._catch_mask, with_kwargs=True),
                          self._model.register_forward_hook(self._drop_mask, always_call=True))
        elif not wanted and self._root:
            for handle in self._root:
                handle.remove()
            self._root, self.mask = (), None

    def _catch_mask(self, _module, _args, kwargs):
        self.mask = kwargs.get("attention_mask")

    def _drop_mask(self, *_):
        self.mask = None

    def valid(self, batch: int, seq: int, device):
        """(batch, seq) bool: the tokens of the current pass that are not padding."""
        import torch

        mask = self.mask
        if mask is None or mask.dim() != 2 or mask.shape[0] != batch or mask.shape[1] < seq:
            found = torch.ones(batch, seq, dtype=torch.bool, device=device)
        else:
            found = mask[:, mask.shape[1] - seq:].to(device) != 0
        ends = self.prompt_ends
        if ends is not None and len(ends) == batch and seq > 1:  # right-padded rows of (question, answer)
            found = found & (torch.arange(seq, device=device)[None, :] < torch.tensor(ends, device=device)[:, None])
        return found

    def swaps(self, param: str, change):
        """(b, s) bool: where the hook output replaces the original (``change`` = D·x)."""
        import torch

        norms = change.detach().float().norm(dim=-1)
        z = token_z_scores(norms, self.valid(*norms.shape, norms.device))
        threshold = self._live[param].state.threshold
        if self.calibration is not None:  # Eq. 18: the smallest per-input max z-score of the batch
            row_max = z.max(dim=1).values
            row_max = row_max[torch.isfinite(row_max)]
            candidate = float(row_max.min()) if len(row_max) else float("inf")
            self.calibration[param] = min(self.calibration.get(param, float("inf")), candidate)
            threshold = min(threshold, candidate)
        return z >= threshold


def _module(model, name: str):
    modules = dict(model.named_modules())
    if name not in modules:
        raise HookLayerError(f"the model has no module named {name!r} to hold a hook layer")
    return modules[name]


def _hook(reg: HookRegistry, param: str):
    import torch

    def hook(_module, args, kwargs, output):
        live = reg._live.get(param)
        if live is None or live.diff is None:
            return None
        x = args[0] if args else next(iter(kwargs.values()))
        out = output[0] if isinstance(output, tuple) else output
        change = (x.to(live.diff.dtype) @ live.diff.T).to(out.dtype)
        if reg.modes.get(param, VALIDATED) == TEMPORARY:
            new = out + change
        elif out.dim() != 3:
            return None  # no sequence to take z-scores over
        else:
            swap = reg.swaps(param, change)
            if not bool(swap.any()):
                return None
            new = torch.where(swap[..., None], out + change, out)
        return (new, *output[1:]) if isinstance(output, tuple) else new

    return hook


def registry(model, create: bool = True) -> HookRegistry | None:
    """The model's hook layer registry (made on first use when ``create``)."""
    return attached(model, ATTR, lambda: HookRegistry(model), create)


def live_states(model) -> dict[str, HookState]:
    found = registry(model, create=False)
    return found.states() if found is not None else {}


def hook_layers_digest(model) -> str | None:
    """One hash of all hook layers, or None when the model has none (fingerprints stay as before)."""
    return states_digest(b"factsmith-hook-layers\n", {name: s.digest for name, s in live_states(model).items()})


@contextmanager
def hooks_restored(model) -> Iterator[HookRegistry]:
    """Snapshot every hook layer and put them all back (validated) on exit, whatever happens."""
    reg = registry(model)
    before = reg.snapshot()
    try:
        yield reg
    finally:
        reg.modes.clear()
        reg.calibration = None
        reg.restore(before)


@contextmanager
def prompts_only(model, lengths) -> Iterator[None]:
    """Within: row r's hook layers take z-scores over its first ``lengths[r]`` tokens (the
    question) and swap only there, never at the answer scored after it. Generation shows the
    hook layers the prompt, then one cached token at a time (never swapped); with the answer in
    the statistics, a teacher-forced score answered otherwise than the prompt alone does
    (trial 46: P(Japanese) 0.045 scored, 0.995 generated)."""
    reg = registry(model, create=False)
    if reg is None or not reg._live:
        yield
        return
    before, reg.prompt_ends = reg.prompt_ends, [int(n) for n in lengths]
    try:
        yield
    finally:
        reg.prompt_ends = before


@contextmanager
def calibrating(model) -> Iterator[dict[str, float]]:
    """While inside, validated hooks record each forward's ε candidate (the smallest per-row
    maximum z-score) and already swap with min(ε, candidate), as the state will hold it."""
    reg = registry(model)
    reg.calibration = found = {}
    try:
        yield found
    finally:
        reg.calibration = None


def install(model, states: Mapping[str, HookState]) -> dict[str, HookState | None]:
    """Install the states, all or none; the ones they replaced (None: none)."""
    if not states:
        return {}
    return set_all_or_none(registry(model), states)
