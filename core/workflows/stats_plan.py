"""Which covariance statistics a method's hyperparameters need, whether they are cached,
and computing the missing ones ahead of an edit (the app's "Compute statistics").

Each method says what it reads (``EditMethod.statistics``); nothing here knows a method
by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.methods import get_method
from core.methods.stats import CovarianceStatus, StatsSource, StatsSpec, covariance_status, layer_covariances
from core.model.loading import LoadedModel
from core.util.progress import Progress, silent


@dataclass(frozen=True)
class StatsNeed:
    spec: StatsSpec
    status: CovarianceStatus


def needed_statistics(lm: LoadedModel, method: str, hparams: Any) -> list[StatsNeed]:
    """The covariances an edit with these hyperparameters reads (empty when none)."""
    specs = get_method(method).statistics(lm, hparams)
    return [StatsNeed(spec, covariance_status(lm, spec)) for spec in specs]


def compute_statistics(lm: LoadedModel, specs: Sequence[StatsSpec], progress: Progress | None = None) -> int:
    """Compute (and cache) every covariance not cached yet, several layers of one source in
    one pass; returns how many were computed."""
    progress = progress or silent()
    missing = [spec for spec in specs if not covariance_status(lm, spec).cached]
    groups: dict[tuple[StatsSource, int], list[int]] = {}
    for spec in missing:
        groups.setdefault((spec.source, spec.budget_tokens), []).append(spec.layer)
    for i, ((source, tokens), layers) in enumerate(groups.items()):
        layer_covariances(lm, layers, source, tokens, progress.stage(i / len(groups), (i + 1) / len(groups)))
    progress.report(1.0, 1.0, "statistics ready")
    return len(missing)
