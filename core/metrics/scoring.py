"""Teacher-forced scoring of token spans in right-padded batches.

One forward pass per batch gives, for every scored position, the log-probability of
the true next token and the model's argmax there: enough for token accuracy (EasyEdit),
per-token NLL (ROME/CounterFact) and perplexity (ICE's PPL_r).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from core.model.loading import LoadedModel
from core.model.tokens import EncodedPair, encode_pair, pad_id, right_padded
from core.util.progress import Progress, silent


@dataclass(frozen=True)
class SpanScore:
    """How the model scores the tokens of a span given everything before it."""

    token_ids: tuple[int, ...]
    argmax_ids: tuple[int, ...]  # the model's top token at each span position
    logprobs: tuple[float, ...]  # log p(token | prefix), natural log

    @property
    def nll(self) -> float:
        """Mean per-token negative log-likelihood."""
        return -sum(self.logprobs) / len(self.logprobs)

    @property
    def probability(self) -> float:
        """e^-NLL: the geometric-mean per-token probability (ROME's P)."""
        return math.exp(-self.nll)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)

    @property
    def accuracy(self) -> float:
        """Fraction of span positions where the argmax is the span's token."""
        return sum(a == t for a, t in zip(self.argmax_ids, self.token_ids, strict=True)) / len(self.token_ids)

    def agreement(self, argmax_ids: Sequence[int]) -> float:
        """Fraction of positions where this argmax equals another (locality)."""
        return sum(a == b for a, b in zip(self.argmax_ids, argmax_ids, strict=True)) / len(self.argmax_ids)


def _score_batch(lm: LoadedModel, batch: Sequence[tuple[Sequence[int], int]], answers: bool) -> list[SpanScore]:
    import torch

    from core.edit.hooklayers import prompts_only
    from core.edit.repository import query_spans

    ids, mask = right_padded([seq for seq, _ in batch], pad_id(lm.tokenizer), lm.device)
    starts = [start for _, start in batch]
    # a retrieval repository (RECIPE) reads each row's question, not the span being scored; so do
    # hook layers (COMEBA-HK) where the span is an answer to a prompt
    with torch.no_grad(), query_spans(lm.model, starts), (prompts_only(lm.model, starts) if answers else nullcontext()):
        logits = lm.model(input_ids=ids, attention_mask=mask).logits
    scores = []
    for row, (seq, start) in enumerate(batch):
        # position p predicts token p + 1
        logp = logits[row, start - 1 : len(seq) - 1].float().log_softmax(-1)
        tokens = torch.tensor(list(seq[start:]), device=logp.device)
        picked = logp.gather(1, tokens[:, None])[:, 0]
        scores.append(SpanScore(tuple(seq[start:]), tuple(logp.argmax(-1).tolist()), tuple(picked.tolist())))
    return scores


def score_spans(
    lm: LoadedModel,
    spans: Sequence[tuple[Sequence[int], int]],
    batch_size: int = 32,
    progress: Progress | None = None,
    answers: bool = False,
) -> list[SpanScore]:
    """Score ``ids[start:]`` for each (ids, start), start >= 1, in input order; ``answers``: each
    span is the answer to the prompt before it (``score_pairs``), not part of one text.

    Sequences are batched by length so padding stays small; results do not depend
    on the batching beyond float rounding.
    """
    progress = progress or silent()
    if any(start < 1 or start >= len(seq) for seq, start in spans):
        raise ValueError("every span needs at least one token before it and one token in it")
    order = sorted(range(len(spans)), key=lambda i: len(spans[i][0]))
    out: list[SpanScore | None] = [None] * len(spans)
    for first in range(0, len(order), batch_size):
        progress.check()
        chunk = order[first : first + batch_size]
        for i, score in zip(chunk, _score_batch(lm, [spans[i] for i in chunk], answers), strict=True):
            out[i] = score
        progress.report(min(first + batch_size, len(order)), len(order), "scoring")
    return out  # type: ignore[return-value]


def score_pairs(
    lm: LoadedModel,
    pairs: Sequence[tuple[str, str]],
    batch_size: int = 32,
    progress: Progress | None = None,
) -> list[SpanScore]:
    """Teacher-forced scores of each target after its prompt (prompt + " " + target)."""
    encoded: list[EncodedPair] = [encode_pair(lm.tokenizer, p, t) for p, t in pairs]
    return score_spans(lm, [(e.ids, len(e.prompt_ids)) for e in encoded], batch_size, progress, answers=True)
