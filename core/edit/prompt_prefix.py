"""Continuous prompts prefixed to a causal LM's input embeddings (RECIPE §4.3), the
model's weights untouched.

``prefixed_inputs`` turns (ids, mask, positions) into the inputs of a forward with l
prompt vectors before each row's tokens. The prompt sits at positions 0..l-1 and the
tokens keep their own positions: on a model with learned absolute positions that only
ever saw text start at position 0 (the demo model), shifting every token by l changes its
answers by itself, prompt or not. Rows that get no prompt carry l masked slots, so they
compute what they would have without the prefix (up to float rounding in attention over
more slots). Training and the inference hook both use it, so what was trained is what runs.

``PrefixHooks`` installs that on a model for every forward: a forward pre-hook asks a
``chooser`` (the retrieval repository) for each row's prompt from the row's text, rewrites
the call to ``inputs_embeds``, and a forward hook cuts the l prompt positions off the
logits again, so every caller (scoring, generation, tracing) sees the shapes it asked
for. When no row gets a prompt the call runs untouched (bit-identical). Generation with a
key-value cache retrieves once, at the prefill: the cache is remembered and later steps
get the l slots added to their mask and positions. A call given ``inputs_embeds`` instead
of ids is left alone (there is no text to retrieve with).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Chooser = Callable[[Any, Any], tuple[Any, Any] | None]  # (ids, mask) -> (prompts (B,l,d), has (B,)) or None


def prefixed_inputs(embedding, ids, mask, prompts, has, positions):
    """(inputs_embeds, attention_mask, position_ids) of ``ids`` with ``prompts`` (B, l, d)
    before the rows where ``has`` (B,) is true; ``positions`` (B, T) are those the model
    would use without a prefix."""
    import torch

    batch, length = prompts.shape[:2]
    tokens = embedding(ids)
    flags = has.to(device=ids.device)
    prompts = torch.where(flags[:, None, None], prompts.to(tokens.device, tokens.dtype), 0.0)
    embeds = torch.cat([prompts, tokens], dim=1)
    prefix_mask = flags[:, None].expand(batch, length).to(mask.dtype)
    prefix_positions = (torch.arange(length, device=ids.device)[None, :] * flags[:, None]).to(positions.dtype)
    return embeds, torch.cat([prefix_mask, mask], dim=1), torch.cat([prefix_positions, positions.to(ids.device)], 1)


def plain_positions(batch: int, length: int, past: int, device):
    """The positions a Hugging Face causal LM uses when none are given."""
    import torch

    return (torch.arange(length, device=device) + past)[None, :].expand(batch, length)


@dataclass
class _Frame:
    length: int  # prompt tokens added
    total: int  # sequence length of the rewritten call
    has: Any  # (B,) bool


def _cache_of(kwargs: dict):
    return kwargs.get("past_key_values", kwargs.get("cache"))


def _seen(cache) -> int:
    if cache is None:
        return 0
    try:
        return int(cache.get_seq_length())
    except (AttributeError, TypeError):
        return -1  # a cache this code does not know: leave the call alone


class PrefixHooks:
    """A pre-hook and a hook on one model, prefixing what ``chooser`` picks."""

    def __init__(self, model, chooser: Chooser, paused: Callable[[], bool]) -> None:
        self._model, self._chooser, self._paused = model, chooser, paused
        self._frame: _Frame | None = None
        self._caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # cache -> (l, has)
        self._handles = [model.register_forward_pre_hook(self._before, with_kwargs=True),
                         model.register_forward_hook(self._after, with_kwargs=True)]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _before(self, _module, args, kwargs):
        self._frame = None
        if self._paused():
            return None
        if len(args) > 1:  # more than the ids given positionally: not a call this code rewrites
            return None
        kwargs = dict(kwargs)
        if args:
            kwargs.setdefault("input_ids", args[0])
            args = ()
        ids, cache = kwargs.get("input_ids"), _cache_of(kwargs)
        seen = _seen(cache)
        if ids is None or kwargs.get("inputs_embeds") is not None or seen < 0:
            return None
        if seen > 0:
            return self._continued(args, kwargs, cache, seen)
        mask = kwargs.get("attention_mask")
        mask = mask if mask is not None else ids.new_ones(ids.shape)
        chosen = self._chooser(ids, mask)
        if chosen is None:
            return None
        prompts, has = chosen
        positions = kwargs.get("position_ids")
        positions = positions if positions is not None else plain_positions(*ids.shape, 0, ids.device)
        embeds, full_mask, full_positions = prefixed_inputs(
            self._model.get_input_embeddings(), ids, mask, prompts, has, positions.expand(ids.shape))
        kwargs.update(input_ids=None, inputs_embeds=embeds, attention_mask=full_mask, position_ids=full_positions)
        if kwargs.get("labels") is not None:
            kwargs["labels"] = _prefixed_labels(kwargs["labels"], prompts.shape[1])
        self._frame = _Frame(prompts.shape[1], embeds.shape[1], has)
        if cache is not None:
            self._caches[cache] = (prompts.shape[1], has)
        return args, kwargs

    def _continued(self, args, kwargs, cache, seen: int):
        """A decoding step on a cache whose prefill got prompts: the l slots join the mask (the
        tokens keep their positions, which the cache's length would otherwise shift by l)."""
        import torch

        marked = self._caches.get(cache)
        if marked is None:
            return None
        length, has = marked
        ids = kwargs["input_ids"]
        mask = kwargs.get("attention_mask")
        if mask is None:
            mask = ids.new_ones((ids.shape[0], seen - length + ids.shape[1]))
        positions = kwargs.get("position_ids")
        if positions is None:
            positions = plain_positions(*ids.shape, seen - length, ids.device)
        prefix_mask = has.to(ids.device)[:, None].expand(ids.shape[0], length).to(mask.dtype)
        kwargs.update(attention_mask=torch.cat([prefix_mask, mask], dim=1), position_ids=positions.expand(ids.shape))
        return args, kwargs

    def _after(self, _module, _args, kwargs, output):
        frame, self._frame = self._frame, None
        if frame is None:
            return None
        cache = getattr(output, "past_key_values", None)
        if cache is not None and _cache_of(kwargs) is None:
            self._caches[cache] = (frame.length, frame.has)  # made by the model: a caller may continue it
        logits = getattr(output, "logits", None)
        if logits is not None and logits.shape[1] == frame.total:
            output.logits = logits[:, frame.length :]
        states = getattr(output, "hidden_states", None)
        if states is not None:
            output.hidden_states = tuple(s[:, frame.length :] if s.shape[1] == frame.total else s for s in states)
        return output


def _prefixed_labels(labels, length: int):
    """Labels for the prefixed sequence: nothing to predict on the prompt, nor from its last slot."""
    import torch

    pad = labels.new_full((labels.shape[0], length + 1), -100)
    return torch.cat([pad, labels[:, 1:]], dim=1)
