"""Tests of the calibration statistics of amortized posterior estimators.

Every random draw comes from a seeded torch.Generator, so each test is deterministic; the
statistical ones state the probability that a correct implementation fails them on a fresh seed.
"""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch

from pathfit.amortized._calibration import (
    c2st,
    central_coverage,
    coverage_interval,
    gaussian_posterior,
    rank_histogram,
    sbc_ks_pvalue,
    sbc_ranks,
)
from pathfit.exceptions import InputError

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _normal(shape: tuple[int, ...], generator: torch.Generator, std: float = 1.0) -> torch.Tensor:
    return std * torch.randn(shape, generator=generator, dtype=F64)


# --- simulation-based calibration ---------------------------------------------------------------


def test_sbc_ranks_hand_example() -> None:
    truths = torch.tensor([[0.5, 0.0], [2.0, -3.0]], dtype=F64)
    draws = torch.tensor(
        [
            [[0.1, 1.0], [0.9, 2.0], [0.3, -1.0]],
            [[1.0, -4.0], [2.0, -3.5], [2.0, -3.2]],
        ],
        dtype=F64,
    )
    ranks = sbc_ranks(truths, draws)
    assert ranks.dtype == torch.int64
    # strictly below: 0.1, 0.3 | -1.0 | 1.0 (the two 2.0 tie) | all three
    assert ranks.tolist() == [[2, 1], [1, 3]]
    # with a generator only the tied entry moves, to one of its 2 + 1 tied positions
    broken = sbc_ranks(truths, draws, generator=_gen(0))
    assert broken[0].tolist() == [2, 1]
    assert broken[1, 1] == 3
    assert broken[1, 0] in (1, 2, 3)


def test_sbc_ranks_ties_broken_uniformly() -> None:
    # a truth tied with 2 of its 3 draws, 3000 times: its rank is uniform on {1, 2, 3}. Each count
    # is Binomial(3000, 1/3), sd 25.8; the band of +-150 is 5.8 sd, false-failure prob. < 1e-7.
    n = 3000
    truths = torch.full((n, 1), 2.0, dtype=F64)
    draws = torch.tensor([1.0, 2.0, 2.0], dtype=F64).expand(n, 3)[..., None]
    ranks = sbc_ranks(truths, draws, generator=_gen(1))[:, 0]
    counts = torch.bincount(ranks, minlength=4)
    assert counts[0] == 0
    assert ((counts[1:] - n / 3).abs() < 150).all(), counts
    assert torch.equal(ranks, sbc_ranks(truths, draws, generator=_gen(1))[:, 0])


def test_sbc_calibrated_is_not_rejected() -> None:
    # truth and draws from the same N(0, 1): the ranks are uniform on {0..99} and the jittered
    # KS p-value is exactly U(0, 1), so the false-failure probability of p > 1e-3 is 1e-3.
    g = _gen(2)
    s, n_draws = 500, 99
    truths = _normal((s, 1), g)
    draws = _normal((s, n_draws, 1), g)
    ranks = sbc_ranks(truths, draws)
    assert int(ranks.min()) >= 0 and int(ranks.max()) <= n_draws
    p = sbc_ks_pvalue(ranks[:, 0], n_draws, generator=g)
    assert p > 1e-3
    # the same generator state gives the same p-value
    state = g.get_state()
    assert sbc_ks_pvalue(ranks[:, 0], n_draws, generator=g) == sbc_ks_pvalue(
        ranks[:, 0], n_draws, generator=torch.Generator().set_state(state)
    )


def test_sbc_overconfident_is_rejected() -> None:
    # draws from N(0, 0.5^2), half as wide as the truth's N(0, 1): the ranks pile up at 0 and L
    # (the KS distance is about 0.15, the 1e-3 critical value about 0.087 at S = 500), so the
    # test rejects with probability ~1 (false-failure probability well below 1e-6).
    g = _gen(3)
    s, n_draws = 500, 99
    truths = _normal((s, 1), g)
    draws = _normal((s, n_draws, 1), g, std=0.5)
    ranks = sbc_ranks(truths, draws)[:, 0]
    assert sbc_ks_pvalue(ranks, n_draws, generator=g) < 1e-3


def test_rank_histogram() -> None:
    ranks = torch.tensor([0, 4, 5, 9, 9, 3])
    counts, edges = rank_histogram(ranks, n_draws=9, bins=2)
    assert counts.tolist() == [3, 3]
    assert edges.tolist() == [0.0, 5.0, 10.0]
    g = _gen(4)
    ranks = torch.randint(0, 100, (1000,), generator=g)
    counts, edges = rank_histogram(ranks, n_draws=99)
    assert counts.shape == (20,) and edges.shape == (21,)
    assert int(counts.sum()) == 1000
    expected = torch.bincount(torch.div(ranks, 5, rounding_mode="floor"), minlength=20)
    assert torch.equal(counts, expected)


