"""Many independent fits in one batched computation: for Monte Carlo studies (coverage).

R datasets share the model but not the data: designs (R, n_times, n_params) and targets
(R, n_times). Least squares solves all R through one batched SVD; gradient descent moves all R
parameter vectors at once, each with the step 1/L of its own curvature. Both equal R single
fits (``LeastSquares(interval="classical")``, ``GradientFit(mode="full", optimizer="sgd")``) to
rounding.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special

from pathfit import _random
from pathfit._random import check_seed
from pathfit._threads import SUM_CHUNK, fixed_sum, svdvals
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


# --- the seed recipe: per-sample SGD over many datasets at once ---------------------------------

_EXPLODE = 1e3  # GradientFit's explode_factor: unguarded, a larger loss only skips the epoch check
_GRID = 1.1  # ratio of the geometric grid on which the frontier is first bracketed
_FRONTIER_RTOL = 1e-13


@dataclass(frozen=True)
class BatchedPerSample:
    """R runs of the seed recipe (per-sample SGD of a constant lambda, unguarded).

    Attributes:
        coef: (R,) final estimates; NaN where the run diverged.
        status: per dataset "converged", "max_steps", "stalled" or "diverged" (GradientFit's
            words; "stalled": the coefficient stopped moving while the gradient had not fallen
            1e6-fold).
        steps: (R,) int64 steps taken when the run converged, stalled or diverged, else
            max_steps.
        bound: (R,) 2/L with L = 2 max_j Phi_j^2, the per-sample curvature GradientFit
            reports (inf where the design is zero).
        frontier: (R,) the divergence step size of noise-free per-sample SGD: an epoch
            multiplies the error c - c* by prod_j (1 - 2 lr Phi_j^2), so it diverges where
            S(lr) = sum_j log|1 - 2 lr Phi_j^2| > 0; frontier is where S first turns positive
            above ``bound`` (see ``divergence_frontier``).
    """

    coef: torch.Tensor
    status: tuple[str, ...]
    steps: torch.Tensor
    bound: torch.Tensor
    frontier: torch.Tensor


def _check_constant(designs: object, targets: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Designs (R, n_times) or (R, n_times, 1) and targets (R, n_times), checked."""
    if np.ndim(designs) == 2:  # type: ignore[arg-type]
        designs = check_tensor("designs", designs, ndim=2).unsqueeze(-1)
    designs, targets = _check(designs, targets)
    if designs.shape[2] != 1:
        raise InputError(
            "designs",
            f"shape {tuple(designs.shape)}",
            "(R, n_times) or (R, n_times, 1): the one column of a constant lambda",
        )
    return designs.cpu(), targets.cpu()


def _check_lr(lr: object, r: int) -> np.ndarray:
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
        return np.full(r, check_real("lr", lr, positive=True))
    if isinstance(lr, bool) or np.ndim(lr) != 1:  # type: ignore[arg-type]
        raise InputError("lr", repr(lr), f"a step size > 0, or one per dataset, shape ({r},)")
    steps = check_tensor("lr", lr, ndim=1).to(torch.float64).cpu()
    if steps.shape[0] != r:
        raise InputError("lr", f"shape {tuple(steps.shape)}", f"one step size per dataset, ({r},)")
    if not bool((steps > 0).all()):
        bad = int((steps <= 0).nonzero()[0])
        raise InputError(f"lr[{bad}]", float(steps[bad]), "a number > 0")
    return steps.numpy()


def _check_seeds(seeds: object, r: int) -> list[int]:
    if isinstance(seeds, torch.Tensor):
        seeds = seeds.tolist()
    try:
        found = list(seeds)  # type: ignore[call-overload]
    except TypeError as err:
        raise InputError("seeds", repr(seeds), f"one integer seed per dataset ({r})") from err
    if len(found) != r:
        raise InputError("seeds", f"{len(found)} seeds", f"one integer seed per dataset ({r})")
    return [check_seed(f"seeds[{i}]", s) for i, s in enumerate(found)]


