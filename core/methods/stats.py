"""Second-moment statistics C = E[k kᵀ] of the mlp_out input (ROME's and MEMIT's
covariance), from the text of a ``core.methods.stats_text.StatsSource``.

Results are cached under ``cache_dir()/stats`` as safetensors, keyed by the model's file
fingerprint, the layer, the source's identity and the token budget. Several layers still
missing from the cache are accumulated together in one pass over the text (sampling the
text dominates the cost); each is stored under the very key and with the very values a
pass for that layer alone would have produced: the text is the same for every layer and
each layer's keys are summed in the same batches and order. A few 10k tokens already
give a usable C on small models (methods.md §5).

This is the public interface methods use: ``StatsSpec``, ``covariance_status``,
``layer_covariance`` and ``layer_covariances``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.edit.hooks import StopForward, capture_many, stop_after
from core.methods.stats_sampling import cached_tokens
from core.methods.stats_text import StatsError, StatsSource, sequences, token_batches, window
from core.model.loading import LoadedModel
from core.model.tokens import model_batch
from core.util.atomic import replacing
from core.util.paths import cache_dir
from core.util.progress import Progress, RateMeter, silent

__all__ = ["CovarianceStatus", "StatsError", "StatsSource", "StatsSpec", "cache_path", "covariance_status",
           "layer_covariance", "layer_covariances"]

log = logging.getLogger(__name__)

DEFAULT_BUDGET_TOKENS = 100_000
# Share of a self-sampled covariance's progress that sampling takes (the key pass the rest)
SAMPLING_SHARE = 0.8


@dataclass(frozen=True)
class StatsSpec:
    """One covariance: which layer, from which text, over how many tokens."""

    layer: int
    source: StatsSource = field(default_factory=StatsSource)
    budget_tokens: int = DEFAULT_BUDGET_TOKENS


@dataclass(frozen=True)
class CovarianceStatus:
    cached: bool
    path: Path
    tokens: int  # tokens the cached statistics saw; 0 when not cached


def _cache_key(lm: LoadedModel, spec: StatsSpec) -> dict[str, str]:
    return {
        "model": lm.info.fingerprint,
        "module": lm.spec.mlp_out_module(spec.layer),
        "source": spec.source.identity(),
        "budget_tokens": str(spec.budget_tokens),
        "kind": "mom2-uncentred",
    }


def cache_path(lm: LoadedModel, spec: StatsSpec) -> Path:
    digest = hashlib.sha256(json.dumps(_cache_key(lm, spec), sort_keys=True).encode()).hexdigest()[:32]
    return cache_dir() / "stats" / f"mom2-{digest}.safetensors"


def covariance_status(lm: LoadedModel, spec: StatsSpec) -> CovarianceStatus:
    """Is this covariance cached (so an edit needing it starts at once)?"""
    path = cache_path(lm, spec)
    if not path.is_file():
        return CovarianceStatus(False, path, 0)
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            tokens = int((fh.metadata() or {}).get("tokens", 0))
    except (OSError, ValueError, SafetensorError):  # damaged: computed again when needed
        return CovarianceStatus(False, path, 0)
    return CovarianceStatus(True, path, tokens)


def layer_covariance(lm: LoadedModel, spec: StatsSpec, progress: Progress | None = None):
    """C = E[k kᵀ] (d_in, d_in, float32, CPU) for spec.layer; cached on disk."""
    return layer_covariances(lm, [spec.layer], spec.source, spec.budget_tokens, progress)[spec.layer]


def layer_covariances(lm: LoadedModel, layers: Sequence[int], source: StatsSource, budget_tokens: int,
                      progress: Progress | None = None) -> dict:
    """{layer: C (d_in, d_in) float32 CPU}: cached layers read, the others computed in one pass."""
    progress = progress or silent()
    specs = {layer: StatsSpec(layer, source, budget_tokens) for layer in sorted(set(layers))}
    out = {}
    for layer, spec in specs.items():
        path = cache_path(lm, spec)
        # Read once per file version: every edit gets the same tensor (never modified), so
        # what cov_solve derives from it is kept too
        if (mom2 := lm.memo.get_or_make(_file_key(path), lambda p=path: _load(p))) is not None:
            out[layer] = mom2
    missing = [layer for layer in specs if layer not in out]
    if missing:
        sums, tokens = _accumulate(lm, missing, source, budget_tokens, progress)
        for layer in missing:
            mom2 = (sums[layer] / tokens).float().cpu()
            path = cache_path(lm, specs[layer])
            _save(path, mom2, tokens, _cache_key(lm, specs[layer]))
            out[layer] = lm.memo.get_or_make(_file_key(path), lambda m=mom2: m)
    return out


def _file_key(path: Path) -> tuple:
    """The memo key of a cache file's current version (a rewritten file is read again)."""
    try:
        stat = path.stat()
    except OSError:
        return ("covariance", str(path), None)
    return ("covariance", str(path), stat.st_mtime_ns, stat.st_size)


