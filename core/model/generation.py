"""Greedy and seeded sampled continuations, and the top next tokens of a prompt."""

from __future__ import annotations

from dataclasses import dataclass

from core.model.loading import LoadedModel


@dataclass(frozen=True)
class TokenProbability:
    token: str
    token_id: int
    probability: float


@dataclass(frozen=True)
class SamplingOptions:
    max_new_tokens: int = 20
    greedy: bool = True
    seed: int = 0
    temperature: float = 1.0
    top_p: float = 0.95


def max_positions(config) -> int | None:
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)


def _left_padded(lm: LoadedModel, prompts: list[str]):
    import torch

    tok = lm.tokenizer
    encoded = [tok(p, add_special_tokens=True)["input_ids"] or [tok.eos_token_id] for p in prompts]
    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, e in enumerate(encoded):
        ids[row, width - len(e) :] = torch.tensor(e)
        mask[row, width - len(e) :] = 1
    return ids.to(lm.device), mask.to(lm.device)


def continuations(lm: LoadedModel, prompts: list[str], options: SamplingOptions = SamplingOptions()) -> list[str]:
    """The model's continuation of each prompt: greedy, or sampled with a fixed seed."""
    import torch

    if not prompts:
        return []
    ids, mask = _left_padded(lm, prompts)
    limit = max_positions(lm.model.config)
    new_tokens = options.max_new_tokens if limit is None else max(0, min(options.max_new_tokens, limit - ids.shape[1]))
    if new_tokens == 0:
        return ["" for _ in prompts]
    kwargs = dict(max_new_tokens=new_tokens, pad_token_id=lm.tokenizer.pad_token_id, attention_mask=mask)
    if options.greedy:
        kwargs.update(do_sample=False)
    else:
        kwargs.update(do_sample=True, temperature=options.temperature, top_p=options.top_p, top_k=0)
    from core.util.quiet import padding_warning_muted

    with torch.no_grad(), torch.random.fork_rng(devices=[]), padding_warning_muted():
        torch.manual_seed(options.seed)
        out = lm.model.generate(ids, **kwargs)
    texts = []
    for row in out[:, ids.shape[1] :]:
        tokens = row.tolist()
        if lm.tokenizer.eos_token_id in tokens:
            tokens = tokens[: tokens.index(lm.tokenizer.eos_token_id)]
        texts.append(lm.tokenizer.decode(tokens, skip_special_tokens=True))
    return texts


def continuation(lm: LoadedModel, prompt: str, options: SamplingOptions = SamplingOptions()) -> str:
    return continuations(lm, [prompt], options)[0]


class PromptTooLongError(ValueError):
    """A prompt that leaves no room in the model's context for a single new token."""


def continuation_with_room(lm: LoadedModel, prompt: str, options: SamplingOptions = SamplingOptions()) -> str:
    """``continuation``, refusing a prompt that fills the model's context (trial 39: "Try a prompt"
    echoed a 713-token prompt with no continuation and no word why)."""
    limit = max_positions(lm.model.config)
    length = len(lm.tokenizer(prompt, add_special_tokens=True)["input_ids"])
    if limit is not None and length >= limit:
        raise PromptTooLongError(f"the prompt is {length} tokens, but the model's context holds {limit}: nothing is "
                                 "left to continue it; shorten it")
    return continuation(lm, prompt, options)


def top_next_tokens(lm: LoadedModel, prompt: str, k: int = 10) -> list[TokenProbability]:
    """The k most likely next tokens after prompt, with their probabilities."""
    import torch

    ids, mask = _left_padded(lm, [prompt])
    with torch.no_grad():
        logits = lm.model(input_ids=ids, attention_mask=mask).logits[0, -1].float()
    probs = torch.softmax(logits, dim=-1)
    top = torch.topk(probs, k)
    return [
        TokenProbability(lm.tokenizer.decode([int(i)]), int(i), float(p))
        for p, i in zip(top.values.tolist(), top.indices.tolist())
    ]
