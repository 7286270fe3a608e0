"""Forward hooks as context managers: capture a module's input/output, or add a vector
to its output at chosen (row, position) pairs.

Every hook is removed in ``finally``, so an exception (or a ``Cancelled``) inside the
``with`` block never leaves a hook behind on the model. Outputs that are tuples (older
Hugging Face blocks) are handled by touching their first element only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from core.util.timing import phase


class HookError(LookupError):
    """A hook names a module the model does not have."""


class StopForward(Exception):
    """Raised by ``stop_after`` to end a forward pass once the wanted module has run."""


@dataclass
class Captured:
    """What a capture hook saw on its module's last call (tensors, not detached)."""

    input: Any = None  # first positional input
    output: Any = None  # first element when the module returns a tuple
    calls: int = 0


def get_module(model, name: str):
    """The submodule at dotted path ``name`` (``""`` is the model itself)."""
    modules = dict(model.named_modules())
    if name not in modules:
        raise HookError(f"the model has no module named {name!r}")
    return modules[name]


def _first(value):
    return value[0] if isinstance(value, tuple | list) else value


def _replace_first(value, first):
    if isinstance(value, tuple):
        return (first, *value[1:])
    if isinstance(value, list):
        return [first, *value[1:]]
    return first


@contextmanager
def capture(model, name: str, inputs: bool = True, outputs: bool = True) -> Iterator[Captured]:
    """Record the input and/or output of module ``name`` on each forward call."""
    with capture_many(model, [name], inputs, outputs) as found:
        yield found[name]


@contextmanager
def capture_many(
    model, names: Sequence[str], inputs: bool = True, outputs: bool = True
) -> Iterator[dict[str, Captured]]:
    """``capture`` for several modules at once: {name: Captured}."""
    found = {name: Captured() for name in names}
    with ExitStack() as stack:
        for name in names:
            stack.enter_context(_hooked(get_module(model, name), _recorder(found[name], inputs, outputs)))
        yield found


def _recorder(slot: Captured, inputs: bool, outputs: bool) -> Callable:
    def hook(_module, args, kwargs, output):
        slot.calls += 1
        if inputs:
            slot.input = args[0] if args else _first(next(iter(kwargs.values()), None))
        if outputs:
            slot.output = _first(output)
        return None  # leave the output unchanged

    return hook


@contextmanager
def _hooked(module, hook: Callable) -> Iterator[None]:
    handle = module.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def added_to_output(model, name: str, vector, rows: Sequence[int], positions: Sequence[int]) -> Iterator[None]:
    """Add ``vector`` (shape (hidden,) or (len(rows), hidden)) to module ``name``'s output
    at output[rows[i], positions[i]]; out of place, so gradients flow into ``vector``."""
    import torch

    module = get_module(model, name)
    row_index = torch.as_tensor(list(rows), dtype=torch.long)
    pos_index = torch.as_tensor(list(positions), dtype=torch.long)
    last = int(pos_index.max())

    def hook(_module, _args, _kwargs, output):
        hidden = _first(output)
        if hidden.dim() != 3 or hidden.shape[1] <= last:
            return None  # a cached single-token step: nothing of ours to edit
        add = vector.to(hidden.dtype).expand(len(row_index), hidden.shape[-1])
        index = (row_index.to(hidden.device), pos_index.to(hidden.device))
        return _replace_first(output, hidden.index_put(index, add.to(hidden.device), accumulate=True))

    with _hooked(module, hook):
        yield


@contextmanager
def low_rank_added(model, name: str, right, left) -> Iterator[None]:
    """Module ``name`` acts as if its weight had gained the low-rank update ``left``ᵀ``right``ᵀ
    (right: (d_in, r), left: (r, d_out)): every output position gains (input @ right) @ left,
    so gradients flow into ``left`` through exactly the change the update would make."""
    module = get_module(model, name)

    def hook(_module, args, kwargs, output):
        with phase("insertion-aware update (forward)"):
            hidden = _first(output)
            inputs = args[0] if args else next(iter(kwargs.values()))
            add = (inputs.to(right.dtype) @ right.to(inputs.device)) @ left.to(inputs.device)
            return _replace_first(output, hidden + add.to(hidden.dtype))

    with _hooked(module, hook):
        yield


@contextmanager
def stop_after(model, name: str) -> Iterator[None]:
    """End every forward pass right after module ``name`` runs (the caller catches
    ``StopForward``): statistics of an early layer need not pay for the later ones.
    Enter it after any capture of the same module so the capture runs first."""

    def hook(_module, _args, _kwargs, _output):
        raise StopForward(name)

    with _hooked(get_module(model, name), hook):
        yield
