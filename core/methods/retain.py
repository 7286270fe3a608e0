"""What fine-tuning must keep: texts the unedited model writes near the edit.

FT-M's cross-entropy on the edit prompt alone moves every input that shares the
prompt's wording: on the demo model "The capital of France is" → Lyon turns most
countries' capitals into Lyon. The retain set is the model's own text, sampled before
the edit (no evaluation data is read):

- neighbours: continuations of the prompt's words before the subject ("The capital of"
  → "… Peru is Lima."), so other subjects of the same relation; texts naming the
  edited subject are dropped;
- essence: continuations of the subject itself (its other facts), those naming the old
  or new answer dropped, as ROME's ``essence_samples``.

During training the loss adds ``retain_factor`` × the mean over retain tokens of
KL(p_original ‖ p_edited), the original distributions computed once, before the first
step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.facts.fact import Fact
from core.methods.keys import subject_samples
from core.model.loading import LoadedModel
from core.model.tokens import encode


@dataclass(frozen=True)
class RetainSet:
    sequences: tuple[tuple[int, ...], ...]
    original: object  # (tokens, vocab) log-probabilities of the unedited model, row-major
    positions: tuple[tuple[int, int], ...]  # (row, position) of each original row

    def __len__(self) -> int:
        return len(self.positions)


def neighbour_texts(lm: LoadedModel, fact: Fact, count: int, tokens: int, seed: int) -> list[str]:
    """The model's continuations of the prompt's words before the subject."""
    lead = fact.prompt[: fact.prompt.find(fact.subject)].rstrip()
    if not lead or count <= 0:
        return []
    texts = subject_samples(lm, lead, count, tokens, seed)
    return [t for t in texts if fact.subject.lower() not in t.lower()]


def retain_texts(lm: LoadedModel, fact: Fact, count: int, tokens: int, seed: int) -> list[str]:
    exclude = [fact.target_new, *([fact.target_true] if fact.target_true else [])]
    essence = subject_samples(lm, fact.subject, count, tokens, seed, exclude)
    return neighbour_texts(lm, fact, count, tokens, seed) + essence


def _batch_safe(lm: LoadedModel, fact: Fact, batch: Sequence[Fact], count: int, tokens: int, seed: int) -> list[str]:
    """``fact``'s retain texts without those naming another subject of the batch, whose
    edit they would hold back."""
    others = [f.subject.lower() for f in batch if f.subject != fact.subject]
    return [t for t in retain_texts(lm, fact, count, tokens, seed) if not any(s in t.lower() for s in others)]


def build_retain_set(lm: LoadedModel, facts: Sequence[Fact], count: int, tokens: int, seed: int) -> RetainSet | None:
    """Every fact's retain texts, tokenised, with the unedited model's distributions."""
    import torch

    from core.methods.training import forward_with

    texts = list(dict.fromkeys(t for f in facts for t in _batch_safe(lm, f, facts, count, tokens, seed)))
    sequences = tuple(tuple(ids) for ids in (encode(lm.tokenizer, t) for t in texts) if len(ids) > 1)
    if not sequences:
        return None
    positions = tuple((row, pos) for row, seq in enumerate(sequences) for pos in range(len(seq) - 1))
    with torch.no_grad():
        logits = forward_with(lm, {}, sequences)
        rows, cols = zip(*positions, strict=True)
        original = torch.log_softmax(logits[list(rows), list(cols)].float(), dim=-1)
    return RetainSet(sequences, original, positions)


def retain_loss(lm: LoadedModel, overrides: dict, retain: RetainSet):
    """Mean KL(p_original ‖ p_edited) over the retain tokens, with ``overrides`` in place."""
    import torch

    from core.methods.training import forward_with

    logits = forward_with(lm, overrides, retain.sequences)
    rows, cols = zip(*retain.positions, strict=True)
    edited = torch.log_softmax(logits[list(rows), list(cols)].float(), dim=-1)
    return (retain.original.exp() * (retain.original - edited)).sum(-1).mean()
