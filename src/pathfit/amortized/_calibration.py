"""Statistics that validate an amortized posterior estimator, in float64.

- simulation-based calibration (Talts et al. 2018): :func:`sbc_ranks`, :func:`sbc_ks_pvalue`,
  :func:`rank_histogram`;
- the coverage of central credible intervals: :func:`central_coverage`, with the
  Clopper-Pearson interval of a binomial proportion, :func:`coverage_interval`;
- the classifier two-sample test of two sets of draws (as sbi's ``c2st``): :func:`c2st`;
- the exact posterior of a linear-Gaussian model, a reference to compare against:
  :func:`gaussian_posterior`.

Every function is pure: randomness comes only from the ``torch.Generator`` passed in, so the same
generator state gives the same result. None changes torch's thread count.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import scipy.stats
import torch
from torch import Tensor

from pathfit._threads import fixed_mean
from pathfit._validation import check_int, check_real, check_tensor
from pathfit.exceptions import InputError

__all__ = [
    "c2st",
    "central_coverage",
    "coverage_interval",
    "gaussian_posterior",
    "rank_histogram",
    "sbc_ks_pvalue",
    "sbc_ranks",
]


def _float64(field: str, value: object, ndim: int) -> Tensor:
    return check_tensor(field, value, ndim=ndim).to(torch.float64)


def _truths_and_draws(truths: object, draws: object) -> tuple[Tensor, Tensor]:
    """``truths`` (S, p) and ``draws`` (S, L, p) as float64, their S and p checked to agree."""
    truths = _float64("truths", truths, 2)
    draws = _float64("draws", draws, 3)
    n_sets, n_params = truths.shape
    if draws.shape[0] != n_sets or draws.shape[2] != n_params:
        raise InputError(
            "draws",
            f"tensor of shape {tuple(draws.shape)}",
            f"shape ({n_sets}, L, {n_params}) to match truths of shape {tuple(truths.shape)}",
        )
    if n_sets == 0 or n_params == 0 or draws.shape[1] == 0:
        raise InputError("draws", f"tensor of shape {tuple(draws.shape)}", "no empty dimension")
    return truths, draws


def _ranks(ranks: object, n_draws: int) -> Tensor:
    """``ranks`` as a 1-d int64 tensor of integers in [0, n_draws]."""
    if not isinstance(ranks, Tensor):
        ranks = torch.as_tensor(np.asarray(ranks))
    if ranks.ndim != 1 or ranks.numel() == 0:
        raise InputError("ranks", f"tensor of shape {tuple(ranks.shape)}", "a non-empty 1-d array")
    if ranks.is_floating_point():
        if not bool((ranks == ranks.round()).all()):
            raise InputError("ranks", "non-integer values", "integer ranks")
    elif ranks.dtype == torch.bool or ranks.is_complex():
        raise InputError("ranks", f"tensor of dtype {ranks.dtype}", "integer ranks")
    ranks = ranks.detach().to(torch.int64)
    low, high = int(ranks.min()), int(ranks.max())
    if low < 0 or high > n_draws:
        raise InputError("ranks", f"values in [{low}, {high}]", f"integers in [0, {n_draws}]")
    return ranks


def sbc_ranks(truths: Tensor, draws: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """SBC ranks (Talts et al. 2018): for each data set and parameter, the number of the L
    posterior draws strictly below the true value.

    Args:
        truths: (S, p) the parameters each data set was simulated from.
        draws: (S, L, p) L draws from the estimated posterior of each data set.
        generator: if given, a truth equal to e of its draws is put at a position drawn uniformly
            among the e + 1 tied positions (rank + {0, ..., e}); one uniform is drawn per entry,
            ties or not. Without it ties count as above the truth, so ties (discrete draws)
            bias the ranks low.

    Returns:
        (S, p) int64 ranks in [0, L]. With a calibrated estimator (and continuous draws, or
        ties broken) each column is uniform on {0, ..., L}.
    """
    truths, draws = _truths_and_draws(truths, draws)
    below = (draws < truths[:, None, :]).sum(dim=1)
    if generator is None:
        return below
    ties = (draws == truths[:, None, :]).sum(dim=1)
    uniform = torch.rand(below.shape, generator=generator, dtype=torch.float64)
    extra = torch.minimum((uniform * (ties + 1)).floor().to(torch.int64), ties)
    return below + extra


def sbc_ks_pvalue(ranks: Tensor, n_draws: int, *, generator: torch.Generator) -> float:
    """The p-value of a Kolmogorov-Smirnov test that ``ranks`` are uniform on {0, ..., n_draws}.

    The discrete ranks are made continuous: u = (rank + U) / (n_draws + 1) with U ~ U(0, 1) drawn
    from ``generator``. If the ranks are uniform on {0, ..., L}, u is exactly U(0, 1), so the
    p-value (scipy's exact or asymptotic ``kstest``) is uniform: the test falsely rejects a
    calibrated estimator at level alpha with probability alpha. The jitter adds no power; a
    miscalibration the rank histogram shows (U- or hump-shaped, skewed) needs enough data sets
    to be seen, e.g. S = 500 with posteriors half as wide as they should be is rejected at 1e-3
    with probability ~1.
    """
    n_draws = check_int("n_draws", n_draws, minimum=1)
    ranks = _ranks(ranks, n_draws)
    jitter = torch.rand(ranks.shape, generator=generator, dtype=torch.float64)
    u = (ranks.to(torch.float64) + jitter) / (n_draws + 1)
    return float(scipy.stats.kstest(u.numpy(), "uniform").pvalue)


def rank_histogram(ranks: Tensor, n_draws: int, bins: int = 20) -> tuple[Tensor, Tensor]:
    """The histogram of SBC ranks in ``bins`` equal-width bins of [0, n_draws + 1).

    Rank r falls in bin floor(r * bins / (n_draws + 1)). When ``bins`` divides n_draws + 1,
    every bin holds the same number of possible ranks, so under calibration each count is
    Binomial(S, 1 / bins); otherwise the bins hold unequal numbers of ranks.

    Returns:
        counts: (bins,) int64, summing to S.
        edges: (bins + 1,) float64, from 0 to n_draws + 1.
    """
    n_draws = check_int("n_draws", n_draws, minimum=1)
    bins = check_int("bins", bins, minimum=1)
    if bins > n_draws + 1:
        raise InputError("bins", bins, f"at most n_draws + 1 = {n_draws + 1}")
    ranks = _ranks(ranks, n_draws)
    index = torch.div(ranks * bins, n_draws + 1, rounding_mode="floor")
    counts = torch.bincount(index, minlength=bins)
    edges = torch.linspace(0.0, float(n_draws + 1), bins + 1, dtype=torch.float64)
    return counts, edges


_QUANTILE_MAX = 1 << 24
"""The most elements ``torch.quantile`` takes in one call."""


def central_coverage(truths: Tensor, draws: Tensor, levels: Sequence[float]) -> Tensor:
    """The fraction of data sets whose true value lies in the central credible interval of the
    draws, at each level.

    The interval at level c runs from the (1 - c) / 2 to the (1 + c) / 2 quantile of the L draws
    (``torch.quantile``, linear interpolation), ends included. For a calibrated estimator the
    number of hits is Binomial(S, c) up to the O(1/L) error of the empirical quantiles; judge it
    with :func:`coverage_interval`.

    Args:
        truths: (S, p).
        draws: (S, L, p).
        levels: credible levels, each in (0, 1).

    Returns:
        (len(levels), p) float64 coverage fractions.
    """
    truths, draws = _truths_and_draws(truths, draws)
    if isinstance(levels, str | bytes) or not isinstance(levels, Sequence) or len(levels) == 0:
        raise InputError("levels", repr(levels), "a non-empty sequence of numbers in (0, 1)")
    values = [check_real("levels", level) for level in levels]
    for level in values:
        if not 0.0 < level < 1.0:
            raise InputError("levels", level, "numbers in (0, 1)")
    c = torch.tensor(values, dtype=torch.float64)
    q = torch.cat([(1.0 - c) / 2.0, (1.0 + c) / 2.0])
    # torch.quantile refuses inputs of more than 2^24 elements: take the data sets in chunks
    chunk = max(1, _QUANTILE_MAX // (draws.shape[1] * draws.shape[2]))
    bounds = torch.cat(
        [torch.quantile(part, q, dim=1) for part in draws.split(chunk)], dim=1
    )  # (2k, S, p)
    low, high = bounds[: len(values)], bounds[len(values) :]
    inside = (low <= truths) & (truths <= high)  # (k, S, p)
    return inside.to(torch.float64).mean(dim=1)


def coverage_interval(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Clopper-Pearson interval of a binomial proportion from ``hits`` successes in ``n``.

    Exact (from the beta quantiles) and conservative: it contains the true proportion with
    probability at least ``level`` for every proportion, so a calibrated coverage falls outside
    it with probability at most 1 - level.
    """
    n = check_int("n", n, minimum=1)
    hits = check_int("hits", hits, minimum=0)
    if hits > n:
        raise InputError("hits", hits, f"an integer in [0, n = {n}]")
    level = check_real("level", level)
    if not 0.0 < level < 1.0:
        raise InputError("level", level, "a number in (0, 1)")
    alpha = 1.0 - level
    lo = 0.0 if hits == 0 else float(scipy.stats.beta.ppf(alpha / 2, hits, n - hits + 1))
    hi = 1.0 if hits == n else float(scipy.stats.beta.ppf(1 - alpha / 2, hits + 1, n - hits))
    return lo, hi


_NET_DTYPE = torch.float32
"""The classifier's dtype: float32 halves its training time, and an accuracy needs no more."""


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> Tensor:
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return ((2.0 * u - 1.0) * bound).to(_NET_DTYPE)


class _Classifiers:
    """``folds`` independent MLPs (two ReLU hidden layers of ``hidden`` units, one logit) held
    as one wide network with block-diagonal weights, so that each layer of all of them is one
    matrix product. Weights are drawn uniform in +-1/sqrt(fan_in) (torch's default for a
    linear layer) from ``generator``, fold by fold."""

    def __init__(self, p: int, hidden: int, folds: int, generator: torch.Generator) -> None:
        sizes = [p, hidden, hidden, 1]
        blocks: list[list[Tensor]] = [[], [], [], [], [], []]
        for _ in range(folds):
            for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
                bound = 1.0 / math.sqrt(fan_in)
                blocks[2 * layer].append(_uniform((fan_in, fan_out), bound, generator))
                blocks[2 * layer + 1].append(_uniform((fan_out,), bound, generator))
        self.params = [
            torch.cat(blocks[0], dim=1),  # (p, folds * hidden): every net sees all inputs
            torch.cat(blocks[1]),
            torch.block_diag(*blocks[2]),
            torch.cat(blocks[3]),
            torch.block_diag(*blocks[4]),  # (folds * hidden, folds)
            torch.cat(blocks[5]),
        ]
        self.masks = [torch.block_diag(*[torch.ones_like(b) for b in blocks[i]]) for i in (2, 4)]
        for w in self.params:
            w.requires_grad_()

    def logits(self, x: Tensor) -> Tensor:
        """(n, folds) logits at the (n, p) points ``x``."""
        w1, b1, w2, b2, w3, b3 = self.params
        h = torch.relu(torch.addmm(b1, x, w1))
        h = torch.relu(torch.addmm(b2, h, w2 * self.masks[0]))
        return torch.addmm(b3, h, w3 * self.masks[1])


def _train(x: Tensor, y: Tensor, train: Tensor, net: _Classifiers, epochs: int, lr: float) -> None:
    """Train net's fold k on the rows of ``x`` where ``train[:, k]`` holds, with ``epochs``
    full-batch Adam steps (betas 0.9, 0.999, eps 1e-8) on the mean cross-entropy.

    Summing the folds' losses trains each as if alone: a fold's loss depends only on its own
    weights (the masks keep the off-diagonal blocks out), and Adam's update is elementwise.
    Adam is written out here: ``torch.optim.Adam``'s first step costs seconds of imports.
    """
    weight = train.to(_NET_DTYPE) / train.sum(dim=0)
    targets = y[:, None].expand_as(weight)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    moments = [torch.zeros_like(w) for w in net.params]
    squares = [torch.zeros_like(w) for w in net.params]
    for step in range(1, epochs + 1):
        losses = torch.nn.functional.binary_cross_entropy_with_logits(
            net.logits(x), targets, reduction="none"
        )
        grads = torch.autograd.grad((losses * weight).sum(dim=0).sum(), net.params)
        step_size = lr / (1.0 - beta1**step)
        correction = math.sqrt(1.0 - beta2**step)
        with torch.no_grad():
            for w, g, m, v in zip(net.params, grads, moments, squares, strict=True):
                m.lerp_(g, 1.0 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                w.addcdiv_(m, v.sqrt().div_(correction).add_(eps), value=-step_size)


def c2st(
    a: Tensor,
    b: Tensor,
    *,
    generator: torch.Generator,
    folds: int = 5,
    epochs: int = 200,
    hidden: int | None = None,
    lr: float = 0.02,
) -> float:
    """Classifier two-sample test: the mean held-out accuracy of a classifier told to separate
    the rows of ``a`` from those of ``b`` (after sbi's ``c2st``).

    The larger set is subsampled (without replacement, from ``generator``) to the size n of the
    smaller, so the classes are balanced; the 2n points are standardized with their pooled mean
    and std and split into ``folds`` stratified folds (each holds the same number of each
    class, up to one). For each fold an MLP with two ReLU hidden layers of ``hidden`` units
    (default 10 p) is trained on the other folds (``epochs`` full-batch Adam steps) and scored on
    it. 0.5 means the sets cannot be told apart, 1 that they are disjoint. Under equal
    distributions the expected accuracy is 0.5 (by the symmetry of the labels), with a standard
    deviation of about 0.4 / sqrt(n) (0.013 measured at n = 1000, p = 1), so a false alarm at
    0.5 + 0.06 has probability about 4e-6 there. About 0.7 s for n = 1000, p = 1 on one thread.

    Args:
        a: (N, p) draws from one distribution.
        b: (M, p) draws from the other.
        generator: the source of the subsample, the folds and every weight initialization.

    Returns:
        The mean held-out accuracy over the folds.
    """
    a = _float64("a", a, 2)
    b = _float64("b", b, 2)
    if a.shape[1] != b.shape[1]:
        raise InputError("b", f"tensor of shape {tuple(b.shape)}", f"{a.shape[1]} columns, as a")
    folds = check_int("folds", folds, minimum=2)
    epochs = check_int("epochs", epochs, minimum=1)
    n_params = a.shape[1]
    hidden = 10 * max(n_params, 1) if hidden is None else check_int("hidden", hidden, minimum=1)
    lr = check_real("lr", lr, positive=True)
    n = min(a.shape[0], b.shape[0])
    if n < folds or n_params == 0:
        raise InputError(
            "a",
            f"sets of {a.shape[0]} and {b.shape[0]} rows of {n_params} columns",
            f"at least folds = {folds} rows in each, and at least one column",
        )
    a = a[torch.randperm(a.shape[0], generator=generator)[:n]]
    b = b[torch.randperm(b.shape[0], generator=generator)[:n]]
    x = torch.cat([a, b])
    mean = fixed_mean(x, dim=0)
    std = (fixed_mean((x - mean) ** 2, dim=0) * (2 * n / (2 * n - 1))).sqrt()
    std = torch.where(std > 0, std, torch.ones_like(std))
    x = (x - mean) / std
    y = torch.cat([torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)])
    # stratified folds: the rows of each class, in random order, dealt round-robin to the folds
    fold_of = torch.empty(2 * n, dtype=torch.int64)
    fold_of[torch.randperm(n, generator=generator)] = torch.arange(n) % folds
    fold_of[n + torch.randperm(n, generator=generator)] = torch.arange(n) % folds
    test = fold_of[:, None] == torch.arange(folds)  # (2n, folds)
    x, y = x.to(_NET_DTYPE), y.to(_NET_DTYPE)
    net = _Classifiers(n_params, hidden, folds, generator)
    _train(x, y, ~test, net, epochs, lr)
    with torch.no_grad():
        correct = (net.logits(x) > 0) == (y[:, None] > 0.5)
    accuracies = (correct & test).sum(dim=0).to(torch.float64) / test.sum(dim=0)
    return float(accuracies.mean())


def gaussian_posterior(
    design: Tensor, targets: Tensor, noise_std: float, prior_mean: Tensor, prior_cov: Tensor
) -> tuple[Tensor, Tensor]:
    """The exact posterior of c in k = design @ c + N(0, noise_std^2 I) under c ~ N(prior_mean,
    prior_cov): Gaussian, with

        precision = prior_cov^-1 + design^T design / noise_std^2,
        mean = precision^-1 (prior_cov^-1 prior_mean + design^T k / noise_std^2),

    computed in float64 with Cholesky solves.

    Args:
        design: (m, p); targets: (m,); prior_mean: (p,); prior_cov: (p, p) positive definite.

    Returns:
        mean (p,) and cov (p, p), symmetric.
    """
    design = _float64("design", design, 2)
    targets = _float64("targets", targets, 1)
    noise_std = check_real("noise_std", noise_std, positive=True)
    prior_mean = _float64("prior_mean", prior_mean, 1)
    prior_cov = _float64("prior_cov", prior_cov, 2)
    m, p = design.shape
    if targets.shape[0] != m:
        raise InputError("targets", f"tensor of shape {tuple(targets.shape)}", f"shape ({m},)")
    if prior_mean.shape[0] != p:
        raise InputError(
            "prior_mean", f"tensor of shape {tuple(prior_mean.shape)}", f"shape ({p},)"
        )
    if prior_cov.shape != (p, p):
        raise InputError(
            "prior_cov", f"tensor of shape {tuple(prior_cov.shape)}", f"shape ({p}, {p})"
        )
    prior_chol, info = torch.linalg.cholesky_ex(prior_cov)
    if int(info) != 0:
        raise InputError("prior_cov", "a matrix that is not positive definite", "positive definite")
    eye = torch.eye(p, dtype=torch.float64)
    prior_precision = torch.cholesky_solve(eye, prior_chol)
    prior_precision = (prior_precision + prior_precision.T) / 2
    scale = noise_std**-2
    precision = prior_precision + scale * (design.T @ design)
    chol, info = torch.linalg.cholesky_ex(precision)
    if int(info) != 0:  # only by rounding: the sum of a definite and a semi-definite matrix
        raise InputError(
            "prior_cov",
            "a posterior precision that is not positive definite",
            "a better-conditioned prior",
        )
    rhs = torch.cholesky_solve(prior_mean[:, None], prior_chol) + scale * (
        design.T @ targets[:, None]
    )
    mean = torch.cholesky_solve(rhs, chol).squeeze(-1)
    cov = torch.cholesky_inverse(chol)
    return mean, (cov + cov.T) / 2
