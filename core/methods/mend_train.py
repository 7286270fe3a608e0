"""MEND's training objective (Mitchell et al., ICLR 2022, §3.3), one request at a time.

For a request: the update is computed from the fine-tuning gradient on its prompt (as at
edit time), applied through ``torch.func.functional_call`` (the model is never written),
and the loss is

    c_edit · mean NLL(target_new | prompt and paraphrases, edited weights)
  + c_loc  · mean KL(p_unedited ‖ p_edited) over the answer tokens of its locality prompts,

differentiable in the editor's network and its per-layer steps α. The requests of a
step are edited independently (single edits, as at edit time) and their gradients add up.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core.facts.fact import Fact
from core.methods.mend_net import editor_updates
from core.methods.training import forward_with, row_losses
from core.model.tokens import EncodedPair, encode_pair


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


def _edited_weights(lm, parts: dict) -> dict:
    named = dict(lm.model.named_parameters())
    return {p: (named[p].detach().float() + left @ right).to(named[p].dtype) for p, (left, right) in parts.items()}


def request_loss(lm, editor, fact: Fact, hp, observe: bool = False) -> tuple[torch.Tensor, dict]:  # hp: MENDHParams
    """(loss, figures) of one edit request; figures: edit NLL, edit token accuracy, KL."""
    edit = encode_pair(lm.tokenizer, fact.prompt, fact.target_new)
    parts = editor_updates(lm, editor, [edit], observe=observe)
    rows = [edit] + [encode_pair(lm.tokenizer, p, fact.target_new) for p in fact.paraphrases[: hp.max_paraphrases]]
    local = [encode_pair(lm.tokenizer, q.prompt, q.answer) for q in fact.locality[: hp.max_locality]]
    with torch.no_grad():
        base = forward_with(lm, {}, [p.ids for p in local]) if local else None
    logits = forward_with(lm, _edited_weights(lm, parts), [p.ids for p in rows + local])
    nll = row_losses(logits[: len(rows)], rows, "target_masked").mean()
    kl = answer_kl(base, logits, local, len(rows)) if local else torch.zeros((), device=logits.device)
    with torch.no_grad():
        hits = [bool(_span(logits, r, pair).argmax(-1).tolist() == list(pair.target_ids))
                for r, pair in enumerate(rows)]
    loss = hp.c_edit * nll + hp.c_loc * kl
    return loss, {"edit_nll": float(nll.detach()), "edit_acc": sum(hits) / len(hits), "kl": float(kl.detach())}


def train_step(lm, editor, batch: Sequence[Fact], hp) -> dict[str, float]:
    """Backward over each request of the step (gradients accumulate); the mean figures."""
    totals: dict[str, float] = {}
    for fact in batch:
        loss, figures = request_loss(lm, editor, fact, hp, observe=True)
        (loss / len(batch)).backward()
        figures["loss"] = float(loss.detach())
        for key, value in figures.items():
            totals[key] = totals.get(key, 0.0) + value / len(batch)
    return totals
