"""Standard errors and intervals of linear models, for the noise that is really there.

Two situations need different errors:

- independent noise on each k_j, with k built from the given paths: the classical
  least-squares covariance s^2 (Phi^T Phi)^-1 is right;
- k a population quantity (measured elsewhere, or from far more paths) and x a finite sample of
  n paths: the error comes from the paths, is correlated along the whole time axis and shrinks
  like 1/sqrt(n). Resampling the paths (path bootstrap) measures it; classical errors miss it.

Noise correlated in time but not through the paths is handled by Newey-West (HAC) errors or a
moving-block bootstrap over time. ``choose_interval`` reads the residuals to pick one.

Networks get the same choices through their linearization at the fit (``Linearized``): the
Jacobian of k_hat in the weights, which Gauss-Newton training computes anyway, is the design.
laplace-torch was considered and not used: its linearized Laplace is Bayesian (a prior
precision to tune) where these intervals are frequentist sandwiches (classical, Newey-West,
clustered by path); its curvature backends expect a likelihood on each network output, while
k_hat_j is a weighted mean of the network over the paths; and it brings backpack, asdl,
curvlinops and linear_operator with an unpinned torch, for what is here a few lines on a
Jacobian already at hand.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from scipy import special

from pathfit._threads import fixed_mean, fixed_sum
from pathfit._types import Design, Params, PathValues, TargetValues
from pathfit.choices import IntervalMethod
from pathfit.design import StreamedPaths
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
    r = residuals - fixed_mean(residuals)
    denominator = float(fixed_sum(r.square()))
    if denominator == 0 or lag >= r.shape[0]:
        return 0.0
    return float(fixed_sum(r[lag:] * r[:-lag])) / denominator


HETEROSCEDASTIC_P = 1e-3
"""The p-value below which the studentized Breusch-Pagan test calls the noise heteroscedastic
(so iid noise is mistaken for it once in a thousand fits)."""


def heteroscedasticity_p(design: Design, residuals: TargetValues) -> tuple[float, float]:
    """Koenker's studentized Breusch-Pagan test: the statistic m R^2 of the squared residuals
    regressed on a constant and the design's columns, and its chi-squared p-value (degrees of
    freedom: the design's rank). Small p: the noise's variance moves with the design."""
    m = residuals.shape[0]
    squares = residuals.double().square()
    squares = squares - fixed_mean(squares)
    total = float(fixed_sum(squares.square()))
    columns = design.double()
    columns = columns - columns.mean(dim=0)
    svd = ScaledSVD.of(columns)
    rank = int(svd.rank)
    if total == 0 or rank == 0:
        return 0.0, 1.0
    explained = svd.u[:, :rank].T @ squares
    statistic = m * float(explained.square().sum()) / total
    return statistic, float(special.chdtrc(rank, statistic))


def choose_interval(
    residuals: TargetValues,
    targets: TargetValues,
    have_paths: bool,
    path_noise: float | None = None,
    design: Design | None = None,
) -> tuple[IntervalMethod, str]:
    """Pick the interval method the residuals call for, and say why.

    - residuals at rounding level, or too few times to judge: classical;
    - no lag-1 autocorrelation beyond 3/sqrt(m) (a 0.13% false alarm rate for white noise):
      independent noise; classical, unless the squared residuals move with the ``design``
      (Breusch-Pagan p-value below 1e-3, ``heteroscedasticity_p``): then Newey-West, whose
      data-driven bandwidth falls to a few lags on white scores (White's sandwich, in effect);
    - mean autocorrelation over lags 1..m/50 above 0.5: errors shared along whole paths, path
      bootstrap (Newey-West with a long window when the paths are not at hand), unless the
      residuals are far smaller (below 1%) than the sampling noise of k_hat over the paths
      (``path_noise``, the rms over times of sd_i(phi_ij) / sqrt(n)): then k was computed
      from these very paths and the residual is the model's own approximation error, which
      Newey-West describes;
    - otherwise: short-range correlated noise, Newey-West.
    """
    m = residuals.shape[0]
    scale = float(targets.abs().max()) if m else 0.0
    rms = float(fixed_mean(residuals.square()).sqrt())
    if rms <= 1e3 * torch.finfo(residuals.dtype).eps * max(scale, 1e-300):
        return "classical", "the fit is exact to rounding: the residuals carry no noise to study"
    if m < 20:
        return "classical", f"only {m} times: too few to judge autocorrelation, classical errors"
    rho1 = autocorrelation(residuals, 1)
    threshold = 3 / math.sqrt(m)
    if rho1 <= threshold:
        seen = (
            f"residuals show no autocorrelation along sorted time (lag-1 {rho1:.2f} <= "
            f"3/sqrt(m) = {threshold:.2f})"
        )
        if design is not None:
            statistic, p_value = heteroscedasticity_p(design, residuals)
            if p_value < HETEROSCEDASTIC_P:
                return "hac", (
                    f"{seen} but their size moves with the design (Breusch-Pagan statistic "
                    f"{statistic:.3g}, p = {p_value:.2g}): heteroscedastic noise, Newey-West "
                    "(sandwich) errors"
                )
        return "classical", f"{seen}: independent noise on each k_j, classical errors"
    window = max(2, m // 50)
    memory = sum(autocorrelation(residuals, lag) for lag in range(1, window + 1)) / window
    # one path has no sampling noise to compare with (path_noise is inf): not this branch
    if memory > 0.5 and path_noise is not None and rms < 1e-2 * path_noise < math.inf:
        return "hac", (
            f"residuals strongly autocorrelated along sorted time (lag-1 {rho1:.2f}) but "
            f"{rms:.3g} rms, far below the {path_noise:.3g} that sampling the paths would "
            "leave: k comes from these paths and the residual is the model's approximation "
            "error, Newey-West errors"
        )
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


def path_noise(path_terms: PathValues) -> float:
    """The rms over times of sd_i(phi_ij) / sqrt(n): how far k_hat_j = mean_i phi_ij would
    move if the n paths were drawn again."""
    n = path_terms.shape[0]
    if n < 2:
        return math.inf
    return float(fixed_mean(path_terms.var(dim=0) / n).sqrt())


def classical(solution: LinearSolution, level: float, reason: str) -> Uncertainty:
    dof = solution.dof
    quantile = float(special.stdtrit(dof, 0.5 + level / 2)) if dof > 0 else math.nan
    return Uncertainty("classical", reason, solution.cov, solution.cov_reason, quantile)


def andrews_bandwidth(scores: torch.Tensor) -> float:
    """Andrews' (1991) AR(1) plug-in bandwidth for the Bartlett kernel:
    S = 1.1447 (alpha(1) m)^(1/3), alpha(1) = sum_a 4 rho_a^2 s_a^4 / ((1 - rho_a)^6 (1 + rho_a)^2)
    / sum_a s_a^4 / (1 - rho_a)^4, with rho_a and s_a^2 the AR(1) coefficient and innovation
    variance fitted to each column a of the (m, p) ``scores`` (equal weights). 0 for white
    scores; a column whose |rho| reaches 0.97 is held there (the formula diverges at 1)."""
    m = scores.shape[0]
    numerator = denominator = 0.0
    for a in range(scores.shape[1]):
        e = scores[:, a]
        lagged = float(fixed_sum(e[:-1].square()))
        if m < 3 or lagged == 0:
            continue
        rho = float(fixed_sum(e[1:] * e[:-1])) / lagged
        rho = max(-0.97, min(0.97, rho))
        s2 = float(fixed_mean((e[1:] - rho * e[:-1]).square()))
        numerator += 4 * rho**2 * s2**2 / ((1 - rho) ** 6 * (1 + rho) ** 2)
        denominator += s2**2 / (1 - rho) ** 4
    if denominator == 0:
        return 0.0
    return 1.1447 * (numerator / denominator * m) ** (1 / 3)


def newey_west(
    design: Design,
    residuals: TargetValues,
    level: float,
    reason: str,
    lags: int | None = None,
    prewhiten: bool = True,
) -> Uncertainty:
    """Heteroskedasticity-and-autocorrelation-consistent covariance with Bartlett weights
    1 - j / S for lags j < S. The bandwidth S is Andrews' AR(1) plug-in (``andrews_bandwidth``;
    the reason says which) unless ``lags`` fixes it at lags + 1; with a long window (the paths
    not at hand) it is at least m / 10.

    With ``prewhiten`` (Andrews and Monahan 1992), a VAR(1) A is fitted to the scores first,
    the kernel estimate is made on the residual scores u_t = s_t - A s_(t-1), and recoloured
    by (I - A)^-1; the AR(1) part of the dependence is then captured by A rather than by a
    truncated kernel sum.
    """
    m, p = design.shape
    scores = design * residuals.unsqueeze(1)
    svd = ScaledSVD.of(design)
    z = _normal_quantile(level)
    if int(svd.rank) < p or m <= p:
        return Uncertainty("hac", reason, None, _deficient(int(svd.rank), p, m), z)
    recolour = None
    kernel_scores = scores
    if prewhiten and lags is None and m > 2 * p + 2:
        a = _var1(scores)
        if a is not None:
            kernel_scores = scores[1:] - scores[:-1] @ a.T
            recolour = torch.linalg.inv(torch.eye(p, dtype=scores.dtype) - a)
    if lags is None:
        bandwidth = andrews_bandwidth(kernel_scores)
        how = f"Andrews AR(1) plug-in bandwidth {bandwidth:.3g}"
        if reason.endswith("long window") and bandwidth < m / 10:
            bandwidth, how = m / 10, f"bandwidth m/10 = {m / 10:.3g}"
    else:
        bandwidth, how = float(lags + 1), f"bandwidth {lags + 1} given"
    if recolour is not None:
        how = "VAR(1) prewhitened, " + how
    n_lags = max(0, math.ceil(bandwidth) - 1)
    rows = kernel_scores.shape[0]
    meat = _cross(kernel_scores, kernel_scores)
    for lag in range(1, min(n_lags, rows - 1) + 1):
        cross = _cross(kernel_scores[lag:], kernel_scores[:-lag])
        meat = meat + (1 - lag / bandwidth) * (cross + cross.T)
    if recolour is not None:
        meat = recolour @ meat @ recolour.T * (m / rows)
    bread = svd.inverse_gram()
    cov = bread @ meat @ bread * (m / (m - p))
    return Uncertainty("hac", reason + f" ({how}: {n_lags} lags)", cov, "", z)


def _var1(scores: torch.Tensor) -> torch.Tensor | None:
    """The (p, p) least-squares VAR(1) coefficient of the scores, with its eigenvalues held
    inside 0.97 in modulus (I - A must stay well invertible), or None when it cannot be fit."""
    previous, current = scores[:-1], scores[1:]
    gram = _cross(previous, previous)
    if not bool(torch.isfinite(gram).all()) or float(torch.linalg.det(gram)) <= 0:
        return None
    a = torch.linalg.solve(gram, _cross(previous, current)).T
    radius = float(torch.linalg.eigvals(a).abs().max())
    if radius > 0.97:
        a = a * (0.97 / radius)
    return a


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a^T b over the times; with one column a dot product, summed in fixed chunks so that it
    does not depend on the threads (a product with several outputs does not)."""
    if a.shape[1] == 1:
        return fixed_sum(a[:, 0] * b[:, 0]).reshape(1, 1)
    return a.T @ b


