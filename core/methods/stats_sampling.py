"""Text the model samples itself for covariance statistics, sampled once and kept on disk.

Sampling is batched and KV-cached: every step feeds one new token per row, finished rows
(cut at their first end-of-text) leave the batch and its cache, and a draw is one uniform
number per row against the cumulative distribution (temperature 1, no top-k).

The stream of sequences a seed gives depends on the model (file fingerprint, dtype,
device type), the seed and the window only, never on a budget: each batch's row count
follows from the sequences sampled before it. So a stored stream's first N tokens are
exactly what a fresh run to N tokens samples, and one stream serves every layer, method
and budget: ``sampled`` reads ``cache_dir()/stats/tokens-<digest>.safetensors`` and
samples (and stores) only what a larger budget adds, continuing from the stored
generator state.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from core.model.loading import LoadedModel
from core.model.tokens import encode
from core.util.atomic import replacing
from core.util.paths import cache_dir
from core.util.progress import Progress, RateMeter

log = logging.getLogger(__name__)

SAMPLER_VERSION = "2"  # part of every key: a change of how text is sampled invalidates
BATCH_TOKENS = 8192  # tokens a sampling batch aims at (rows = this / mean sequence length)
MIN_ROWS = 8
# Models that never learnt what follows end-of-text start rows from their average
# next-token distribution, estimated from this many rows × steps after end-of-text.
MARGINAL_ROWS = 32
MARGINAL_STEPS = 32


@dataclass
class Stream:
    """The sequences sampled so far and what continuing the stream needs."""

    sequences: list[list[int]]
    state: object  # torch.Generator state (uint8 tensor) after the last batch
    marginal: object | None  # start-token distribution (models without BOS), else None

    @property
    def tokens(self) -> int:
        return sum(len(s) for s in self.sequences)


def stream_key(lm: LoadedModel, seed: int, width: int) -> dict[str, str]:
    return {"model": lm.info.fingerprint, "dtype": str(lm.model.dtype), "device": _device_type(lm),
            "seed": str(seed), "width": str(width), "sampler": SAMPLER_VERSION, "kind": "sampled-tokens"}


def stream_path(lm: LoadedModel, seed: int, width: int) -> Path:
    digest = hashlib.sha256(json.dumps(stream_key(lm, seed, width), sort_keys=True).encode()).hexdigest()[:32]
    return cache_dir() / "stats" / f"tokens-{digest}.safetensors"


def cached_tokens(lm: LoadedModel, seed: int, width: int) -> int:
    """Tokens of the seed's stream already stored (0 when none)."""
    path = stream_path(lm, seed, width)
    if not path.is_file():
        return 0
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return int((fh.metadata() or {}).get("tokens", 0))
    except (OSError, ValueError, SafetensorError):
        return 0


def sampled(lm: LoadedModel, seed: int, width: int, budget: int, progress: Progress) -> list[list[int]]:
    """At least ``budget`` tokens of the seed's stream (fewer only if the model stops
    producing text), from the stored stream, sampling and storing what it lacks."""
    path = stream_path(lm, seed, width)
    stream = _load(path) if path.is_file() else None
    if stream is not None and stream.tokens >= budget:
        log.info("%d sampled tokens from cache %s", stream.tokens, path.name)
        return stream.sequences
    stream = stream or _start(lm, seed, width, progress)
    _extend(lm, stream, width, budget, progress)
    _save(path, stream, stream_key(lm, seed, width))
    return stream.sequences


def _device_type(lm: LoadedModel) -> str:
    return str(getattr(lm.device, "type", lm.device)).split(":")[0]


def _start(lm: LoadedModel, seed: int, width: int, progress: Progress) -> Stream:
    import torch

    generator = torch.Generator().manual_seed(seed)
    marginal = None
    if not encode(lm.tokenizer, ""):  # no BOS: see MARGINAL_ROWS
        eos = lm.tokenizer.eos_token_id
        _, marginal = sample_batch(lm, [[eos]] * MARGINAL_ROWS, min(width, MARGINAL_STEPS), generator,
                                   progress, want_marginal=True)
        marginal[eos] = 0.0
    return Stream([], generator.get_state(), marginal)


def max_rows(lm: LoadedModel) -> int:
    """Rows sampled at once at most: many for small models, few where the KV cache is large."""
    return max(MIN_ROWS, min(512, 2**22 // (lm.info.hidden_size * lm.info.layers)))


def _rows(lm: LoadedModel, stream: Stream, width: int) -> int:
    """This batch's rows, from the mean length of the sequences before it (never the budget)."""
    mean = stream.tokens / len(stream.sequences) if stream.sequences else width
    return max(MIN_ROWS, min(max_rows(lm), round(BATCH_TOKENS / max(1.0, mean))))


def _extend(lm: LoadedModel, stream: Stream, width: int, budget: int, progress: Progress) -> None:
    import torch

    generator = torch.Generator()
    generator.set_state(stream.state)
    bos = encode(lm.tokenizer, "")
    meter = RateMeter(budget, start=stream.tokens)
    while stream.tokens < budget:
        progress.check()
        rows = _rows(lm, stream, width)
        if bos:
            sampled_rows, _ = sample_batch(lm, [bos] * rows, width - len(bos), generator, progress)
            new = [bos + row for row in sampled_rows if row]
        else:
            starts = torch.multinomial(stream.marginal, rows, replacement=True, generator=generator).tolist()
            sampled_rows, _ = sample_batch(lm, [[s] for s in starts], width - 1, generator, progress)
            new = [[s, *row] for s, row in zip(starts, sampled_rows, strict=True)]
        if not new:
            break  # the model ends every text at once: nothing more to sample
        stream.sequences.extend(new)
        stream.state = generator.get_state()
        done = min(stream.tokens, budget)
        progress.report(done, budget, f"sampling text: {meter.text(done)}", tokens=done, **meter.values(done))


def _draw(probs, generator):
    """One token per row: a uniform number against the row's cumulative distribution."""
    import torch

    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=torch.float64).to(probs.device)
    cdf = probs.double().cumsum(-1)
    picked = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)
    return picked.clamp_(max=probs.shape[-1] - 1)[:, 0]


