"""MEMIT's value batch: every fact's prompts and KL prompts as rows of one forward, and the
per-fact losses its δ are optimised on (``core.methods.memit._targets``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.methods.keys import capture_at
from core.methods.values import ValueProblem, kl_rows
from core.model.forward import logits_at
from core.model.loading import LoadedModel
from core.model.tokens import model_batch
from core.util.timing import phase


def delta_hooks(lm: LoadedModel, block: str, batch, delta, via: dict | None):
    from contextlib import ExitStack

    from core.edit.hooks import added_to_output, low_rank_added

    if via is None:
        return added_to_output(lm.model, block, delta[batch.owner], range(len(batch.owner)), batch.subject)
    stack = ExitStack()
    for module, right in via.items():
        stack.enter_context(low_rank_added(lm.model, module, right, delta))
    return stack


@dataclass(frozen=True)
class ValueBatch:
    """All facts' prefixed prompts (+ target but its last token) and KL prompts as rows."""

    sequences: list
    owner: object  # (rows,) fact of each row
    subject: list  # subject's last token per row
    bare: object  # (facts,) row of each fact's bare prompt
    tok_rows: object  # per target token: row, position predicting it, token, fact, weight
    tok_positions: object
    tokens: object
    tok_owner: object
    tok_weight: object
    kl_rows: object  # rows of the KL prompts, their last positions, their fact, weight
    kl_positions: object
    kl_owner: object
    kl_weight: object
    ids: object  # the sequences right-padded, and their attention mask (built once, not per step)
    mask: object


def value_batch(lm: LoadedModel, problems: Sequence[ValueProblem]) -> ValueBatch:
    import torch

    seqs, owner, subject, bare, tok, kl = [], [], [], [], [], []
    for i, problem in enumerate(problems):
        bare.append(len(seqs))
        n_target = len(problem.target)
        for p in problem.prompts:
            tok += [(len(seqs), len(p.ids) - 1 + j, t, i, 1 / (n_target * len(problem.prompts)))
                    for j, t in enumerate(problem.target)]
            seqs.append(list(p.ids) + problem.target[:-1])
            owner.append(i)
            subject.append(p.subject_last)
        kl += [(row, pos, i, w) for row, pos, w in problem.kl_pairs(len(seqs))]
        for p in problem.kl_prompts:
            seqs.append(list(p.ids))
            owner.append(i)
            subject.append(p.subject_last)

    def column(rows, k, dtype=torch.long):
        return torch.tensor([r[k] for r in rows], dtype=dtype, device=lm.device)

    return ValueBatch(seqs, torch.tensor(owner, device=lm.device), subject, torch.tensor(bare, device=lm.device),
                       column(tok, 0), column(tok, 1), column(tok, 2), column(tok, 3), column(tok, 4, torch.float32),
                       column(kl, 0), column(kl, 1), column(kl, 2), column(kl, 3, torch.float32),
                       *model_batch(lm, seqs))


def batch_start(lm: LoadedModel, block: str, batch: ValueBatch):
    """(h0 (facts, d): block output on each bare prompt; the KL rows' initial log-probs)."""
    import torch

    seen = capture_at(lm, [block], batch.sequences, batch.subject)
    h0 = seen.outputs[block][batch.bare]
    if not len(batch.kl_rows):
        return h0, None
    return h0, torch.log_softmax(seen.logits[batch.kl_rows, batch.kl_positions], dim=-1)


def value_losses(lm: LoadedModel, batch: ValueBatch, delta, h0, kl_init, hp):
    """(loss per fact, mean per-token target NLL per fact): NLL + weighted KL + wd·‖δ‖/‖h0‖²,
    with ``hp``'s weight_decay and kl_direction (MEMIT's hyperparameters)."""
    import torch

    with phase("model forward"):
        n_tokens = len(batch.tok_rows)
        logits = logits_at(lm, batch.ids, batch.mask, torch.cat([batch.tok_rows, batch.kl_rows]),
                           torch.cat([batch.tok_positions, batch.kl_positions])).float()
    logp = torch.log_softmax(logits[:n_tokens], dim=-1)
    token_nll = -logp.gather(1, batch.tokens[:, None])[:, 0] * batch.tok_weight
    nll = torch.zeros(len(h0), device=logits.device).index_add(0, batch.tok_owner, token_nll)
    kl = torch.zeros_like(nll)
    if kl_init is not None:
        with phase("KL"):
            kl_logp = torch.log_softmax(logits[n_tokens:], dim=-1)
            per_row = kl_rows(kl_init, kl_logp, hp.kl_direction) * batch.kl_weight
            kl = kl.index_add(0, batch.kl_owner, per_row)
    decay = delta.norm(dim=1) / h0.norm(dim=1) ** 2
    return nll + kl + hp.weight_decay * decay, nll.detach()
