"""RECIPE's training objective (seed 003 §4.4), one batch of b edit requests per step.

Editing loss (the LLM frozen, each request's prompt p_k prefixed by
``core.edit.prompt_prefix.prefixed_inputs``, exactly as at inference):

    L_rel = −log p(a_e | p_k ⊕ q_e),  L_gen = −log p(a_g | p_k ⊕ q_g)  (mean token NLL)
    L_loc = KL(p(· | q_l) ‖ p(· | p_k ⊕ q_l)) over the tokens of the locality answer

Prompt learning (InfoNCE δ with temperature τ over R = {r_k1..r_kb, r_Θ}):

    L_no = δ(r̃_qe, r_k, R) + δ(r̃_qg, r_k, R)
    L_so = δ(r̃_ql, r_Θ, R) + δ(r̃_qe, r_Θ, R∖r_k) + δ(r̃_qg, r_Θ, R∖r_k)

L = mean(L_rel + L_gen + L_loc) + mean(L_no + L_so). Each request contributes its
sampled paraphrase and ``locality_probes`` locality prompts to the editing loss (the LLM
passes cost time); the contrastive terms, which only read encoder features, take all of
its paraphrases and locality prompts (δ averaged per request). ``contrastive_requests``
(when larger than ``edits_per_step``) draws more requests for the contrastive terms
alone: more negatives in R for the cost of a few MLP rows, where the paper's batch of 8
shares one batch size. The sampling depends on (seed, step) alone, so a resumed run sees
what an uninterrupted one would.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core.edit.prompt_prefix import plain_positions, prefixed_inputs
from core.edit.repository import retrieval_paused
from core.facts.fact import Fact, Probe
from core.methods.training import row_losses
from core.model.tokens import EncodedPair, encode_pair, join_target, model_batch


@dataclass(frozen=True)
class Request:
    """One training request with this step's samples for the editing loss."""

    fact: Fact
    paraphrase: str | None
    locality: tuple[Probe, ...]
    edited: bool = True  # in the editing loss (else only in the contrastive terms)


def statement(fact: Fact) -> str:
    """k = q_e + a_e (the paper's string concatenation, with one space)."""
    return join_target(fact.prompt, fact.target_new)


def sample_batch(facts: Sequence[Fact], step: int, hp) -> list[Request]:  # hp: RECIPEHParams
    rng = random.Random(hp.seed * 1_000_003 + step)
    chosen = rng.sample(list(facts), min(max(hp.edits_per_step, hp.contrastive_requests), len(facts)))
    out = []
    for i, fact in enumerate(chosen):
        paraphrase = rng.choice(fact.paraphrases) if fact.paraphrases else None
        probes = rng.sample(list(fact.locality), min(hp.locality_probes, len(fact.locality)))
        out.append(Request(fact, paraphrase, tuple(probes), i < hp.edits_per_step))
    return out


def prefixed_logits(lm, prompts: torch.Tensor, rows: Sequence[EncodedPair]) -> torch.Tensor:
    """Logits over each row's own tokens with ``prompts[r]`` (R, l, d) before row r."""
    ids, mask = model_batch(lm, [r.ids for r in rows])
    has = torch.ones(len(rows), dtype=torch.bool, device=ids.device)
    embeds, full_mask, positions = prefixed_inputs(lm.model.get_input_embeddings(), ids, mask, prompts, has,
                                                   plain_positions(*ids.shape, 0, ids.device))
    with retrieval_paused(lm.model):
        logits = lm.model(inputs_embeds=embeds, attention_mask=full_mask, position_ids=positions).logits
    return logits[:, prompts.shape[1] :]


def _answer_log_probs(logits: torch.Tensor, row: int, pair: EncodedPair) -> torch.Tensor:
    start = len(pair.prompt_ids)
    return logits[row, start - 1 : start + len(pair.target_ids) - 1].float().log_softmax(-1)


def locality_kl(lm, prompts: torch.Tensor, local: Sequence[EncodedPair]) -> torch.Tensor:
    """Mean over probes of KL(p_unedited ‖ p_prompted), averaged over each answer's tokens."""
    ids, mask = model_batch(lm, [p.ids for p in local])
    with torch.no_grad(), retrieval_paused(lm.model):
        base = lm.model(input_ids=ids, attention_mask=mask).logits
    logits = prefixed_logits(lm, prompts, local)
    kls = []
    for r, pair in enumerate(local):
        p, q = _answer_log_probs(base, r, pair), _answer_log_probs(logits, r, pair)
        kls.append((p.exp() * (p - q)).sum(-1).mean())
    return torch.stack(kls).mean()


def edit_losses(lm, prompts: torch.Tensor, batch: Sequence[Request]) -> tuple[torch.Tensor, dict]:
    """(L_rel + L_gen + L_loc averaged over the batch, figures)."""
    tok = lm.tokenizer
    rows, owners = [], []
    for i, req in enumerate(batch):
        for query in (req.fact.prompt, req.paraphrase):
            if query is not None:
                rows.append(encode_pair(tok, query, req.fact.target_new))
                owners.append(i)
    logits = prefixed_logits(lm, prompts[owners], rows)
    nll = row_losses(logits, rows, "target_masked")
    with torch.no_grad():
        hits = [_answer_log_probs(logits, r, pair).argmax(-1).tolist() == list(pair.target_ids)
                for r, pair in enumerate(rows)]
    local = [(i, encode_pair(tok, p.prompt, p.answer)) for i, req in enumerate(batch) for p in req.locality]
    kl = (locality_kl(lm, prompts[[i for i, _ in local]], [p for _, p in local]) if local
          else torch.zeros((), device=logits.device))
    # per request: its NLL terms summed, then the batch mean; the KL mean stands for L_loc
    per_request = torch.zeros(len(batch), device=nll.device).index_add(0, torch.tensor(owners, device=nll.device),
                                                                        nll)
    loss = per_request.mean() + kl
    return loss, {"edit_nll": float(nll.mean().detach()), "edit_acc": sum(hits) / len(hits), "kl": float(kl.detach())}