def _load(path: Path):
    """The cached C, or None when there is none or it is damaged (then computed again)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        return None
    try:
        mom2 = load_file(str(path))["mom2"]
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        log.warning("ignoring unreadable covariance cache %s: %s", path.name, exc)
        return None
    log.info("covariance from cache %s", path.name)
    return mom2


def _save(path: Path, mom2, tokens: int, key: dict[str, str]) -> None:
    from safetensors.torch import save_file

    with replacing(path) as tmp:  # a cancelled or crashed run leaves no half file
        save_file({"mom2": mom2.contiguous()}, str(tmp), metadata={**key, "tokens": str(tokens)})


def _accumulate(lm: LoadedModel, layers: list[int], source: StatsSource, budget: int, progress: Progress):
    """({layer: Σ k kᵀ in float64}, tokens) over one pass of the source's text."""
    names = {layer: lm.spec.mlp_out_module(layer) for layer in layers}
    what = f"covariance of {len(layers)} layers" if len(layers) > 1 else "covariance"
    width = window(lm)
    to_sample = source.kind == "self" and cached_tokens(lm, source.seed, width) < budget
    texts = sequences(lm, source, width, progress.stage(0.0, SAMPLING_SHARE) if to_sample else progress, budget)
    keys_progress = progress.stage(SAMPLING_SHARE, 1.0) if to_sample else progress
    sums: dict = {}
    count, meter = 0, None
    for batch in token_batches(texts, budget):
        meter = meter or RateMeter(budget)  # started after any sampling: the rate of this pass
        progress.check()
        keys = _keys(lm, names, batch)
        for layer, k in keys.items():
            product = (k.T @ k).double()  # float32 products per batch, float64 sums: many batches lose nothing
            sums[layer] = product if layer not in sums else sums[layer] + product
        count += next(iter(keys.values())).shape[0]
        keys_progress.report(count, budget, f"{what}: {meter.text(count)}", tokens=count, **meter.values(count))
    if not count:
        raise StatsError(f"the statistics source {source.path or '(self-sampled)'} gave no text")
    log.info("covariance for layers %s over %d tokens", layers, count)
    return sums, count


def _keys(lm: LoadedModel, names: dict[int, str], batch: list[list[int]]) -> dict:
    """{layer: (tokens, d_in)}: every real token's mlp_out input, the pass stopped after the deepest."""
    import torch

    ids, mask = model_batch(lm, batch)
    deepest = names[max(names)]
    stopped = contextlib.suppress(StopForward)  # entered first: it must outlive stop_after
    with stopped, torch.no_grad(), capture_many(lm.model, list(names.values()), outputs=False) as seen, \
            stop_after(lm.model, deepest):
        lm.model(input_ids=ids, attention_mask=mask)
    return {layer: seen[name].input[mask.bool()].float() for layer, name in names.items()}