# Why resampling paths gives no interval on one path (a zero-width one would exclude the truth).
ONE_PATH = (
    "one path: every resample of the paths is that path, so resampling measures nothing "
    "(give at least 2 paths, or interval = 'hac' or 'classical')"
)


def path_bootstrap(
    values: PathValues | StreamedPaths,
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
    replicates come from one (n_bootstrap, n_paths) @ (n_paths, n_times) product per power;
    streamed paths are simulated again and weighted tile by tile. The draws' covariance is
    scaled by n / (n - 1): resampling n paths sees their spread with divisor n, not n - 1,
    and so falls short by 5% in variance at n = 20 (the jackknife and the clustered sandwich
    carry the same factor).
    """
    streamed = isinstance(values, StreamedPaths)
    n = values.n_paths if isinstance(values, StreamedPaths) else values.shape[0]
    if n < 2:
        return Uncertainty("path_bootstrap", reason, None, ONE_PATH, _normal_quantile(level))
    picks = torch.randint(n, (n_bootstrap, n), generator=generator).to(values.device)
    counts = torch.zeros((n_bootstrap, n), dtype=values.dtype, device=values.device)
    counts.scatter_add_(1, picks, torch.ones_like(counts))
    del picks
    if streamed:
        designs = values.weighted_sums(counts, powers) / n
    else:
        designs = _weighted_designs(values, powers, counts) / n
    found = _bootstrap("path_bootstrap", designs, targets.expand(n_bootstrap, -1), level, reason)
    if found.cov is None:
        return found
    return dataclasses.replace(found, cov=found.cov * (n / (n - 1)))


def _weighted_designs(values: PathValues, powers: Sequence[int], counts: torch.Tensor) -> Design:
    """(B, n_times, len(powers)) sum_i w_bi x_ij^q for the (B, n_paths) weights ``counts``."""
    columns = []
    power = None
    for q in range(max(powers) + 1):
        power = torch.ones_like(values) if power is None else power * values
        if q in powers:
            columns.append((q, counts @ power))
    by_power = dict(columns)
    return torch.stack([by_power[q] for q in powers], dim=-1)


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
    """Moving-block bootstrap over the sorted time axis of the least-squares scores, prewhitened
    and post-blackened (Davison and Hinkley 1997, section 8.2.3).

    The estimate moves by (Phi^T Phi)^-1 sum_t s_t with scores s_t = phi_t r_t. A VAR(1) A is
    fitted to the scores (as for ``newey_west``); their innovations u_t = s_t - A s_(t-1) are
    resampled in blocks of ``block_length`` times (by default Politis and White's automatic
    length with the Patton-Politis-White correction, ``politis_white_block_length``, on the
    innovations) and blackened again by (I - A)^-1: each replicate is
    c* = c + (Phi^T Phi)^-1 (I - A)^-1 sum_t u*_t m / (m - 1).

    Resampling the raw rows in blocks instead misses the dependence beyond a block: at m = 1000
    its 95% intervals covered 0.925 and 0.907 under AR(1) noise with phi = 0.6 and 0.8 (R = 400)
    with the automatic length, and still 0.938 at three times that length. Scores keep each
    time's own noise level, so heteroscedastic noise is measured too.
    """
    m, p = design.shape
    z = _normal_quantile(level)
    svd = ScaledSVD.of(design)
    if int(svd.rank) < p or m <= p + 2:
        return Uncertainty("block_bootstrap", reason, None, _deficient(int(svd.rank), p, m), z)
    coef = svd.solve(targets)
    residuals = targets - design @ coef
    scores = design * residuals.unsqueeze(1)
    a = _var1(scores) if m > 2 * p + 2 else None
    if a is None:
        innovations, recolour, how = scores, None, "not prewhitened"
    else:
        innovations = scores[1:] - scores[:-1] @ a.T
        recolour = torch.linalg.inv(torch.eye(p, dtype=scores.dtype) - a)
        how = "VAR(1) prewhitened"
    innovations = innovations - innovations.mean(dim=0)
    rows = innovations.shape[0]
    if block_length is None:
        block_length = max(politis_white_block_length(innovations[:, b]) for b in range(p))
        how += f", Politis-White block length {block_length} times"
    else:
        how += f", blocks of {block_length} times, given"
    length = min(max(1, block_length), rows)
    n_blocks = -(-rows // length)
    starts = torch.randint(rows - length + 1, (n_bootstrap, n_blocks), generator=generator)
    index = (starts.unsqueeze(-1) + torch.arange(length)).reshape(n_bootstrap, -1)[:, :rows]
    sums = innovations[index.to(design.device)].sum(dim=1) * (m / rows)  # (B, p)
    if recolour is not None:
        sums = sums @ recolour.T
    draws = coef + sums @ svd.inverse_gram()
    cov = torch.atleast_2d(torch.cov(draws.T)) * (m / (m - p))
    return Uncertainty("block_bootstrap", reason + f" ({how})", cov, "", z, draws)


def politis_white_block_length(series: torch.Tensor) -> int:
    """The moving-block bootstrap's block length for a series of length N: Politis and White
    (2004), with the correction of Patton, Politis and White (2009).

    The autocorrelations R(k) are cut at M = 2 m_hat, m_hat the smallest lag after which
    K_N = max(5, sqrt(log10 N)) autocorrelations in a row stay below 2 sqrt(log10 N / N); with
    the flat-top window lambda(t) (1 up to |t| = 1/2, then 2 (1 - |t|)),
    G = sum lambda(k/M) |k| R(k) and g = sum lambda(k/M) R(k) over |k| <= M, the block length
    is (2 G^2 / D)^(1/3) N^(1/3) with D = (4/3) g^2, rounded, in [1, min(3 sqrt(N), N/3)].
    """
    x = series.detach().to(torch.float64).reshape(-1)
    n = x.shape[0]
    if n < 4:
        return 1
    x = x - fixed_mean(x)
    variance = float(fixed_sum(x.square())) / n
    if variance == 0:
        return 1
    k_n = max(5, math.ceil(math.sqrt(math.log10(n))))
    max_lag = min(n - 1, math.ceil(math.sqrt(n)) + k_n)
    acov = [variance] + [float(fixed_sum(x[k:] * x[:-k])) / n for k in range(1, max_lag + 1)]
    rho = [a / variance for a in acov]
    threshold = 2 * math.sqrt(math.log10(n) / n)
    m_hat = max_lag - k_n
    for k in range(1, max_lag - k_n + 1):
        if all(abs(rho[k + j]) < threshold for j in range(k_n)):
            m_hat = k - 1
            break
    big_m = min(2 * max(m_hat, 1), max_lag)

    def flat_top(t: float) -> float:
        t = abs(t)
        return 1.0 if t <= 0.5 else 2 * (1 - t) if t <= 1 else 0.0

    g = acov[0] + 2 * sum(flat_top(k / big_m) * acov[k] for k in range(1, big_m + 1))
    big_g = 2 * sum(flat_top(k / big_m) * k * acov[k] for k in range(1, big_m + 1))
    upper = max(1, math.ceil(min(3 * math.sqrt(n), n / 3)))
    if g <= 0:
        return upper
    length = (2 * big_g**2 / ((4 / 3) * g**2)) ** (1 / 3) * n ** (1 / 3)
    return int(min(upper, max(1, round(length))))


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
    values: PathValues | StreamedPaths | None = None,
    powers: Sequence[int] | None = None,
    n_bootstrap: int = N_BOOTSTRAP,
    generator: torch.Generator,
) -> tuple[LinearSolution, Uncertainty]:
    """The classical account of ``coef`` (None: the least-squares solution, solved here) and
    the uncertainty by ``method`` ("auto": chosen); ``values`` are the paths (whole, or
    streamed) that the path bootstrap resamples."""
    if coef is None:
        solution = solve_least_squares(design, targets)
    else:
        solution = solution_at(design, coef, targets)
    have_paths = values is not None and powers is not None
    if method == "auto":
        noise = None
        if isinstance(values, StreamedPaths) and powers is not None:
            spread = values.term_variance(solution.coef, powers)
            noise = float(fixed_mean(spread / values.n_paths).sqrt())
        elif values is not None and powers is not None:
            terms = sum(c * values**q for c, q in zip(solution.coef, powers, strict=True))
            noise = path_noise(torch.as_tensor(terms))
        method, reason = choose_interval(
            solution.residuals, targets, have_paths, noise, design=design
        )
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


@dataclass(frozen=True)
class Linearized:
    """A network's uncertainty from its linearization at the fitted weights (Gauss-Newton).

    The data identify only some weight directions (the Jacobian J of k_hat in the weights has
    rank ``rank`` < ``n_params``, usually). The covariance lives on those directions: a weight
    change theta - theta_hat = c @ ``directions`` with coordinates c of covariance
    ``uncertainty.cov``. A quantity with gradient g in the weights (the mean lambda,
    lambda_theta(x) at a point) has the variance (directions g)^T cov (directions g); weight
    directions that do not move k_hat do not move it either at first order, so they add none.

    Attributes:
        directions: (rank, n_params) weight change per unit of each coordinate.
        uncertainty: the coordinates' covariance and how it was obtained.
        rank: identified directions.
        n_params: weights.
    """

    directions: torch.Tensor
    uncertainty: Uncertainty
    rank: int
    n_params: int

    def stderr(self, gradients: torch.Tensor) -> torch.Tensor | None:
        """(...,) standard errors of quantities whose gradients in the weights are (..., p);
        None when the covariance could not be computed (``uncertainty.note`` says why)."""
        cov = self.uncertainty.cov
        if cov is None:
            return None
        a = gradients.to(cov.dtype) @ self.directions.T
        return ((a @ cov) * a).sum(dim=-1).clamp_min(0).sqrt()


def linearized_uncertainty(
    jacobian: torch.Tensor,
    residuals: TargetValues,
    targets: TargetValues,
    *,
    method: IntervalMethod,
    level: float,
    path_terms: PathValues | None = None,
    n_bootstrap: int = N_BOOTSTRAP,
    generator: torch.Generator,
) -> Linearized:
    """The covariance of a network's identified weight directions, for the noise there is.

    Args:
        jacobian: (n_times, n_params) derivatives of k_hat in the weights at the fit.
        residuals: (n_times,) k - k_hat at the fit; the classical noise level is measured on
            their part outside the span of J (what a full Gauss-Newton step would leave).
        targets: (n_times,) k.
        method: as for the linear models. "classical", "hac" and "block_bootstrap" apply to
            the linearized model, whose design is J on the identified directions.
            "path_bootstrap" becomes its first-order equivalent, the path-clustered sandwich
            (each path's own contribution to k_hat is its score), which needs ``path_terms``.
        path_terms: (n_paths, n_times) each path's term of k_hat (k_hat_j is their mean), or
            None when k_hat does not split by path.
    """
    svd = ScaledSVD.of(jacobian)
    rank = int(svd.rank)
    n_params = jacobian.shape[1]
    directions = svd.vh[:rank] / svd.norms
    design = svd.u[:, :rank] * svd.s[:rank]  # J on the identified directions: U_r S_r
    # What a full Gauss-Newton step would leave. The classical noise level is measured on it:
    # a fit stopped at its noise floor may still hold a noise-sized part in the span of J,
    # which would inflate it. The choice of method and the other methods read the residuals as
    # they are: in a noise-free fit that part is the optimisation's own error, not noise.
    left = residuals - svd.u[:, :rank] @ (svd.u[:, :rank].T @ residuals)
    have_paths = path_terms is not None
    if method == "auto":
        noise = None if path_terms is None else path_noise(path_terms)
        method, reason = choose_interval(residuals, targets, have_paths, noise, design=design)
    else:
        reason = "requested"
    zero = torch.zeros(rank, dtype=design.dtype, device=design.device)
    if method == "classical":
        found = classical(solution_at(design, zero, left), level, reason)
    elif method == "hac":
        found = newey_west(design, residuals, level, reason)
    elif method == "block_bootstrap":
        found = block_bootstrap(
            design, residuals, level, reason, n_bootstrap=n_bootstrap, generator=generator
        )
    elif path_terms is None:
        raise InputError(
            "interval",
            "'path_bootstrap'",
            "a model whose k_hat is a mean of one term per path (the pointwise MLP; the seed "
            "network reads all paths at once)",
        )
    else:
        found = path_cluster(design, path_terms, level, reason)
    return Linearized(directions, found, rank, n_params)


def path_cluster(design: Design, path_terms: PathValues, level: float, reason: str) -> Uncertainty:
    """The path-clustered sandwich of a linearized fit: with k_hat_j = mean_i phi_ij, path i
    moves the estimate by (Phi^T Phi)^-1 Phi^T (phi_i - k_hat) / n, and the covariance is the
    sum of those moves' outer products, times n / (n - 1) (as the path bootstrap): what
    resampling the paths measures, to first order."""
    n = path_terms.shape[0]
    m, p = design.shape
    z = _normal_quantile(level)
    svd = ScaledSVD.of(design)
    if n < 2:
        return Uncertainty("path_cluster", reason, None, ONE_PATH, z)
    if int(svd.rank) < p or m <= p:
        return Uncertainty("path_cluster", reason, None, _deficient(int(svd.rank), p, m), z)
    deviations = path_terms - path_terms.mean(dim=0)  # (n, m)
    moves = (deviations @ design) @ svd.inverse_gram() / n  # (n, p)
    cov = moves.T @ moves * (n / (n - 1))  # the spread of n paths with divisor n - 1
    note = "linearized: the path-clustered sandwich, the path bootstrap's first-order equivalent"
    return Uncertainty("path_cluster", f"{reason} ({note})", cov, "", z)


def _normal_quantile(level: float) -> float:
    return float(special.ndtri(0.5 + level / 2))


def _deficient(rank: int, p: int, m: int) -> str:
    if rank < p:
        return f"the design has rank {rank} < {p} parameters"
    return f"no residual degrees of freedom ({m} times, {p} parameters)"
