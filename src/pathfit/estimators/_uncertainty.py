"""Standard errors and intervals of linear models, for the noise that is really there.

Two situations need different errors:

- independent noise on each k_j, with k built from the given paths: the classical
  least-squares covariance s^2 (Phi^T Phi)^-1 is right;
- k a population quantity (measured elsewhere, or from far more paths) and x a finite sample of
  n paths: the error comes from the paths, is correlated along the whole time axis and shrinks
  like 1/sqrt(n). Resampling the paths (path bootstrap) measures it; classical errors miss it.

Noise correlated in time but not through the paths is handled by Newey-West (HAC) errors or a
moving-block bootstrap over time. ``choose_interval`` reads the residuals to pick one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from scipy import special

from pathfit._types import Design, Params, PathValues, TargetValues
from pathfit.choices import IntervalMethod
from pathfit.estimators._linalg import LinearSolution, solution_at, solve_least_squares
from pathfit.exceptions import InputError
from pathfit.linalg import ScaledSVD

N_BOOTSTRAP = 300


@dataclass(frozen=True)
class Uncertainty:
    """The covariance of a linear model's estimates and how it was obtained.

    Attributes:
        method: the interval method used.
        reason: why this method (the automatic choice, or "requested").
        cov: (n_params, n_params) covariance, or None when it cannot be computed.
        note: why ``cov`` is None ("" otherwise).
        quantile: the multiplier of the standard error for a two-sided interval.
        draws: (n_bootstrap, n_params) bootstrap estimates, for the bootstrap methods.
    """

    method: str
    reason: str
    cov: torch.Tensor | None
    note: str
    quantile: float
    draws: torch.Tensor | None = None


def autocorrelation(residuals: TargetValues, lag: int) -> float:
    """Sample autocorrelation of the residuals at ``lag`` along their (time) order."""
    r = residuals - residuals.mean()
    denominator = float(r.square().sum())
    if denominator == 0 or lag >= r.shape[0]:
        return 0.0
    return float((r[lag:] * r[:-lag]).sum()) / denominator


def choose_interval(
    residuals: TargetValues, targets: TargetValues, have_paths: bool
) -> tuple[IntervalMethod, str]:
    """Pick the interval method the residuals call for, and say why.

    - residuals at rounding level, or too few times to judge: classical;
    - no lag-1 autocorrelation beyond 3/sqrt(m) (a 0.13% false alarm rate for white noise):
      independent noise, classical;
    - mean autocorrelation over lags 1..m/50 above 0.5: errors shared along whole paths, path
      bootstrap (Newey-West with a long window when the paths are not at hand);
    - otherwise: short-range correlated noise, Newey-West.
    """
    m = residuals.shape[0]
    scale = float(targets.abs().max()) if m else 0.0
    rms = float(residuals.square().mean().sqrt())
    if rms <= 1e3 * torch.finfo(residuals.dtype).eps * max(scale, 1e-300):
        return "classical", "the fit is exact to rounding: the residuals carry no noise to study"
    if m < 20:
        return "classical", f"only {m} times: too few to judge autocorrelation, classical errors"
    rho1 = autocorrelation(residuals, 1)
    threshold = 3 / math.sqrt(m)
    if rho1 <= threshold:
        return "classical", (
            f"residuals show no autocorrelation along sorted time (lag-1 {rho1:.2f} <= "
            f"3/sqrt(m) = {threshold:.2f}): independent noise on each k_j, classical errors"
        )
    window = max(2, m // 50)
    memory = sum(autocorrelation(residuals, lag) for lag in range(1, window + 1)) / window
    if memory > 0.5:
        seen = (
            f"residuals strongly autocorrelated along sorted time (lag-1 {rho1:.2f}, mean over "
            f"lags 1-{window} {memory:.2f}): the error is shared along whole paths, as when k is "
            "a population quantity and x a finite sample of paths"
        )
        if have_paths:
            return "path_bootstrap", seen + "; path bootstrap"
        return "hac", seen + "; the paths are not at hand, so Newey-West with a long window"
    return "hac", (
        f"residuals autocorrelated over short lags only (lag-1 {rho1:.2f}, mean over lags "
        f"1-{window} {memory:.2f}): noise correlated in time, Newey-West errors"
    )


def classical(solution: LinearSolution, level: float, reason: str) -> Uncertainty:
    dof = solution.dof
    quantile = float(special.stdtrit(dof, 0.5 + level / 2)) if dof > 0 else math.nan
    return Uncertainty("classical", reason, solution.cov, solution.cov_reason, quantile)


def newey_west(
    design: Design,
    residuals: TargetValues,
    level: float,
    reason: str,
    lags: int | None = None,
) -> Uncertainty:
    """Heteroskedasticity-and-autocorrelation-consistent covariance with Bartlett weights."""
    m, p = design.shape
    if lags is None:
        lags = int(4 * (m / 100) ** (2 / 9))
        if reason.endswith("long window"):
            lags = max(lags, m // 10)
    svd = ScaledSVD.of(design)
    z = _normal_quantile(level)
    if int(svd.rank) < p or m <= p:
        return Uncertainty("hac", reason, None, _deficient(int(svd.rank), p, m), z)
    bread = svd.inverse_gram()
    scores = design * residuals.unsqueeze(1)
    meat = scores.T @ scores
    for lag in range(1, min(lags, m - 1) + 1):
        cross = scores[lag:].T @ scores[:-lag]
        meat = meat + (1 - lag / (lags + 1)) * (cross + cross.T)
    cov = bread @ meat @ bread * (m / (m - p))
    return Uncertainty("hac", reason + f" ({lags} lags)", cov, "", z)


def path_bootstrap(
    values: PathValues,
    powers: Sequence[int],
    targets: TargetValues,
    level: float,
    reason: str,
    *,
    n_bootstrap: int = N_BOOTSTRAP,
    generator: torch.Generator,
) -> Uncertainty:
    """Resample the n paths with replacement, rebuild the design, keep k, refit.

    Each replicate's design is a weighted mean over paths with multinomial counts, so all
    replicates come from one (n_bootstrap, n_paths) @ (n_paths, n_times) product per power.
    """
    n = values.shape[0]
    picks = torch.randint(n, (n_bootstrap, n), generator=generator).to(values.device)
    counts = torch.zeros((n_bootstrap, n), dtype=values.dtype, device=values.device)
    counts.scatter_add_(1, picks, torch.ones_like(counts))
    columns = []
    power = None
    for q in range(max(powers) + 1):
        power = torch.ones_like(values) if power is None else power * values
        if q in powers:
            columns.append((q, counts @ power / n))
    by_power = dict(columns)
    designs = torch.stack([by_power[q] for q in powers], dim=-1)  # (B, n_times, n_params)
    return _bootstrap("path_bootstrap", designs, targets.expand(n_bootstrap, -1), level, reason)


def block_bootstrap(
    design: Design,
    targets: TargetValues,
    level: float,
    reason: str,
    *,
    block_length: int | None = None,
    n_bootstrap: int = N_BOOTSTRAP,
    generator: torch.Generator,
) -> Uncertainty:
    """Moving-block bootstrap over the sorted time axis: rows of (Phi, k) resampled in blocks."""
    m = design.shape[0]
    length = block_length or max(1, round(m ** (1 / 3)))
    length = min(length, m)
    n_blocks = -(-m // length)
    starts = torch.randint(m - length + 1, (n_bootstrap, n_blocks), generator=generator)
    index = (starts.unsqueeze(-1) + torch.arange(length)).reshape(n_bootstrap, -1)[:, :m]
    index = index.to(design.device)
    reason = reason + f" (blocks of {length} times)"
    return _bootstrap("block_bootstrap", design[index], targets[index], level, reason)


def _bootstrap(
    method: str, designs: torch.Tensor, targets: torch.Tensor, level: float, reason: str
) -> Uncertainty:
    """Solve every replicate (B, m, p) at once; the covariance of the draws is the answer."""
    z = _normal_quantile(level)
    # The fit's own scaled SVD, not torch.linalg.lstsq: on the CPU its default driver (gelsy)
    # reads a pivot array torch leaves uninitialized and reuses along the batch, so a draw
    # depended on whatever memory it got and on the replicate solved before it.
    draws = ScaledSVD.of(designs).solve(targets)
    finite = torch.isfinite(draws).all(dim=1)
    draws = draws[finite]
    if draws.shape[0] < 2:
        return Uncertainty(method, reason, None, "no finite bootstrap replicate", z, draws)
    cov = torch.atleast_2d(torch.cov(draws.T))
    return Uncertainty(method, reason, cov, "", z, draws)


def estimate_uncertainty(
    design: Design,
    coef: Params | None,
    targets: TargetValues,
    *,
    method: IntervalMethod,
    level: float,
    values: PathValues | None = None,
    powers: Sequence[int] | None = None,
    n_bootstrap: int = N_BOOTSTRAP,
    generator: torch.Generator,
) -> tuple[LinearSolution, Uncertainty]:
    """The classical account of ``coef`` (None: the least-squares solution, solved here) and
    the uncertainty by ``method`` ("auto": chosen)."""
    if coef is None:
        solution = solve_least_squares(design, targets)
    else:
        solution = solution_at(design, coef, targets)
    have_paths = values is not None and powers is not None
    if method == "auto":
        method, reason = choose_interval(solution.residuals, targets, have_paths)
    else:
        reason = "requested"
    if method == "classical":
        return solution, classical(solution, level, reason)
    if method == "hac":
        return solution, newey_west(design, solution.residuals, level, reason)
    if method == "block_bootstrap":
        return solution, block_bootstrap(
            design, targets, level, reason, n_bootstrap=n_bootstrap, generator=generator
        )
    if not have_paths:
        raise InputError(
            "interval", "'path_bootstrap'", "paths to resample (use fit, not fit_design)"
        )
    assert values is not None and powers is not None
    return solution, path_bootstrap(
        values, powers, targets, level, reason, n_bootstrap=n_bootstrap, generator=generator
    )


def _normal_quantile(level: float) -> float:
    return float(special.ndtri(0.5 + level / 2))


def _deficient(rank: int, p: int, m: int) -> str:
    if rank < p:
        return f"the design has rank {rank} < {p} parameters"
    return f"no residual degrees of freedom ({m} times, {p} parameters)"
