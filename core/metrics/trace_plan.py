"""What a causal trace restores for each (layer, token) cell, from the architecture spec."""

from __future__ import annotations

from dataclasses import dataclass

from core.model.arch import ArchSpec


@dataclass(frozen=True)
class Cell:
    """The (module, token position) pairs one restoration puts back from the clean run."""

    restore: tuple[tuple[str, int], ...]


def window_layers(layer: int, window: int, n_layers: int) -> range:
    """ROME's window of ``window`` layers centred on ``layer``, clipped to the model."""
    return range(max(0, layer - window // 2), min(n_layers, layer - (-window // 2)))


def _state_cell(spec: ArchSpec, layer: int, token: int, _window: int, _n_layers: int) -> Cell:
    return Cell(((spec.layer(layer), token),))


def _mlp_cell(spec: ArchSpec, layer: int, token: int, window: int, n_layers: int) -> Cell:
    return Cell(tuple((spec.mlp_module(i), token) for i in window_layers(layer, window, n_layers)))


_CELL_BUILDERS = {"state": _state_cell, "mlp": _mlp_cell}


def cells_for(spec: ArchSpec, kind: str, n_layers: int, n_tokens: int, window: int) -> list[Cell]:
    """Every cell of a ``kind`` trace, layer-major (layer 0's tokens first)."""
    build = _CELL_BUILDERS[kind]
    return [build(spec, layer, token, window, n_layers) for layer in range(n_layers) for token in range(n_tokens)]
