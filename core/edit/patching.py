"""Activation patching as context managers: overwrite or perturb module outputs at chosen
(row, position) pairs of a batch, for causal tracing.

Like ``core.edit.hooks``, every hook is removed in ``finally`` and tuple outputs are
handled by touching their first element only. Replacements are out of place (the
module's own output tensor is never modified).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from core.edit.hooks import _first, _hooked, _replace_first, get_module


@dataclass(frozen=True)
class Patch:
    """Rows ``rows[i]`` of the module's output take ``values[i]`` at position ``positions[i]``
    (values: a tensor of shape (len(rows), hidden))."""

    rows: tuple[int, ...]
    positions: tuple[int, ...]
    values: object


@contextmanager
def outputs_replaced(model, patches: Mapping[str, Patch]) -> Iterator[None]:
    """While inside, module ``name``'s output is overwritten at each patch's (row, position)."""
    with ExitStack() as stack:
        for name, patch in patches.items():
            if patch.rows:
                stack.enter_context(_hooked(get_module(model, name), _replacer(patch)))
        yield


def _replacer(patch: Patch):
    import torch

    rows = torch.as_tensor(patch.rows, dtype=torch.long)
    positions = torch.as_tensor(patch.positions, dtype=torch.long)

    def hook(_module, _args, _kwargs, output):
        hidden = _first(output)
        index = (rows.to(hidden.device), positions.to(hidden.device))
        values = patch.values.to(device=hidden.device, dtype=hidden.dtype)
        return _replace_first(output, hidden.index_put(index, values))

    return hook


@contextmanager
def noise_added(model, name: str, noise, positions: Sequence[int]) -> Iterator[None]:
    """Add ``noise`` (shape (batch, len(positions), hidden), or broadcastable to it) to
    module ``name``'s output at ``positions`` of every row."""
    import torch

    index = torch.as_tensor(list(positions), dtype=torch.long)

    def hook(_module, _args, _kwargs, output):
        hidden = _first(output)
        if not len(index):
            return None
        where = index.to(hidden.device)
        changed = hidden.clone()
        changed[:, where] = hidden[:, where] + noise.to(device=hidden.device, dtype=hidden.dtype)
        return _replace_first(output, changed)

    with _hooked(get_module(model, name), hook):
        yield