# --- coverage -----------------------------------------------------------------------------------


def test_central_coverage_hand_example() -> None:
    grid = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], dtype=F64)
    draws = torch.stack([grid, grid], dim=-1).expand(2, 5, 2)
    truths = torch.tensor([[0.0, 0.9], [5.0, -0.5]], dtype=F64)
    # level 0.5: [-0.5, 0.5], ends included; level 0.99: [-0.99, 0.99]
    coverage = central_coverage(truths, draws, [0.5, 0.99])
    assert coverage.dtype == F64
    assert coverage.tolist() == [[0.5, 0.5], [0.5, 1.0]]


def test_central_coverage_calibrated() -> None:
    # truth and 999 draws from the same N(0, 1) in 1000 data sets: the hits at level c are
    # Binomial(1000, c) up to the quantiles' bias of about -2c / 1000 (a third of an sd at most).
    # The Clopper-Pearson 99.9% interval misses c with probability <= 1e-3 per level, so the
    # false-failure probability of the four levels is <= 4e-3 (union bound).
    g = _gen(5)
    s, n_draws = 1000, 999
    truths = _normal((s, 1), g)
    draws = _normal((s, n_draws, 1), g)
    levels = (0.5, 0.8, 0.9, 0.95)
    coverage = central_coverage(truths, draws, levels)
    assert coverage.shape == (4, 1)
    for level, fraction in zip(levels, coverage[:, 0].tolist(), strict=True):
        lo, hi = coverage_interval(round(fraction * s), s, level=0.999)
        assert lo <= level <= hi, (level, fraction)


def test_coverage_interval() -> None:
    alpha = 0.05
    # closed forms at the ends: (alpha / 2)^(1 / n)
    assert coverage_interval(0, 20) == (0.0, pytest.approx(1 - (alpha / 2) ** (1 / 20)))
    assert coverage_interval(20, 20) == (pytest.approx((alpha / 2) ** (1 / 20)), 1.0)
    ci = scipy.stats.binomtest(37, 50).proportion_ci(confidence_level=0.9, method="exact")
    lo, hi = coverage_interval(37, 50, level=0.9)
    assert lo == pytest.approx(ci.low, rel=1e-10)
    assert hi == pytest.approx(ci.high, rel=1e-10)


# --- classifier two-sample test -----------------------------------------------------------------


def test_c2st_same_distribution() -> None:
    # equal distributions: the held-out accuracy has mean 0.5 and an sd of about 0.013 (measured
    # over 100 seeds); 0.06 is 4.6 sd, a false-failure probability of about 4e-6.
    g = _gen(6)
    threads = torch.get_num_threads()
    accuracy = c2st(_normal((1000, 1), g), _normal((1000, 1), g), generator=g)
    assert abs(accuracy - 0.5) < 0.06
    assert torch.get_num_threads() == threads


def test_c2st_shifted_distribution() -> None:
    # N(0, 1) against N(1, 1): the best accuracy is Phi(1/2) = 0.691; the test's accuracy has a
    # mean of 0.689 and an sd of about 0.011 (measured over 40 seeds), so > 0.65 (3.6 sd) fails
    # with probability about 2e-4.
    g = _gen(7)
    accuracy = c2st(_normal((1000, 1), g), 1.0 + _normal((1000, 1), g), generator=g)
    assert accuracy > 0.65


def test_c2st_deterministic_and_balanced() -> None:
    g = _gen(8)
    a, b = _normal((150, 2), g), 3.0 + _normal((90, 2), g)
    first = c2st(a, b, generator=_gen(9), epochs=50)
    assert first == c2st(a, b, generator=_gen(9), epochs=50)
    # far-apart sets: nearly every held-out point is classified right
    assert first > 0.95


# --- the exact linear-Gaussian posterior --------------------------------------------------------


def test_gaussian_posterior_matches_grid_in_1d() -> None:
    g = _gen(10)
    design = _normal((6, 1), g)
    targets = 0.8 * design[:, 0] + 0.7 * _normal((6,), g)
    noise_std, prior_mean, prior_var = 0.7, 0.3, 2.0
    mean, cov = gaussian_posterior(
        design,
        targets,
        noise_std,
        torch.tensor([prior_mean], dtype=F64),
        torch.tensor([[prior_var]], dtype=F64),
    )
    grid = torch.linspace(-10.0, 10.0, 400_001, dtype=F64)
    log_post = -0.5 * (grid - prior_mean) ** 2 / prior_var
    residuals = targets[None, :] - grid[:, None] * design[None, :, 0]
    log_post = log_post - 0.5 * (residuals**2).sum(dim=1) / noise_std**2
    weight = torch.exp(log_post - log_post.max())
    weight = weight / torch.trapezoid(weight, grid)
    grid_mean = torch.trapezoid(weight * grid, grid)
    grid_var = torch.trapezoid(weight * (grid - grid_mean) ** 2, grid)
    assert mean.shape == (1,) and cov.shape == (1, 1)
    assert float(mean[0]) == pytest.approx(float(grid_mean), abs=1e-9)
    assert float(cov[0, 0]) == pytest.approx(float(grid_var), rel=1e-7)


