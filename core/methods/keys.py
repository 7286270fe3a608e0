"""Shared pieces of locate-then-edit methods (ROME, MEMIT): where the subject's last
token is, what a module sees and returns there, and the random prefixes that make a
key robust to context.

Everything works on token ids: texts are tokenised once, the way the model will see
them (with a BOS token when the tokenizer adds one), and positions index those ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.edit.hooks import capture_many
from core.methods.base import EditError
from core.model.loading import LoadedModel
from core.model.tokens import encode, model_batch


class SubjectNotFoundError(ValueError):
    """The subject does not occur in the prompt it should be located in."""


@dataclass(frozen=True)
class SubjectPrompt:
    """A tokenised prompt and the index of its subject's last token."""

    text: str
    ids: tuple[int, ...]
    subject_last: int


@dataclass(frozen=True)
class PrefixSpec:
    """``count`` random prefixes of at most ``max_tokens`` tokens each."""

    count: int
    max_tokens: int


def prefix_specs(counts: Sequence[int], lengths: Sequence[int], default_lengths: Sequence[int]) -> list[PrefixSpec]:
    """Pair prefix counts with lengths; counts given without lengths (a preset with no
    prefixes, its counts set by hand) take ``default_lengths``."""
    lengths = tuple(lengths) or tuple(default_lengths)[: len(counts)]
    if len(counts) != len(lengths):
        raise EditError("prefix_counts and prefix_lengths must have the same number of entries")
    return [PrefixSpec(c, n) for c, n in zip(counts, lengths, strict=True)]


def subject_prompt(tokenizer, text: str, subject: str, subject_start: int | None = None) -> SubjectPrompt:
    """Locate the subject's last token by tokenising the text up to the subject's end.

    String search on ids fails for BPE (" Paris" and "Paris" differ); tokenising the
    prefix gives the same tokens as the full text whenever the subject ends at a token
    boundary. When it does not (a suffix merged into its last token), character offsets
    decide.
    """
    start = text.find(subject) if subject_start is None else subject_start
    if start < 0 or text[start : start + len(subject)] != subject:
        raise SubjectNotFoundError(f"subject {subject!r} does not occur in {text!r}")
    end = start + len(subject)
    ids = encode(tokenizer, text)
    head = encode(tokenizer, text[:end])
    if ids[: len(head)] == head:
        return SubjectPrompt(text, tuple(ids), len(head) - 1)
    return SubjectPrompt(text, tuple(ids), _last_token_by_offsets(tokenizer, text, end, len(head) - 1))


def _last_token_by_offsets(tokenizer, text: str, end: int, fallback: int) -> int:
    if not getattr(tokenizer, "is_fast", False):
        return fallback
    offsets = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)["offset_mapping"]
    inside = [i for i, (lo, hi) in enumerate(offsets) if hi > lo and lo < end]
    return inside[-1] if inside else fallback


def with_prefix(prefix: str, prompt: str) -> str:
    """ROME's context template: "{prefix}. {prompt}", or the bare prompt."""
    return f"{prefix}. {prompt}" if prefix else prompt


def prefixed_subject_prompts(tokenizer, prompt: str, subject: str, prefixes: Sequence[str]) -> list[SubjectPrompt]:
    """The bare prompt first, then one per non-empty prefix, subject located in each."""
    start = prompt.find(subject)
    if start < 0:
        raise SubjectNotFoundError(f"subject {subject!r} does not occur in the prompt {prompt!r}")
    out = [subject_prompt(tokenizer, prompt, subject, start)]
    for prefix in prefixes:
        if prefix:
            text = with_prefix(prefix, prompt)
            out.append(subject_prompt(tokenizer, text, subject, len(text) - len(prompt) + start))
    return out


def target_ids(tokenizer, prompt: str, target: str) -> list[int]:
    """Ids of the target as they follow the prompt: one leading space, never two.

    Tokenising prompt + " " + target and cutting off the prompt's ids gives what
    the model reads after the prompt, for BPE and SentencePiece alike.
    """
    target = target.strip()
    if not target:
        raise ValueError("the target is empty")
    head = encode(tokenizer, prompt)
    full = encode(tokenizer, f"{prompt} {target}")
    if full[: len(head)] == head and len(full) > len(head):
        return full[len(head) :]
    return list(tokenizer(f" {target}", add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class AtPositions:
    """Inputs and outputs of several modules, one row per sequence: {module: (n, dim)}."""

    inputs: dict
    outputs: dict
    logits: object  # (n, width, vocab) of the same forward pass


def capture_at(lm: LoadedModel, modules: Sequence[str], sequences: Sequence[Sequence[int]],
               positions: Sequence[int]) -> AtPositions:
    """One no-grad forward over right-padded sequences; each module's input and output
    at sequences[i][positions[i]], detached, in float32."""
    import torch

    ids, mask = model_batch(lm, sequences)
    rows = torch.arange(len(sequences), device=ids.device)
    cols = torch.as_tensor(list(positions), device=ids.device)
    with torch.no_grad(), capture_many(lm.model, list(modules)) as seen:
        logits = lm.model(input_ids=ids, attention_mask=mask).logits
    inputs = {name: seen[name].input[rows, cols].detach().float() for name in modules}
    outputs = {name: seen[name].output[rows, cols].detach().float() for name in modules}
    return AtPositions(inputs, outputs, logits.detach().float())


def subject_keys(lm: LoadedModel, layers: Sequence[int], prompts: Sequence[SubjectPrompt]) -> dict:
    """{layer: (n, d_in)}: the input of mlp_out at each prompt's last subject token."""
    names = {layer: lm.spec.mlp_out_module(layer) for layer in layers}
    seen = capture_at(lm, list(names.values()), [p.ids for p in prompts], [p.subject_last for p in prompts])
    return {layer: seen.inputs[name] for layer, name in names.items()}


def sample_prefixes(lm: LoadedModel, specs: Sequence[PrefixSpec], seed: int) -> list[str]:
    """Short texts sampled from the model itself, deterministic given ``seed``.

    Each starts from the model's start-of-text token; trailing punctuation is cut so
    that "{prefix}. {prompt}" reads as two sentences.
    """
    from core.model.generation import SamplingOptions, continuations

    prefixes: list[str] = []
    for group, spec in enumerate(specs):
        if spec.count <= 0 or spec.max_tokens <= 0:
            continue
        options = SamplingOptions(max_new_tokens=spec.max_tokens, greedy=False, seed=seed + 7919 * group)
        for text in continuations(lm, [""] * spec.count, options):
            prefixes.append(_clean_prefix(text))
    return prefixes


def subject_samples(lm: LoadedModel, subject: str, count: int, max_tokens: int, seed: int,
                    exclude: Sequence[str] = ()) -> list[str]:
    """Distinct texts "{subject}{continuation}" sampled from the model: what it says about
    the subject unprompted. Texts mentioning any of ``exclude`` (the answers being
    edited) are dropped, so preserving them never fights the edit."""
    from core.model.generation import SamplingOptions, continuations

    if count <= 0 or max_tokens <= 0:
        return []
    options = SamplingOptions(max_new_tokens=max_tokens, greedy=False, seed=seed)
    banned = [e.strip().lower() for e in exclude if e.strip()]
    texts: list[str] = []
    for tail in continuations(lm, [subject] * count, options):
        text = subject + tail.split("\n")[0].rstrip()
        if tail.strip() and text not in texts and not any(b in text.lower() for b in banned):
            texts.append(text)
    return texts


def _clean_prefix(text: str) -> str:
    text = " ".join(text.replace("{", " ").replace("}", " ").split())
    return text.rstrip(".!?;:, ")