def _growing_cache():
    """A DynamicCache whose layers write into buffers that double when full, instead of
    concatenating the whole cache every step (quadratic in the window: most of a 124M
    model's sampling time); the keys and values the model sees are the same tensors.
    None (the model's own cache) where this transformers has no such layer class."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return None
    if not hasattr(DynamicLayer, "batch_select_indices"):
        return None

    class GrowingLayer(DynamicLayer):
        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                self.used, self.key_buffer, self.value_buffer = 0, key_states[..., :0, :], value_states[..., :0, :]
            end = self.used + key_states.shape[-2]
            if end > self.key_buffer.shape[-2]:
                self.key_buffer = _grown(self.key_buffer, self.used, end)
                self.value_buffer = _grown(self.value_buffer, self.used, end)
            self.key_buffer[..., self.used : end, :] = key_states
            self.value_buffer[..., self.used : end, :] = value_states
            self.used = end
            self.keys, self.values = self.key_buffer[..., :end, :], self.value_buffer[..., :end, :]
            return self.keys, self.values

        def batch_select_indices(self, indices) -> None:
            if self.is_initialized and self.used:
                self.key_buffer, self.value_buffer = self.key_buffer[indices], self.value_buffer[indices]
                self.keys = self.key_buffer[..., : self.used, :]
                self.values = self.value_buffer[..., : self.used, :]

    cache = DynamicCache()
    cache.layer_class_to_replicate = GrowingLayer
    return cache


def _grown(buffer, used: int, needed: int):
    """A buffer of at least ``needed`` positions (doubling), holding ``buffer``'s first ``used``."""
    bigger = buffer.new_empty((*buffer.shape[:-2], max(needed, 2 * buffer.shape[-2], 16), buffer.shape[-1]))
    bigger[..., :used, :] = buffer[..., :used, :]
    return bigger


def _forward(lm: LoadedModel, ids, mask, cache):
    """One KV-cached step; transformers ≥ 5.x names the cache argument ``cache``."""
    import inspect

    name = "cache" if "cache" in inspect.signature(lm.model.forward).parameters else "past_key_values"
    result = lm.model(input_ids=ids, attention_mask=mask, use_cache=True, **{name: cache})
    return result.logits[:, -1].float(), getattr(result, name, None)


def sample_batch(lm: LoadedModel, starts: list[list[int]], length: int, generator, progress: Progress,
                 want_marginal: bool = False):
    """(rows of up to ``length`` sampled tokens each, cut at end-of-text; the mean next-token
    distribution over the unfinished rows, or None unless ``want_marginal``)."""
    import torch

    eos = lm.tokenizer.eos_token_id
    ids = torch.tensor(starts, device=lm.device)
    mask = torch.ones_like(ids)  # no row is padded, but the start token may be the pad token
    out = torch.full((len(starts), max(length, 0)), -1, dtype=torch.long)
    live, cache, marginal = torch.arange(len(starts)), _growing_cache(), None
    with torch.no_grad():
        for step in range(length):
            progress.check()
            logits, cache = _forward(lm, ids, mask, cache)
            probs = torch.softmax(logits, dim=-1)
            if want_marginal:
                marginal = probs.sum(0).cpu() + (0.0 if marginal is None else marginal)
            token = _draw(probs, generator)
            out[live, step] = token.cpu()
            going = (token != eos).cpu()
            if not bool(going.any()):
                break
            if not bool(going.all()):  # finished rows leave the batch and its cache
                keep = going.nonzero()[:, 0]
                live, token, mask = live[keep], token[keep.to(token.device)], mask[keep.to(mask.device)]
                cache.batch_select_indices(keep.to(lm.device))
            ids, mask = token[:, None], torch.cat([mask, torch.ones_like(token)[:, None]], dim=1)
    rows = [[t for t in row if t >= 0] for row in out.tolist()]
    rows = [row[: row.index(eos)] if eos in row else row for row in rows]
    return rows, (marginal / marginal.sum() if marginal is not None else None)


def _save(path: Path, stream: Stream, key: dict[str, str]) -> None:
    import torch
    from safetensors.torch import save_file

    tensors = {"tokens": torch.tensor([t for s in stream.sequences for t in s], dtype=torch.int32),
               "lengths": torch.tensor([len(s) for s in stream.sequences], dtype=torch.int32),
               "state": stream.state.clone()}
    if stream.marginal is not None:
        tensors["marginal"] = stream.marginal.float().contiguous()
    with replacing(path) as tmp:
        save_file(tensors, str(tmp), metadata={**key, "tokens": str(stream.tokens)})


def _load(path: Path) -> Stream | None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        data = load_file(str(path))
        flat, lengths = data["tokens"].tolist(), data["lengths"].tolist()
        if sum(lengths) != len(flat) or min(lengths, default=1) < 1 or "state" not in data:
            raise ValueError("token count and lengths disagree")
    except (OSError, ValueError, KeyError, SafetensorError) as exc:  # a damaged file is resampled, never trusted
        log.warning("ignoring unreadable sampled-token cache %s: %s", path.name, exc)
        return None
    sequences, at = [], 0
    for n in lengths:
        sequences.append(flat[at : at + n])
        at += n
    return Stream(sequences, data["state"], data.get("marginal"))