def _info_nce(queries: torch.Tensor, bank: torch.Tensor, targets: torch.Tensor, tau: float,
              exclude: torch.Tensor | None = None) -> torch.Tensor:
    """δ per query: −log softmax(q·bank/τ)[target], columns ``exclude`` (per query, or −1) left out."""
    logits = queries @ bank.T / tau
    if exclude is not None:
        banned = torch.nn.functional.one_hot(exclude.clamp_min(0), bank.shape[0]).bool() & (exclude >= 0)[:, None]
        logits = logits.masked_fill(banned, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, targets, reduction="none")


def _per_owner(values: torch.Tensor, owners: Sequence[int], n: int) -> torch.Tensor:
    """Mean of ``values`` per owner (0 for owners with none)."""
    index = torch.tensor(list(owners), device=values.device)
    sums = torch.zeros(n, device=values.device).index_add(0, index, values)
    counts = torch.zeros(n, device=values.device).index_add(0, index, torch.ones_like(values))
    return sums / counts.clamp_min(1)


def contrastive_losses(editor, keys: torch.Tensor, sentinel: torch.Tensor, batch: Sequence[Request],
                       tau: float) -> tuple[torch.Tensor, dict]:
    """(mean over requests of L_no + L_so, figures); ``keys`` (b, width) are r_k of the batch."""
    b = len(batch)
    bank = torch.cat([keys, sentinel[None]])
    texts, owners, kinds = [], [], []
    for i, req in enumerate(batch):
        for kind, group in (("e", (req.fact.prompt,)), ("g", req.fact.paraphrases),
                            ("l", tuple(p.prompt for p in req.fact.locality))):
            texts += list(group)
            owners += [i] * len(group)
            kinds += [kind] * len(group)
    queries = editor.queries(editor.text_features(texts))
    own = torch.tensor(owners, device=keys.device)
    related = torch.tensor([k != "l" for k in kinds], device=keys.device)
    to_sentinel = torch.full_like(own, b)
    neighbour = _info_nce(queries, bank, own, tau)  # queries -> their statement
    sentinel_all = _info_nce(queries, bank, to_sentinel, tau)  # locality -> Θ
    sentinel_rest = _info_nce(queries, bank, to_sentinel, tau, exclude=own)  # edit/gen -> Θ without their own
    terms = torch.where(related, neighbour + sentinel_rest, sentinel_all)
    total = sum(_per_owner(terms[[j for j, k in enumerate(kinds) if k == kind]],
                           [owners[j] for j, k in enumerate(kinds) if k == kind], b)
                for kind in ("e", "g", "l") if kind in kinds)
    with torch.no_grad():
        top = (queries @ bank.T).argmax(-1)
        right = torch.where(related, top == own, top == b)
    return total.mean(), {"retrieval": float(total.mean().detach()), "retrieval_acc": float(right.float().mean())}


def train_step(lm, editor, batch: Sequence[Request], hp) -> dict[str, float]:
    """Forward and backward of one batch's loss; its figures."""
    statements = [statement(r.fact) for r in batch]
    keys = editor.keys(editor.text_features(statements))
    edited = [i for i, r in enumerate(batch) if r.edited]
    edit, figures = edit_losses(lm, editor.prompts(keys[edited]), [batch[i] for i in edited])
    retrieval, more = contrastive_losses(editor, keys, editor.sentinel_key(), batch, hp.temperature)
    loss = edit + retrieval
    loss.backward()
    return {"loss": float(loss.detach()), **figures, **more}


def refined_prompts(lm, prompts: torch.Tensor, facts: Sequence[Fact], hp, progress) -> tuple[torch.Tensor, list]:
    """The generated prompts (n, l, d) tuned further with Adam on each fact's own edit NLL
    (``refine_steps``, ``refine_lr``; stopping once every NLL is below ``refine_threshold``):
    an extension, not the paper's (which uses MLP_P's prompt as it is). Only the edit prompt
    is read; the LLM is run, never written. Returns (prompts, the NLL per step)."""
    rows = [encode_pair(lm.tokenizer, f.prompt, f.target_new) for f in facts]
    tuned = prompts.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([tuned], lr=hp.refine_lr)
    losses = []
    with torch.enable_grad():
        for step in range(hp.refine_steps):
            progress.check()
            nll = row_losses(prefixed_logits(lm, tuned, rows), rows, "target_masked")
            losses.append(round(float(nll.detach().mean()), 4))
            progress.report(step + 1, hp.refine_steps, f"recipe: prompt step {step + 1}", loss=losses[-1])
            if float(nll.detach().max()) < hp.refine_threshold:
                break
            optimizer.zero_grad()
            nll.sum().backward()
            optimizer.step()
    return tuned.detach(), losses
