"""Which covariance statistics a method's hyperparameters need, and whether they are cached.

Methods that whiten keys with a layer's covariance (ROME, and batch methods such as MEMIT)
carry ``use_covariance`` and a ``stats_spec(layer)`` method on their hyperparameters, and
name their layer(s) as ``layer`` or ``layers``. Methods without them need no statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.loading import LoadedModel
from core.progress import Progress, silent
from core.stats import CovarianceStatus, StatsSpec, covariance_status, layer_covariance


@dataclass(frozen=True)
class StatsNeed:
    spec: StatsSpec
    status: CovarianceStatus


def _layers(lm: LoadedModel, method: str, hparams: Any) -> list[int]:
    layers = getattr(hparams, "layers", None)
    if layers:
        return [int(layer) for layer in layers]
    layer = getattr(hparams, "layer", None)
    if layer is None and method == "rome":
        from core.methods.rome import resolve_layer

        layer = resolve_layer(lm, hparams)
    return [] if layer is None else [int(layer)]


def needed_statistics(lm: LoadedModel, method: str, hparams: Any) -> list[StatsNeed]:
    """The covariances an edit with these hyperparameters reads (empty when none)."""
    if not getattr(hparams, "use_covariance", False) or not hasattr(hparams, "stats_spec"):
        return []
    specs = [hparams.stats_spec(layer) for layer in _layers(lm, method, hparams)]
    return [StatsNeed(spec, covariance_status(lm, spec)) for spec in specs]


def compute_statistics(lm: LoadedModel, specs: Sequence[StatsSpec], progress: Progress | None = None) -> int:
    """Compute (and cache) every covariance not cached yet; returns how many were computed."""
    progress = progress or silent()
    missing = [spec for spec in specs if not covariance_status(lm, spec).cached]
    for i, spec in enumerate(missing):
        layer_covariance(lm, spec, progress.stage(i / len(missing), (i + 1) / len(missing)))
    progress.report(1.0, 1.0, "statistics ready")
    return len(missing)
