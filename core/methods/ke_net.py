"""KnowledgeEditor's hypernetwork (De Cao et al., EMNLP 2021; methods.md §3).

The condition: the tokens of x (the prompt), y (the old answer) and a (the new answer),
embedded with the model's own input embeddings (frozen, normalised per token) plus a
learned segment embedding saying which of x, y, a a token belongs to, read by a
bidirectional LSTM; the mean of its outputs, projected and squashed (tanh), is the
condition vector c.

Per edited matrix W (d_out × d_in, whose fine-tuning gradient is ∇W = Σ_i δ_i u_iᵀ) a
feed-forward head maps c to α, β ∈ R^d_out, γ, δ ∈ R^d_in and a gate η, and

    ΔW = −s_W · σ(η) · (α̂ ⊙ ∇W + β̂),   α̂ = σ̂(α) γᵀ,  β̂ = σ̂(β) δᵀ

(σ̂ the softmax, scaled by d_out so a uniform one is all ones). Since (a gᵀ) ⊙ (δ_i u_iᵀ)
= (a ⊙ δ_i)(g ⊙ u_i)ᵀ, ΔW stays low-rank (target tokens + 1) and is never formed. Two
departures from the paper, both to train in minutes on a CPU: a learned step s_W per
matrix (in log space, so it moves by orders of magnitude; the reference code's fixed
``max_scale``) and an initialisation where the heads output α = β = δ = η = 0 and γ = 1,
so an untrained editor makes the plain gradient step −s_W/2 · ∇W. The sign is a
convention: γ is free, so the network can learn either.

The multiplier λ = exp(ρ) of the locality constraint lives here too (so it is saved and
resumed with the editor); the optimiser ascends ρ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (torch's own convention)

SEGMENTS = 3  # x (prompt), y (old answer), a (new answer)


class Conditioner(nn.Module):
    """(token embeddings, segment ids) → the condition vector c."""

    def __init__(self, emb_dim: int, hidden: int, cond_dim: int) -> None:
        super().__init__()
        self.segment = nn.Embedding(SEGMENTS, emb_dim)
        nn.init.normal_(self.segment.weight, std=0.5)  # embeddings are normalised: O(1) scale
        self.lstm = nn.LSTM(emb_dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, cond_dim)

    def forward(self, embeddings: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(embeddings, embeddings.shape[-1:]) + self.segment(segments)
        h, _ = self.lstm(x[None])
        return torch.tanh(self.out(h[0].mean(0)))


class MatrixHead(nn.Module):
    """c → (α, γ, β, δ, η) of one matrix (δ here is the paper's vector of β̂ = σ̂(β) δᵀ,
    not the gradient at the matrix's output)."""

    def __init__(self, cond_dim: int, hidden: int, d_in: int, d_out: int) -> None:
        super().__init__()
        self.sizes = (d_out, d_in, d_out, d_in, 1)
        self.hidden = nn.Linear(cond_dim, hidden)
        self.out = nn.Linear(hidden, sum(self.sizes))
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():  # α = β = δ = η = 0, γ = 1: the plain gradient step
            self.out.bias.zero_()
            self.out.bias[d_out : d_out + d_in] = 1.0

    def forward(self, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.out(torch.tanh(self.hidden(c))).split(self.sizes)


class KnowledgeEditorNet(nn.Module):
    def __init__(self, params: Sequence[str], shapes: Sequence[tuple[int, int]], emb_dim: int, hidden: int,
                 cond_dim: int, head_hidden: int, edit_lr: float, kl_weight: float) -> None:
        super().__init__()
        self.params = tuple(params)
        self.shapes = tuple((int(a), int(b)) for a, b in shapes)  # (d_in, d_out)
        self.conditioner = Conditioner(emb_dim, hidden, cond_dim)
        self.heads = nn.ModuleList(MatrixHead(cond_dim, head_hidden, a, b) for a, b in self.shapes)
        self.log_steps = nn.Parameter(torch.full((len(self.params),), math.log(edit_lr)))
        self.log_lambda = nn.Parameter(torch.tensor(math.log(kl_weight)))

    def factors(self, factors: dict[str, tuple[torch.Tensor, torch.Tensor]], c: torch.Tensor) -> dict[str, tuple]:
        """{param: (right rows, left rows)}: ΔW = Σ_rows left_rowᵀ ⊗ right_row, i.e. the
        update is (left rows)ᵀ (right rows) in (d_out, d_in) orientation."""
        out = {}
        for i, name in enumerate(self.params):
            alpha, gamma, beta, beta_in, eta = self.heads[i](c)
            d_out = alpha.shape[0]
            alpha, beta = d_out * alpha.softmax(-1), d_out * beta.softmax(-1)
            u, grad_out = factors[name]
            outs = torch.cat([grad_out * alpha, beta[None]])  # (k + 1, d_out)
            ins = torch.cat([u * gamma, beta_in[None]])  # (k + 1, d_in)
            out[name] = (-self.log_steps[i].exp() * torch.sigmoid(eta) * ins, outs)
        return out


def condition_vector(lm, net: KnowledgeEditorNet, ids: Sequence[int], segments: Sequence[int]) -> torch.Tensor:
    """c for the condition tokens ``ids`` (x, y, a) and their segment ids."""
    table = lm.model.get_input_embeddings().weight
    embeddings = table[torch.tensor(list(ids), device=table.device)].detach().float()
    return net.conditioner(embeddings, torch.tensor(list(segments), device=table.device))
