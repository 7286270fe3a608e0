"""RECIPE's trained modules (seed 003 §4.1-4.2, Appendix C): MLP_K, MLP_Q, MLP_P and the
knowledge sentinel Θ, on a frozen sentence encoder (``core.edit.sentence_encoder``).

- r_k = MLP_K(f_rm(k)): the knowledge representation of a statement k (prompt + new answer);
- p_k = reshape(MLP_P(r_k)) to l × d_model, scaled to the LLM's embedding spread;
- r̃_q = MLP_Q(f_rm(q)): a query's representation. MLP_Q is one linear map (W, b), so
  r̃_qᵀ r_k = [f_rm(q); 1]·[Wᵀ r_k; bᵀ r_k]: a key stored as ``feature_keys(r_k)`` answers
  queries without the trained network (``core.edit.repository``);
- r_Θ = MLP_K(f_rm(Θ)): Θ is c trainable token embeddings fed to the encoder in place of
  word embeddings.

MLP_K and MLP_P are two linear layers with a residual path (a linear projection where the
widths differ), as the paper's. The encoder is not a submodule: it is neither trained nor
saved in checkpoints (it comes from its package).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ResidualMLP(nn.Module):
    def __init__(self, d_in: int, d_hidden: int, d_out: int) -> None:
        super().__init__()
        self.up = nn.Linear(d_in, d_hidden)
        self.down = nn.Linear(d_hidden, d_out)
        self.skip = nn.Linear(d_in, d_out, bias=False) if d_in != d_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.down(nn.functional.gelu(self.up(x)))


class RecipeEditor(nn.Module):
    def __init__(self, encoder, d_model: int, prompt_scale: float, width: int, prompt_tokens: int,
                 sentinel_tokens: int) -> None:
        super().__init__()
        object.__setattr__(self, "encoder", encoder)  # frozen, shared, not part of the state dict
        object.__setattr__(self, "_memo", {})  # text -> f_rm (the encoder is frozen)
        features = encoder.feature_width
        width = width or features
        self.key = ResidualMLP(features, width, width)  # MLP_K
        self.query = nn.Linear(features, width)  # MLP_Q (linear: see the module docstring)
        if width == features:  # start from the encoder's own similarity: r = f_rm, r̃ = f_rm / √width
            nn.init.zeros_(self.key.down.weight)
            nn.init.zeros_(self.key.down.bias)
            with torch.no_grad():
                self.query.weight.copy_(torch.eye(features) / features**0.5)
                self.query.bias.zero_()
        self.prompt = ResidualMLP(width, width, prompt_tokens * d_model)  # MLP_P
        self.sentinel = nn.Parameter(torch.randn(sentinel_tokens, encoder.width) * 0.02)  # Θ
        self.register_buffer("prompt_scale", torch.tensor(float(prompt_scale)))
        self.prompt_tokens, self.d_model = prompt_tokens, d_model

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """f_rm of each text (no gradient: the encoder is frozen), remembered per text."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for text, row in zip(missing, self.encoder.features(missing), strict=True):
                self._memo[text] = row
        device = self.sentinel.device
        return torch.stack([self._memo[t] for t in texts]).to(device)

    def keys(self, features: torch.Tensor) -> torch.Tensor:
        return self.key(features)

    def queries(self, features: torch.Tensor) -> torch.Tensor:
        return self.query(features)

    def prompts(self, keys: torch.Tensor) -> torch.Tensor:
        """(n, l, d_model) continuous prompts of knowledge representations (n, width)."""
        return (self.prompt(keys) * self.prompt_scale).reshape(len(keys), self.prompt_tokens, self.d_model)

    def sentinel_key(self) -> torch.Tensor:
        """r_Θ (width,)."""
        return self.key(self.encoder.embedded_features(self.sentinel[None]))[0]

    def feature_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """[Wᵀ r; bᵀ r] (n, features + 1): keys scored against [f_rm(q); 1] give r̃_qᵀ r."""
        return torch.cat([keys @ self.query.weight, (keys @ self.query.bias)[:, None]], dim=1)


def new_editor(encoder, embedding_weight, width: int, prompt_tokens: int, sentinel_tokens: int) -> RecipeEditor:
    """A freshly initialised editor for an LLM whose input embeddings are ``embedding_weight``."""
    scale = float(embedding_weight.detach().float().std())
    return RecipeEditor(encoder, int(embedding_weight.shape[1]), scale, width, prompt_tokens, sentinel_tokens)
