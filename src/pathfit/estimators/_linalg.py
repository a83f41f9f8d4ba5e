"""A stable least-squares solve of the aggregated design, with its classical covariance."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy import special

from pathfit._types import Design, Params, TargetValues
from pathfit.linalg import ScaledSVD


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
    return float(special.stdtrit(dof, 0.5 + level / 2))
