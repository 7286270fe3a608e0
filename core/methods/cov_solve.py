"""Solves against a covariance C that stay the same across edits: (s·C + r·I)⁻¹ x.

ROME solves (C + rI)⁻¹k* and MEMIT (λC + KKᵀ + rI)⁻¹K for every edit, each an O(d³)
factorisation of the same C (with a ridge r that depends on K for MEMIT). C = QΛQᵀ is
decomposed once per covariance tensor (float64, kept in the model's memo while the tensor
lives: the statistics module hands out the same tensor for the same cached file), after which
(sC + rI)⁻¹x = Q((Qᵀx)/(sΛ + r)) costs O(d²) per right-hand side, any s and r. MEMIT's
KKᵀ term goes through the Woodbury identity: (M + KKᵀ)⁻¹K = M⁻¹K(I + KᵀM⁻¹K)⁻¹.
"""

from __future__ import annotations


def eigen(cov, device, memo=None):
    """(Λ, Q) of the symmetric ``cov`` in float64 on ``device``; kept in ``memo`` (the
    model's ``BoundedMemo``) while ``cov`` lives, so each covariance is decomposed once."""
    import torch

    def decompose():
        c = cov.to(device, torch.float64)
        return torch.linalg.eigh((c + c.T) / 2)

    if memo is None:
        return decompose()
    return memo.for_object(cov, f"eigen:{device}", decompose)


def shifted_solve(cov, rhs, scale: float, shift: float, memo=None):
    """(scale·C + shift·I)⁻¹ rhs in float64; ``rhs``: (d,) or (d, n)."""
    values, vectors = eigen(cov, rhs.device, memo)
    x = rhs.double()
    column = x.dim() == 1
    x = x[:, None] if column else x
    out = vectors @ ((vectors.T @ x) / (scale * values + shift)[:, None])
    return out[:, 0] if column else out


def mean_diagonal(cov) -> float:
    """mean(diag C), as the float64 sum the direct solves used."""
    import torch

    return float(cov.diagonal().to(torch.float64).mean())


def woodbury_solve(cov, keys, scale: float, shift: float, memo=None):
    """(scale·C + KKᵀ + shift·I)⁻¹ K in float64; ``keys`` K: (d, n)."""
    import torch

    k = keys.double()
    m_inv_k = shifted_solve(cov, k, scale, shift, memo)  # M⁻¹K
    inner = torch.eye(k.shape[1], dtype=k.dtype, device=k.device) + k.T @ m_inv_k
    return torch.linalg.solve(inner.T, m_inv_k.T).T  # M⁻¹K (I + KᵀM⁻¹K)⁻¹


def adjusted_keys(keys, cov, mom2_weight: float, ridge: float, memo=None):
    """MEMIT's A = (λC + KKᵀ + rI)⁻¹K (d_in, n), r = ridge × its mean diagonal, in float64;
    ``keys``: (n, d_in); without C, λC is λ·I."""
    import torch

    k = keys.double().T  # (d_in, n)
    if cov is not None and mom2_weight > 0:
        diagonal = mom2_weight * mean_diagonal(cov) + float((k * k).sum()) / k.shape[0]
        return woodbury_solve(cov, k, mom2_weight, ridge * max(diagonal, 1e-12), memo).float()
    c = cov.to(k.device, torch.float64) if cov is not None else torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
    system = mom2_weight * c + k @ k.T
    system = system + ridge * max(float(system.diagonal().mean()), 1e-12) * torch.eye(k.shape[0], dtype=k.dtype,
                                                                                       device=k.device)
    return torch.linalg.solve(system, k).float()
