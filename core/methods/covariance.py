"""Covariance statistics of several layers at once, for multi-layer methods (MEMIT).

``core.stats.layer_covariance`` reads one layer per pass over the text; sampling the
text dominates the cost, so the layers still missing from the cache are accumulated
together in one pass here. Each result is stored under the very cache key (and with
the very values) ``layer_covariance`` would have produced for that layer alone: the
sampled text is the same for every layer, and each layer's keys are summed in the
same batches and order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from core import stats
from core.hooks import StopForward, capture_many, stop_after
from core.loading import LoadedModel
from core.methods.keys import right_padded
from core.progress import Progress, silent

log = logging.getLogger(__name__)


def layer_covariances(lm: LoadedModel, layers: Sequence[int], source: stats.StatsSource, budget_tokens: int,
                      progress: Progress | None = None) -> dict:
    """{layer: C (d_in, d_in) float32 CPU}, cached layers read, the others computed in one pass."""
    progress = progress or silent()
    specs = {layer: stats.StatsSpec(layer, source, budget_tokens) for layer in sorted(set(layers))}
    out = {layer: stats.layer_covariance(lm, spec) for layer, spec in specs.items()
           if stats.covariance_status(lm, spec).cached}
    missing = [layer for layer in specs if layer not in out]
    if len(missing) == 1:
        out[missing[0]] = stats.layer_covariance(lm, specs[missing[0]], progress)
    elif missing:
        sums, tokens = _accumulate(lm, missing, source, budget_tokens, progress)
        for layer in missing:
            mom2 = (sums[layer] / tokens).float().cpu()
            stats._save(stats.cache_path(lm, specs[layer]), mom2, tokens, stats._cache_key(lm, specs[layer]))
            out[layer] = mom2
    return out


def _accumulate(lm: LoadedModel, layers: list[int], source: stats.StatsSource, budget: int, progress: Progress):
    """({layer: Σ k kᵀ in float64}, tokens) over one pass of the source's text."""
    names = {layer: lm.spec.mlp_out_module(layer) for layer in layers}
    sequences = stats._sequences(lm, source, stats._window(lm), progress)
    sums: dict = {}
    count = 0
    for batch in stats._token_batches(sequences, budget):
        progress.check()
        keys = _keys(lm, names, batch)
        for layer, k in keys.items():
            product = (k.T @ k).double()  # float32 products, float64 sums: as core.stats does
            sums[layer] = product if layer not in sums else sums[layer] + product
        count += next(iter(keys.values())).shape[0]
        progress.report(count, budget, f"covariance of {len(layers)} layers: {count:,} tokens", tokens=count)
    if not count:
        raise stats.StatsError(f"the statistics source {source.path or '(self-sampled)'} gave no text")
    log.info("covariance for layers %s over %d tokens", layers, count)
    return sums, count


def _keys(lm: LoadedModel, names: dict[int, str], batch: list[list[int]]) -> dict:
    """{layer: (tokens, d_in)}: every real token's mlp_out input, the pass stopped after the deepest."""
    import torch

    ids, mask = right_padded(lm, batch)
    deepest = names[max(names)]
    stopped = contextlib.suppress(StopForward)
    with stopped, torch.no_grad(), capture_many(lm.model, list(names.values()), outputs=False) as seen, \
            stop_after(lm.model, deepest):
        lm.model(input_ids=ids, attention_mask=mask)
    return {layer: seen[name].input[mask.bool()].float() for layer, name in names.items()}
