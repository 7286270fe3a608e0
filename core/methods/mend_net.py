"""MEND's gradient transform and the rank-one gradient factors it transforms.

For an edited matrix W the fine-tuning gradient of a sequence is Σ_i δ_i u_iᵀ (u_i the
matrix's input at token i, δ_i the loss gradient at its output). MEND (Mitchell et al.,
ICLR 2022) maps each token's pair (u_i, δ_i) through a small network g to (ũ_i, δ̃_i)
and edits W by −α_l Σ_i δ̃_i ũ_iᵀ with a learned step α_l per layer:

- g's input [u; δ] is normalised by running mean and variance (updated while training,
  frozen after);
- g is one residual low-rank MLP, z + B·relu(A·z) with B = 0 at the start (identity
  initialisation), shared by every edited matrix of one shape, followed by a per-layer
  scale (init 1) and shift (init 0);
- only tokens whose prediction is in the edit loss (the target's tokens) contribute; for
  the others δ_i = 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import nn

from core.edit.hooks import capture_many
from core.methods.training import row_losses
from core.model.tokens import EncodedPair, model_batch


class GradientTransform(nn.Module):
    """g: normalise [u; δ], residual low-rank MLP, per-layer scale and shift."""

    def __init__(self, d_in: int, d_out: int, rank: int, n_layers: int) -> None:
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        dim = d_in + d_out
        self.register_buffer("count", torch.zeros(()))
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("m2", torch.zeros(dim))  # sum of squared deviations (Chan et al.'s merge)
        self.down = nn.Linear(dim, rank)
        self.up = nn.Linear(rank, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.scale = nn.Parameter(torch.ones(n_layers, dim))
        self.shift = nn.Parameter(torch.zeros(n_layers, dim))

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        """Merge a batch of rows into the running mean and variance."""
        n = float(x.shape[0])
        if n == 0:
            return
        mean, m2 = x.mean(0), ((x - x.mean(0)) ** 2).sum(0)
        total = self.count + n
        diff = mean - self.mean
        self.m2 += m2 + diff**2 * self.count * n / total
        self.mean += diff * n / total
        self.count.fill_(total)

    def forward(self, u: torch.Tensor, delta: torch.Tensor, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([u, delta], dim=-1)
        std = (self.m2 / self.count.clamp(min=2.0) + 1e-12).sqrt() if self.count > 1 else torch.ones_like(self.mean)
        z = (x - self.mean) / std
        h = z + self.up(torch.relu(self.down(z)))
        h = h * self.scale[layer] + self.shift[layer]
        return h[:, : self.d_in], h[:, self.d_in :]


class MendEditor(nn.Module):
    """One transform per (d_in, d_out) shape and one step α_l per edited matrix."""

    def __init__(self, params: Sequence[str], shapes: Sequence[tuple[int, int]], rank: int, edit_lr: float) -> None:
        super().__init__()
        self.params = tuple(params)
        self.shapes = tuple((int(a), int(b)) for a, b in shapes)
        kinds = sorted(set(self.shapes))
        self.slot = [(kinds.index(s), [p for p, q in zip(self.params, self.shapes) if q == s].index(name))
                     for name, s in zip(self.params, self.shapes)]
        counts = [sum(1 for s in self.shapes if s == k) for k in kinds]
        self.transforms = nn.ModuleList(GradientTransform(a, b, rank, n) for (a, b), n in zip(kinds, counts))
        self.lrs = nn.Parameter(torch.full((len(self.params),), float(edit_lr)))

    def observe(self, factors: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        for i, name in enumerate(self.params):
            kind, _ = self.slot[i]
            u, d = factors[name]
            self.transforms[kind].observe(torch.cat([u, d], dim=-1))

    def factors(self, factors: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, tuple]:
        """{param: (−α ũ, δ̃)}: the update of ``param`` is Σ_i δ̃_i (−α ũ_i)ᵀ."""
        out = {}
        for i, name in enumerate(self.params):
            kind, layer = self.slot[i]
            u, d = factors[name]
            u_t, d_t = self.transforms[kind](u, d, layer)
            out[name] = (-self.lrs[i] * u_t, d_t)
        return out


def update_matrix(u_scaled: torch.Tensor, delta: torch.Tensor, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(left, right) with left @ right the update in the weight's storage layout."""
    if layout == "in_out":  # GPT-2's Conv1D: W is (d_in, d_out)
        return u_scaled.T, delta
    return delta.T, u_scaled  # nn.Linear: W is (d_out, d_in)


def editor_updates(lm, editor: MendEditor, encoded: Sequence[EncodedPair], observe: bool = False) -> dict:
    """{param: (left, right)}: the editor's update of each of its matrices for the edit of
    ``encoded`` (differentiable in the editor); ``observe`` feeds the normalisation statistics."""
    modules = [p.removesuffix(".weight") for p in editor.params]
    factors = gradient_factors(lm, modules, editor.params, encoded)
    if observe:
        editor.observe(factors)
    scaled = editor.factors(factors)
    return {p: update_matrix(u, d, lm.spec.weight_layout) for p, (u, d) in scaled.items()}


@contextmanager
def _grad_enabled():
    with torch.enable_grad():
        yield


def gradient_factors(lm, modules: Sequence[str], params: Sequence[str],
                     encoded: Sequence[EncodedPair]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{param: (u, δ)}: the inputs of ``modules`` and the gradients of the mean target NLL at
    their outputs, at the tokens that predict a target token (rows: tokens; float32, detached).
    The model is run with the edited weights swapped for leaf views, so it is never written."""
    from torch.func import functional_call

    named = dict(lm.model.named_parameters())
    overrides = {p: named[p].detach().requires_grad_(True) for p in params}
    ids, mask = model_batch(lm, [p.ids for p in encoded])
    with _grad_enabled(), capture_many(lm.model, modules, inputs=True, outputs=True) as found:
        logits = functional_call(lm.model, overrides, args=(), kwargs={"input_ids": ids, "attention_mask": mask}).logits
        loss = row_losses(logits, encoded, "target_masked").sum()
        outputs = [found[m].output for m in modules]
        grads = torch.autograd.grad(loss, outputs)
        inputs = [found[m].input for m in modules]
    rows, cols = _target_positions(encoded, ids.device)
    return {p: (x[rows, cols].detach().float(), g[rows, cols].detach().float())
            for p, x, g in zip(params, inputs, grads, strict=True)}


def _target_positions(encoded: Sequence[EncodedPair], device) -> tuple[torch.Tensor, torch.Tensor]:
    rows, cols = [], []
    for r, pair in enumerate(encoded):
        start = len(pair.prompt_ids)
        for c in range(start - 1, start + len(pair.target_ids) - 1):
            rows.append(r)
            cols.append(c)
    return torch.tensor(rows, device=device), torch.tensor(cols, device=device)
