"""The objective trained editors are trained on (MEND, KE, InstructEdit), one request at a time.

For a request and an update {param: (left, right)} (differentiable in the editor), the
edited weights W + left·right are applied through ``torch.func.functional_call`` (the
model is never written) and two figures come back:

- the edit NLL: the mean teacher-forced NLL of ``target_new`` after the plain prompt and
  its paraphrases (the edited model is used without any instruction or condition);
- the locality KL: the mean over locality prompts of KL(p_unedited ‖ p_edited), averaged
  over each answer's tokens.

How a method weighs them (MEND: fixed weights; KE: a Lagrange multiplier) is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core.facts.fact import Fact
from core.methods.training import forward_with, row_losses
from core.model.tokens import EncodedPair, encode_pair


@dataclass(frozen=True)
class EditedFigures:
    nll: torch.Tensor  # differentiable
    kl: torch.Tensor  # differentiable
    accuracy: float  # share of prompt and paraphrases whose every target token is the argmax


def _span(logits: torch.Tensor, row: int, pair: EncodedPair) -> torch.Tensor:
    start = len(pair.prompt_ids)
    return logits[row, start - 1 : start + len(pair.target_ids) - 1].float().log_softmax(-1)


def answer_kl(base_logits: torch.Tensor, logits: torch.Tensor, rows: Sequence[EncodedPair],
              offset: int = 0) -> torch.Tensor:
    """Mean over prompts of KL(p_base ‖ p) averaged over each answer's tokens."""
    kls = []
    for r, pair in enumerate(rows):
        p, q = _span(base_logits, r, pair), _span(logits, offset + r, pair)
        kls.append((p.exp() * (p - q)).sum(-1).mean())
    return torch.stack(kls).mean()


def edited_weights(lm, parts: dict) -> dict:
    named = dict(lm.model.named_parameters())
    return {p: (named[p].detach().float() + left @ right).to(named[p].dtype) for p, (left, right) in parts.items()}


def edited_figures(lm, parts: dict, fact: Fact, max_paraphrases: int, max_locality: int) -> EditedFigures:
    """Edit NLL, locality KL and edit accuracy of ``fact`` under the update ``parts``."""
    rows = [encode_pair(lm.tokenizer, p, fact.target_new) for p in (fact.prompt, *fact.paraphrases[:max_paraphrases])]
    local = [encode_pair(lm.tokenizer, q.prompt, q.answer) for q in fact.locality[:max_locality]]
    with torch.no_grad():
        base = forward_with(lm, {}, [p.ids for p in local]) if local else None
    logits = forward_with(lm, edited_weights(lm, parts), [p.ids for p in rows + local])
    nll = row_losses(logits[: len(rows)], rows, "target_masked").mean()
    kl = answer_kl(base, logits, local, len(rows)) if local else torch.zeros((), device=logits.device)
    with torch.no_grad():
        hits = [_span(logits, r, pair).argmax(-1).tolist() == list(pair.target_ids) for r, pair in enumerate(rows)]
    return EditedFigures(nll, kl, sum(hits) / len(hits))


RequestLoss = Callable[[Fact], tuple[torch.Tensor, dict[str, float]]]


def accumulate(batch: Sequence[Fact], request_loss: RequestLoss) -> dict[str, float]:
    """Backward over each request of a step (gradients add up, each request edited on its
    own, as at edit time); the mean figures, ``loss`` among them."""
    totals: dict[str, float] = {}
    for fact in batch:
        loss, figures = request_loss(fact)
        (loss / len(batch)).backward()
        figures["loss"] = float(loss.detach())
        for key, value in figures.items():
            totals[key] = totals.get(key, 0.0) + value / len(batch)
    return totals