def test_gaussian_posterior_matches_closed_form_in_2d() -> None:
    g = _gen(11)
    design = _normal((20, 2), g)
    targets = design @ torch.tensor([1.0, -0.5], dtype=F64) + 0.3 * _normal((20,), g)
    prior_mean = torch.tensor([0.2, -0.1], dtype=F64)
    prior_cov = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=F64)
    mean, cov = gaussian_posterior(design, targets, 0.3, prior_mean, prior_cov)
    prior_precision = torch.linalg.inv(prior_cov)
    expected_cov = torch.linalg.inv(prior_precision + design.T @ design / 0.09)
    expected_mean = expected_cov @ (prior_precision @ prior_mean + design.T @ targets / 0.09)
    torch.testing.assert_close(cov, expected_cov, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(mean, expected_mean, rtol=1e-10, atol=1e-14)
    assert torch.equal(cov, cov.T)


# --- bad arguments ------------------------------------------------------------------------------

_T2 = torch.zeros(4, 1, dtype=F64)
_D3 = torch.zeros(4, 5, 1, dtype=F64)
_EYE = torch.eye(2, dtype=F64)
_BAD = [
    ("truths", lambda: sbc_ranks(torch.zeros(4, dtype=F64), _D3)),
    ("draws", lambda: sbc_ranks(_T2, torch.zeros(4, 5, 2, dtype=F64))),
    ("draws", lambda: sbc_ranks(_T2, torch.zeros(3, 5, 1, dtype=F64))),
    ("draws", lambda: central_coverage(_T2, torch.zeros(4, 5, dtype=F64), [0.5])),
    ("levels", lambda: central_coverage(_T2, _D3, [0.5, 1.0])),
    ("levels", lambda: central_coverage(_T2, _D3, [])),
    ("ranks", lambda: sbc_ks_pvalue(torch.tensor([0, 6]), 5, generator=_gen(0))),
    ("ranks", lambda: sbc_ks_pvalue(torch.zeros(3, 1, dtype=torch.int64), 5, generator=_gen(0))),
    ("bins", lambda: rank_histogram(torch.tensor([0, 1]), 5, bins=7)),
    ("hits", lambda: coverage_interval(11, 10)),
    ("level", lambda: coverage_interval(1, 10, level=1.0)),
    ("b", lambda: c2st(torch.zeros(10, 1), torch.zeros(10, 2), generator=_gen(0))),
    ("a", lambda: c2st(torch.zeros(3, 1), torch.zeros(10, 1), generator=_gen(0))),
    ("targets", lambda: gaussian_posterior(torch.zeros(3, 2), torch.zeros(4), 1.0, _EYE[0], _EYE)),
    ("prior_mean", lambda: gaussian_posterior(torch.zeros(3, 2), torch.zeros(3), 1.0, _T2, _EYE)),
    ("prior_cov", lambda: gaussian_posterior(torch.zeros(3, 2), torch.zeros(3), 1.0, _EYE[0], _T2)),
    (
        "prior_cov",
        lambda: gaussian_posterior(torch.zeros(3, 2), torch.zeros(3), 1.0, _EYE[0], -_EYE),
    ),
    (
        "noise_std",
        lambda: gaussian_posterior(torch.zeros(3, 2), torch.zeros(3), 0.0, _EYE[0], _EYE),
    ),
]


@pytest.mark.parametrize(("field", "call"), _BAD, ids=[f"{i}-{f}" for i, (f, _) in enumerate(_BAD)])
def test_bad_arguments_name_the_field(field: str, call) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_rank_histogram_under_calibration_is_flat() -> None:
    # a sanity check of the bins: 20 bins of 5 ranks each hold Binomial(2000, 1/20) counts, sd 9.7;
    # the band of +-50 is 5.1 sd per bin, a false-failure probability below 1e-5 for all 20.
    ranks = torch.randint(0, 100, (2000,), generator=_gen(12))
    counts, _ = rank_histogram(ranks, n_draws=99)
    assert ((counts - 100).abs() < 50).all()
    assert math.isclose(float(counts.sum()), 2000.0)
