"""Many independent fits in one batched computation: for Monte Carlo studies (coverage).

R datasets share the model but not the data: designs (R, n_times, n_params) and targets
(R, n_times). Least squares solves all R through one batched SVD; gradient descent moves all R
parameter vectors at once, each with the step 1/L of its own curvature. Both equal R single
fits (``LeastSquares(interval="classical")``, ``GradientFit(mode="full", optimizer="sgd")``) to
rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy import special

from pathfit._threads import fixed_sum, svdvals
from pathfit._validation import check_int, check_real, check_tensor
from pathfit.estimators._data import check_level
from pathfit.exceptions import InputError
from pathfit.linalg import ScaledSVD

_GRAD_TOL = 1e-6


@dataclass(frozen=True)
class BatchedFit:
    """R fits of one linear model.

    Attributes:
        coef: (R, n_params) estimates.
        stderr: (R, n_params) classical standard errors (NaN where not defined).
        ci: (R, n_params, 2) intervals at ``level``.
        converged: (R,) bool.
        steps: (R,) steps taken (1 for closed form).
        level: the confidence level.
    """

    coef: torch.Tensor
    stderr: torch.Tensor
    ci: torch.Tensor
    converged: torch.Tensor
    steps: torch.Tensor
    level: float

    def covers(self, truth: torch.Tensor) -> torch.Tensor:
        """(R, n_params) bool: does each interval hold the true coefficients?"""
        truth = truth.to(self.ci)
        return (self.ci[..., 0] <= truth) & (truth <= self.ci[..., 1])


def _check(designs: object, targets: object) -> tuple[torch.Tensor, torch.Tensor]:
    designs = check_tensor("designs", designs, ndim=3)
    targets = check_tensor("targets", targets, ndim=2).to(designs)
    if targets.shape != designs.shape[:2]:
        raise InputError(
            "targets",
            f"shape {tuple(targets.shape)}",
            f"(R, n_times) = {tuple(designs.shape[:2])}, matching designs",
        )
    if designs.shape[1] <= designs.shape[2]:
        raise InputError(
            "n_times",
            designs.shape[1],
            f"more observation times than parameters ({designs.shape[2]})",
        )
    return designs, targets


def _classical(
    svd: ScaledSVD, designs: torch.Tensor, targets: torch.Tensor, coef: torch.Tensor, level: float
) -> tuple[torch.Tensor, torch.Tensor]:
    m, p = designs.shape[1:]
    residuals = targets - (designs @ coef.unsqueeze(-1)).squeeze(-1)
    sigma2 = fixed_sum(residuals.square(), dim=-1) / (m - p)
    variance = sigma2.unsqueeze(-1) * svd.inverse_gram().diagonal(dim1=-2, dim2=-1)
    stderr = torch.where((svd.rank == p).unsqueeze(-1), variance.sqrt(), torch.nan)
    q = float(special.stdtrit(m - p, 0.5 + level / 2))
    return stderr, torch.stack([coef - q * stderr, coef + q * stderr], dim=-1)


def batched_least_squares(
    designs: torch.Tensor, targets: torch.Tensor, *, level: float = 0.95
) -> BatchedFit:
    """Closed-form least squares of R datasets at once, with classical intervals."""
    designs, targets = _check(designs, targets)
    level = check_level(level)
    svd = ScaledSVD.of(designs)
    coef = svd.solve(targets)
    stderr, ci = _classical(svd, designs, targets, coef, level)
    ones = torch.ones(coef.shape[0], dtype=torch.long)
    return BatchedFit(coef, stderr, ci, svd.rank == designs.shape[2], ones, level)


def batched_gradient(
    designs: torch.Tensor,
    targets: torch.Tensor,
    *,
    max_steps: int = 10_000,
    tol: float = 1e-10,
    level: float = 0.95,
) -> BatchedFit:
    """Full-batch gradient descent of R datasets at once, each at step 1/L_r.

    L_r = 2 |Phi_r|_2^2 / m is the exact curvature of dataset r's MSE, so no step is unstable
    and no guard is needed; a dataset stops when its relative parameter change is at most
    ``tol`` and its gradient has fallen below 1e-6 of its initial size.
    """
    designs, targets = _check(designs, targets)
    level = check_level(level)
    max_steps = check_int("max_steps", max_steps, minimum=1)
    tol = check_real("tol", tol, nonnegative=True)
    r, m, p = designs.shape
    step = m / (2 * svdvals(designs)[..., 0].square())  # 1 / L_r
    coef = designs.new_zeros((r, p))
    active = torch.ones(r, dtype=torch.bool)
    steps = torch.zeros(r, dtype=torch.long)

    def gradient(c: torch.Tensor) -> torch.Tensor:
        residuals = (designs @ c.unsqueeze(-1)).squeeze(-1) - targets
        # Phi^T r as sums over the times (the same bits on any number of threads)
        return (2 / m) * fixed_sum(designs * residuals.unsqueeze(-1), dim=-2)

    initial = gradient(coef).abs().amax(dim=-1)
    for _ in range(max_steps):
        if not bool(active.any()):
            break
        new = coef - step.unsqueeze(-1) * gradient(coef)
        change = (new - coef).abs().amax(-1) / new.abs().amax(-1).clamp_min(1e-300)
        coef = torch.where(active.unsqueeze(-1), new, coef)
        steps += active
        at_rest = change <= tol
        small = gradient(coef).abs().amax(-1) <= _GRAD_TOL * initial.clamp_min(1e-300)
        active &= ~(at_rest & small)
    stderr, ci = _classical(ScaledSVD.of(designs), designs, targets, coef, level)
    return BatchedFit(coef, stderr, ci, ~active, steps, level)
