"""Tokenising prompt + target pairs the same way for editing and for evaluation.

methods.md §5: a target gets exactly one leading space (BPE tokenisers carry it on the
target's first token) and special tokens (BOS) are added as the tokenizer does for any
text, so edits and evaluations see what the model saw in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EncodedPair:
    """Token ids of a prompt and of the target that follows it."""

    prompt_ids: tuple[int, ...]
    target_ids: tuple[int, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        return self.prompt_ids + self.target_ids


def join_target(prompt: str, target: str) -> str:
    """prompt + exactly one space + target, never two."""
    return f"{prompt.rstrip()} {target.strip()}"


def encode(tokenizer, text: str) -> list[int]:
    """Ids as the model sees ``text`` at the start of an input (BOS included if used)."""
    return list(tokenizer(text, add_special_tokens=True)["input_ids"])


def encode_text(tokenizer, text: str) -> list[int]:
    """Ids with the tokenizer's own leading specials (BOS) but without trailing ones
    (some tokenizers append EOS), which would split a continuation from its prefix."""
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    specials = set(tokenizer.all_special_ids)
    while len(ids) > 1 and ids[-1] in specials and not text.endswith(tokenizer.decode([ids[-1]])):
        ids.pop()
    return ids


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def encode_continuation(tokenizer, prefix: str, full: str) -> EncodedPair:
    """Split the ids of ``full`` into the part ``prefix`` tokenises to and the rest.

    Tokenising the whole text (not the parts separately) avoids a lone space token
    (SentencePiece) or a doubled space; if the last prefix token merges across the
    boundary, the merged token counts as part of the continuation.
    """
    prefix_ids, full_ids = encode_text(tokenizer, prefix), encode_text(tokenizer, full)
    split = _common_prefix(prefix_ids, full_ids)
    if split == len(full_ids):
        raise ValueError(f"{full[len(prefix):]!r} adds no tokens after {prefix!r}")
    return EncodedPair(tuple(full_ids[:split]), tuple(full_ids[split:]))


def encode_pair(tokenizer, prompt: str, target: str) -> EncodedPair:
    return encode_continuation(tokenizer, prompt.rstrip(), join_target(prompt, target))


def right_padded(sequences: Sequence[Sequence[int]], pad_id: int, device=None):
    """(ids, attention_mask) with every sequence starting at position 0, so each row's
    target positions follow from its own lengths."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


def model_batch(lm, sequences: Sequence[Sequence[int]]):
    """``right_padded`` with the model's pad id, on the model's device."""
    return right_padded(sequences, pad_id(lm.tokenizer), lm.device)


def pad_id(tokenizer) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    return int(tokenizer.eos_token_id or 0)
