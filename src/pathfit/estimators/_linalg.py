"""A stable least-squares solve of the aggregated design, with its classical covariance."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy import stats

from pathfit._types import Design, Params, TargetValues


@dataclass(frozen=True)
class LinearSolution:
    """The least-squares solution of Phi c = k and what comes with it.

    Attributes:
        coef: (n_params,) minimum-norm solution.
        cov: (n_params, n_params) classical covariance s^2 (Phi^T Phi)^-1, or None.
        cov_reason: why ``cov`` is None ("" when it is not).
        rank: numerical rank of the column-scaled design.
        condition_number: ratio of the largest to the smallest singular value of the design with
            columns scaled to unit norm (inf when rank deficient).
        residuals: (n_times,) k - Phi c.
        dof: residual degrees of freedom n_times - n_params.
    """

    coef: Params
    cov: torch.Tensor | None
    cov_reason: str
    rank: int
    condition_number: float
    residuals: TargetValues
    dof: int


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
        norms = torch.linalg.vector_norm(design, dim=-2)
        safe = torch.where(norms > 0, norms, torch.ones_like(norms))
        u, s, vh = torch.linalg.svd(design / safe.unsqueeze(-2), full_matrices=False)
        tol = s[..., :1] * max(n_times, n_params) * torch.finfo(design.dtype).eps
        keep = s > tol
        rank = keep.sum(dim=-1)
        s_inv = torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), 0.0)
        full = rank == n_params
        cond = torch.where(full, s[..., 0] / s[..., -1], torch.full_like(s[..., 0], torch.inf))
        return cls(u, s, s_inv, vh, safe, rank, cond)

    def solve(self, targets: TargetValues) -> Params:
        """Minimum-norm least-squares coefficients for targets (..., n_times)."""
        projected = self.s_inv * (self.u.mT @ targets.unsqueeze(-1)).squeeze(-1)
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
        sigma2 = residuals.square().sum() / dof
        return sigma2 * self.inverse_gram(), ""


def solve_least_squares(design: Design, targets: TargetValues) -> LinearSolution:
    """Solve min_c |Phi c - k|^2 through the SVD of the column-scaled design.

    The SVD never forms Phi^T Phi, so the solution keeps the accuracy the data allow even when
    the columns differ by orders of magnitude (x^0 next to x^5).
    """
    svd = ScaledSVD.of(design)
    return _solution(svd, design, svd.solve(targets), targets)


def solution_at(design: Design, coef: Params, targets: TargetValues) -> LinearSolution:
    """The same account for an estimate ``coef`` found by other means (gradient training)."""
    return _solution(ScaledSVD.of(design), design, coef, targets)


def _solution(
    svd: ScaledSVD, design: Design, coef: Params, targets: TargetValues
) -> LinearSolution:
    residuals = targets - design @ coef
    cov, reason = svd.covariance(residuals)
    dof = design.shape[0] - design.shape[1]
    return LinearSolution(
        coef, cov, reason, int(svd.rank), float(svd.condition_number), residuals, dof
    )


def t_quantile(level: float, dof: int) -> float:
    """The two-sided Student-t quantile for a ``level`` interval with ``dof`` degrees of freedom."""
    return float(stats.t.ppf(0.5 + level / 2, dof))