def divergence_frontier(designs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(bound, frontier) of per-sample SGD on constant-lambda designs (R, n_times, 1).

    bound = 2/L, L = 2 max_j Phi_j^2, computed as GradientFit computes it. Below it every
    factor |1 - 2 lr Phi_j^2| of an epoch is below 1. frontier: where
    S(lr) = sum_j log|1 - 2 lr Phi_j^2| first turns positive above the bound, found on a
    geometric grid of ratio 1.1 (the first point with S > 0) and refined by regula falsi
    (Illinois) in log lr to a relative 1e-13. S is concave between its singularities at
    lr = 1/(2 Phi_j^2), each a dip to -inf; a dip inside the bracketing cell could hide an
    earlier crossing there, so "first" holds to the grid's resolution. Beyond the frontier
    such dips reopen narrow stable windows: stability is not monotone in lr.
    """
    curvature = 2 * designs.square().sum(dim=2).amax(dim=1).to(torch.float64)
    bound = torch.where(curvature > 0, 2 / curvature, torch.inf)
    squares = designs[..., 0].to(torch.float64).square().numpy()
    # a study repeats each design at several step sizes: solve each design once
    unique, first, inverse = np.unique(squares, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    ubound = bound.numpy()[first]
    frontier = np.full(unique.shape[0], np.inf)
    live = np.isfinite(ubound).nonzero()[0]

    def total(rows: np.ndarray, lr: np.ndarray) -> np.ndarray:
        factors = np.abs(1 - (2 * lr)[:, None] * unique[rows])
        # products of 8 factors (each below about 2 lr max Phi^2) cost one log instead of 8
        pad = -factors.shape[1] % 8
        if pad:
            factors = np.concatenate([factors, np.ones((factors.shape[0], pad))], axis=1)
        blocks = factors.reshape(factors.shape[0], -1, 8).prod(axis=-1)
        with np.errstate(divide="ignore"):
            return np.log(blocks).sum(axis=1)

    lo = np.log(ubound[live])
    s_lo = total(live, ubound[live])
    hi, s_hi = lo.copy(), s_lo.copy()
    searching = s_hi <= 0
    while searching.any():  # S -> +inf as lr -> inf wherever some Phi_j != 0
        idx = searching.nonzero()[0]
        lo[idx], s_lo[idx] = hi[idx], s_hi[idx]
        hi[idx] = hi[idx] + np.log(_GRID)
        s_hi[idx] = total(live[idx], np.exp(hi[idx]))
        searching[idx] = s_hi[idx] <= 0
    done = (hi - lo) <= _FRONTIER_RTOL  # S(bound) = 0: all Phi_j^2 equal
    side = np.zeros(live.shape[0], dtype=np.int8)  # Illinois: which end stayed last time
    for _ in range(200):
        idx = (~done).nonzero()[0]
        if idx.size == 0:
            break
        a, b, fa, fb = lo[idx], hi[idx], s_lo[idx], s_hi[idx]
        x = b - fb * (b - a) / (fb - fa)
        finite = np.isfinite(x) & (x > a) & (x < b)
        x = np.where(finite, x, (a + b) / 2)
        fx = total(live[idx], np.exp(x))
        up = fx > 0
        hi[idx] = np.where(up, x, b)
        s_hi[idx] = np.where(up, fx, fb)
        lo[idx] = np.where(up, a, x)
        s_lo[idx] = np.where(up, fa, np.where(np.isfinite(fx), fx, -np.finfo(float).max))
        # Illinois: halve the value at the end that stayed twice in a row
        stay_lo, stay_hi = up & (side[idx] == -1), ~up & (side[idx] == 1)
        s_lo[idx] = np.where(stay_lo, s_lo[idx] / 2, s_lo[idx])
        s_hi[idx] = np.where(stay_hi, s_hi[idx] / 2, s_hi[idx])
        side[idx] = np.where(up, -1, 1)
        done[idx] = (hi[idx] - lo[idx]) <= _FRONTIER_RTOL
    frontier[live] = np.exp(hi)
    return bound, torch.from_numpy(frontier[inverse])


def _row_sums(x: torch.Tensor) -> torch.Tensor:
    """(A, n) -> (A,): each row summed as ``fixed_sum`` sums it alone (chunks of SUM_CHUNK)."""
    n = x.shape[1]
    if n <= SUM_CHUNK:
        return x.sum(dim=1)
    whole = n - n % SUM_CHUNK
    partials = x[:, :whole].reshape(x.shape[0], -1, SUM_CHUNK).sum(dim=-1)
    if whole < n:
        partials = torch.cat([partials, x[:, whole:].sum(dim=1, keepdim=True)], dim=1)
    return _row_sums(partials)


def batched_per_sample_sgd(
    designs: torch.Tensor,
    targets: torch.Tensor,
    *,
    lr: float | torch.Tensor,
    max_steps: int = 10_000,
    tol: float = 1e-10,
    seeds: object,
) -> BatchedPerSample:
    """The seed recipe, ``GradientFit(ConstantLambda(), mode="per_sample", optimizer="sgd",
    guard=False, lr=lr[r], max_steps=max_steps, tol=tol, seed=seeds[r])``, on R datasets at
    once.

    Dataset r runs as that fit runs: c = 0 at the start; each epoch a permutation of the
    times from ``torch.randperm`` on the seed's training stream; a step on time j is
    c <- c - lr 2 (Phi_j c - k_j) Phi_j (with torch's fused multiply-add, as torch's update
    does it). It stops "diverged" where the sample loss before a step or the coefficient after
    it is not finite. At each epoch's end it keeps the best coefficient by full-batch loss and
    measures the relative change |c - c_epoch_start| / |c| over the epoch; at most ``tol``, it
    stops "converged" if the full-batch gradient has fallen 1e6-fold from its size at c = 0,
    else "stalled". An epoch whose last sample loss exceeds 1e3 times the initial residual
    scale (GradientFit's explode_factor: unguarded, only recorded) is not checked, and the
    next check measures the change from the last checked epoch. At the end the coefficient
    falls back to the best kept one where the final full-batch loss is larger. The estimate is
    the trained one; GradientFit's bias_correction="auto", which corrects a path jackknife
    bias only with path-bootstrap intervals, is not applied.

    Agreement with GradientFit: the steps are the same floating-point operations, so the
    coefficients, steps and statuses are the same bits on a machine whose torch fuses the
    update; full-batch losses and gradients (the checks) are summed row by row as
    ``fixed_sum`` sums them, except the gradient's sum, which GradientFit's autograd leaves to
    BLAS: it can differ in the last bits, which decides a check only at its threshold.

    Args:
        designs: (R, n_times) or (R, n_times, 1) constant-lambda designs, Phi_j = mean_i
            x_ij^2.
        targets: (R, n_times) targets k_j.
        lr: the step size, one for all or an (R,) tensor, one per dataset.
        max_steps: steps at most.
        tol: relative parameter change per epoch at which a run is at rest.
        seeds: R integer seeds, each what GradientFit's ``seed`` would be.

    Returns:
        BatchedPerSample with coef, status, steps, bound and frontier, each per dataset.
    """
    designs, targets = _check_constant(designs, targets)
    r, m = targets.shape
    neg_lr_all = -_check_lr(lr, r)
    max_steps = check_int("max_steps", max_steps, minimum=1)
    tol = check_real("tol", tol, nonnegative=True)
    generators = [_random.stream(s, _random.TRAINING) for s in _check_seeds(seeds, r)]
    bound, frontier = divergence_frontier(designs)

    phi_t = designs[..., 0].contiguous()
    k_t = targets.contiguous()
    phi, k = phi_t.numpy().reshape(-1), k_t.numpy().reshape(-1)
    dtype = phi.dtype
    # GradientFit's scales at c = 0: the initial loss, the residual scale, the gradient size
    squares = k_t.square()
    best_loss = squares.mean(dim=1).to(torch.float64).numpy().copy()
    reference = torch.maximum(squares.amax(dim=1), squares.mean(dim=1)).to(torch.float64).numpy()
    first_gradient = _full_gradient(phi_t, k_t, torch.zeros(r, dtype=phi_t.dtype)).numpy()
    gradient_floor = _GRAD_TOL * np.maximum(first_gradient, 1e-300)

    coef = np.full(r, np.nan, dtype=dtype)
    status = np.full(r, "max_steps", dtype=object)
    steps = np.full(r, max_steps, dtype=np.int64)
    best = np.zeros(r, dtype=dtype)

    # the datasets still running, compacted at each epoch's start
    ids = np.arange(r)
    c = np.zeros(r, dtype=dtype)
    neg_lr = neg_lr_all.astype(dtype)
    epoch_start = c.copy()
    running = np.ones(r, dtype=bool)
    flat = np.empty((m, 0), dtype=np.int64)
    loss = np.empty(0, dtype=dtype)

    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(1, max_steps + 1):
            pos = (step - 1) % m
            if pos == 0:
                keep = running.nonzero()[0]
                if keep.size == 0:
                    break
                ids, c, neg_lr, epoch_start = ids[keep], c[keep], neg_lr[keep], epoch_start[keep]
                running = running[keep]
                orders = torch.empty((ids.size, m), dtype=torch.long)
                for row, dataset in enumerate(ids.tolist()):
                    torch.randperm(m, generator=generators[dataset], out=orders[row])
                flat = (orders.numpy() + (ids * m)[:, None]).T.copy()  # (m, A) flat indices
            where = flat[pos]
            p, y = phi.take(where), k.take(where)
            x = p * c
            x -= y
            loss = x * x
            gradient = x * 2
            gradient *= p
            new = torch.addcmul(
                torch.from_numpy(c), torch.from_numpy(neg_lr), torch.from_numpy(gradient)
            ).numpy()
            finite = np.isfinite(loss) & np.isfinite(new)
            if not finite.all():
                lost = running & ~finite
                if lost.any():
                    steps[ids[lost]] = step
                    status[ids[lost]] = "diverged"
                    running &= finite
                new[~finite] = 0  # finished runs stay put until the next compaction
                neg_lr[~finite] = 0
            c = new
            if pos == m - 1:
                checked = running & ~(loss.astype(np.float64) > _EXPLODE * reference[ids])
                if checked.any():
                    running &= ~_epoch_end(
                        checked.nonzero()[0],
                        step,
                        ids,
                        c,
                        epoch_start,
                        phi_t,
                        k_t,
                        tol,
                        best,
                        best_loss,
                        gradient_floor,
                        coef,
                        status,
                        steps,
                    )
        # the runs that used every step
        left = running.nonzero()[0]
        if left.size:
            rows = ids[left]
            final = _full_loss(phi_t[rows], k_t[rows], torch.from_numpy(c[left])).numpy()
            worse = ~np.isfinite(final) | (final > best_loss[rows])
            coef[rows] = np.where(worse, best[rows], c[left])
    return BatchedPerSample(
        coef=torch.from_numpy(coef),
        status=tuple(status.tolist()),
        steps=torch.from_numpy(steps),
        bound=bound,
        frontier=frontier,
    )


def _full_loss(phi: torch.Tensor, k: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(A,) float64 full-batch MSE of each row at its coefficient, as GradientFit sums it."""
    return (_row_sums((phi * c.unsqueeze(1) - k).square()) / phi.shape[1]).to(torch.float64)


def _full_gradient(phi: torch.Tensor, k: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(A,) float64 |d MSE / dc| of each row, with autograd's factors: Phi_j (2 x_j / m)."""
    residuals = phi * c.unsqueeze(1) - k
    return _row_sums(phi * ((1 / phi.shape[1]) * (2 * residuals))).abs().to(torch.float64)


def _epoch_end(
    checked: np.ndarray,
    step: int,
    ids: np.ndarray,
    c: np.ndarray,
    epoch_start: np.ndarray,
    phi: torch.Tensor,
    k: torch.Tensor,
    tol: float,
    best: np.ndarray,
    best_loss: np.ndarray,
    gradient_floor: np.ndarray,
    coef: np.ndarray,
    status: np.ndarray,
    steps: np.ndarray,
) -> np.ndarray:
    """GradientFit's epoch-end check of the runs ``checked`` (positions among the running);
    records those that stop and returns a mask over the running of the ones that stopped."""
    rows = ids[checked]
    now = c[checked]
    full = _full_loss(phi[rows], k[rows], torch.from_numpy(now)).numpy()
    better = np.isfinite(full) & (full <= best_loss[rows])
    best_loss[rows] = np.where(better, full, best_loss[rows])
    best[rows] = np.where(better, now, best[rows])
    delta = np.abs(now - epoch_start[checked]).astype(np.float64)
    scale = np.abs(now).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(scale > 0, delta / np.where(scale > 0, scale, 1), delta)
    epoch_start[checked] = now
    stopped = np.zeros(ids.size, dtype=bool)
    rest = change <= tol
    if not rest.any():
        return stopped
    at = checked[rest]
    rows, now, full = rows[rest], now[rest], full[rest]
    gradient = _full_gradient(phi[rows], k[rows], torch.from_numpy(now)).numpy()
    status[rows] = np.where(gradient <= gradient_floor[rows], "converged", "stalled")
    steps[rows] = step
    worse = ~np.isfinite(full) | (full > best_loss[rows])
    coef[rows] = np.where(worse, best[rows], now)
    stopped[at] = True
    return stopped
