"""Estimate a model's memory before loading it, and what the target device has free."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.model.folder_checks import read_header, weight_shards

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
OVERHEAD = 1.2  # activations, optimiser state of the few edited matrices, allocator slack


class InsufficientMemory(MemoryError):
    """A load would not fit on the chosen device."""


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int
    weight_bytes: int  # at the dtype it will be loaded in
    needed_bytes: int
    available_bytes: int | None
    device: str

    @property
    def fits(self) -> bool:
        return self.available_bytes is None or self.needed_bytes <= self.available_bytes

    def describe(self) -> str:
        avail = "unknown" if self.available_bytes is None else gib(self.available_bytes)
        return f"needs about {gib(self.needed_bytes)} on {self.device}; {avail} available"


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def safetensors_parameter_count(path: Path) -> int:
    """Elements in a safetensors file, read from its validated header alone."""
    return sum(t.elements for t in read_header(path))


def config_parameter_count(config: dict) -> int:
    """Rough count from config.json when no safetensors header is available."""
    d = config.get("hidden_size") or config.get("n_embd") or 0
    layers = config.get("num_hidden_layers") or config.get("n_layer") or 0
    inner = config.get("intermediate_size") or config.get("n_inner") or 4 * d
    vocab = config.get("vocab_size", 0)
    return layers * (4 * d * d + 3 * d * inner) + 2 * vocab * d


def available_bytes(device: str) -> int | None:
    import torch

    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if device == "cpu":
        import psutil

        return int(psutil.virtual_memory().available)
    return None  # MPS shares system memory and reports no free figure


def estimate(folder: Path, dtype_name: str, device: str) -> MemoryEstimate:
    """Memory a load of folder at dtype_name on device will take, against what is free."""
    folder = Path(folder)
    shards = weight_shards(folder)
    if shards:
        params = sum(safetensors_parameter_count(p) for p in shards)
    else:
        params = config_parameter_count(json.loads((folder / "config.json").read_text()))
    weight_bytes = params * _DTYPE_BYTES.get(dtype_name, 4)
    return MemoryEstimate(params, weight_bytes, int(weight_bytes * OVERHEAD), available_bytes(device), device)
