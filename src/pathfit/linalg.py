"""The SVD of a design with its columns scaled to unit norm: rank, conditioning, stable solves.

Shared by the estimators (least squares, batched fits, uncertainty) and the diagnostics
(identifiability). The SVD never forms Phi^T Phi, so a solve keeps the accuracy the data allow
even when the columns differ by orders of magnitude (x^0 next to x^5). Its sums and its SVD
give the same bits on any number of torch threads (``pathfit._threads``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pathfit._threads import fixed_sum, svd
from pathfit._types import Design, Params, TargetValues


@dataclass(frozen=True)
class ScaledSVD:
    """The SVD of a design, or of a batch of designs (..., n_times, n_params), with each
    column scaled to unit norm. ``rank`` and ``condition_number`` have the batch's shape."""

    u: torch.Tensor
    s: torch.Tensor
    s_inv: torch.Tensor  # 1/s on the kept singular values, 0 on the dropped ones
    vh: torch.Tensor
    norms: torch.Tensor  # column norms, 1 where a column is zero
    rank: torch.Tensor
    condition_number: torch.Tensor

    @classmethod
    def of(cls, design: Design) -> ScaledSVD:
        n_times, n_params = design.shape[-2:]
        norms = fixed_sum(design.square(), dim=-2).sqrt()
        safe = torch.where(norms > 0, norms, torch.ones_like(norms))
        u, s, vh = svd(design / safe.unsqueeze(-2))
        tol = s[..., :1] * max(n_times, n_params) * torch.finfo(design.dtype).eps
        keep = s > tol
        rank = keep.sum(dim=-1)
        s_inv = torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), 0.0)
        full = rank == n_params
        cond = torch.where(full, s[..., 0] / s[..., -1], torch.full_like(s[..., 0], torch.inf))
        return cls(u, s, s_inv, vh, safe, rank, cond)

    def solve(self, targets: TargetValues) -> Params:
        """Minimum-norm least-squares coefficients for targets (..., n_times)."""
        # u^T k as sums over the times: a single column's would be one dot product, whose
        # rounding depends on the threads
        projected = self.s_inv * fixed_sum(self.u * targets.unsqueeze(-1), dim=-2)
        return (self.vh.mT @ projected.unsqueeze(-1)).squeeze(-1) / self.norms

    def inverse_gram(self) -> torch.Tensor:
        """(Phi^T Phi)^-1 (pseudo-inverse where rank deficient), (..., n_params, n_params)."""
        vs = self.vh.mT * self.s_inv.unsqueeze(-2)
        return (vs @ vs.mT) / (self.norms.unsqueeze(-1) * self.norms.unsqueeze(-2))

    def covariance(self, residuals: TargetValues) -> tuple[torch.Tensor | None, str]:
        """s^2 (Phi^T Phi)^-1 with s^2 = |r|^2 / dof, or None and the reason (one design)."""
        n_times, n_params = self.u.shape[-2], self.vh.shape[-1]
        dof = n_times - n_params
        if int(self.rank) < n_params:
            return None, (
                f"the design has rank {int(self.rank)} < {n_params} parameters: some "
                "combination of parameters is not identified by these data"
            )
        if dof <= 0:
            return None, f"no residual degrees of freedom ({n_times} times, {n_params} parameters)"
        sigma2 = fixed_sum(residuals.square()) / dof
        return sigma2 * self.inverse_gram(), ""
