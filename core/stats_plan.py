"""Which covariance statistics a method's hyperparameters need, and whether they are cached.

Methods that whiten keys with a layer's covariance (ROME, and batch methods such as MEMIT)
carry ``stats_source``, ``stats_seed`` and ``stats_tokens`` on their hyperparameters, name
their layer(s) as ``layer`` or ``layers``, and switch the statistics off with
``use_covariance=False`` (ROME) or ``mom2_weight=0`` (MEMIT). Other methods need none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.loading import LoadedModel
from core.progress import Progress, silent
from core.stats import CovarianceStatus, StatsSource, StatsSpec, covariance_status


@dataclass(frozen=True)
class StatsNeed:
    spec: StatsSpec
    status: CovarianceStatus


def _layers(lm: LoadedModel, method: str, hparams: Any) -> list[int]:
    layers = getattr(hparams, "layers", None)
    if layers:
        return [int(layer) for layer in layers]
    if layers is not None and method == "memit":
        from core.methods.memit import resolve_layers

        return list(resolve_layers(lm, hparams))
    layer = getattr(hparams, "layer", None)
    if layer is None and method == "rome":
        from core.methods.rome import resolve_layer

        layer = resolve_layer(lm, hparams)
    return [] if layer is None else [int(layer)]


def _uses_statistics(hparams: Any) -> bool:
    if not all(hasattr(hparams, name) for name in ("stats_source", "stats_seed", "stats_tokens")):
        return False
    return bool(getattr(hparams, "use_covariance", True)) and getattr(hparams, "mom2_weight", 1) != 0


def needed_statistics(lm: LoadedModel, method: str, hparams: Any) -> list[StatsNeed]:
    """The covariances an edit with these hyperparameters reads (empty when none)."""
    if not _uses_statistics(hparams):
        return []
    source = StatsSource(hparams.stats_source, hparams.stats_seed)
    specs = [StatsSpec(layer, source, hparams.stats_tokens) for layer in _layers(lm, method, hparams)]
    return [StatsNeed(spec, covariance_status(lm, spec)) for spec in specs]


def compute_statistics(lm: LoadedModel, specs: Sequence[StatsSpec], progress: Progress | None = None) -> int:
    """Compute (and cache) every covariance not cached yet, several layers of one source in
    one pass; returns how many were computed."""
    from core.methods.covariance import layer_covariances

    progress = progress or silent()
    missing = [spec for spec in specs if not covariance_status(lm, spec).cached]
    groups: dict[tuple[StatsSource, int], list[int]] = {}
    for spec in missing:
        groups.setdefault((spec.source, spec.budget_tokens), []).append(spec.layer)
    for i, ((source, tokens), layers) in enumerate(groups.items()):
        layer_covariances(lm, layers, source, tokens, progress.stage(i / len(groups), (i + 1) / len(groups)))
    progress.report(1.0, 1.0, "statistics ready")
    return len(missing)
