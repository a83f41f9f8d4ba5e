"""Statistical checks of the counter-based normals (pathfit._philox) against the standard normal.

Each check states its false-failure probability: the chance that a correct generator, at a
seed drawn at random, fails it. The seeds here are fixed, so the tests are deterministic; the
budget says how surprising a failure would be. z-type checks use |Z| <= 5.5, a two-sided
tail of 3.8e-8 each; the p-value checks (KS, Anderson-Darling, binomial tails) require
p >= 1e-6. No test makes more than 30 checks, so a correct generator fails a given test with
probability below 3e-5, and the whole file below 1e-4.

The transform is Box-Muller from 32-bit words: radii from float32 uniforms u >= 2^-33 (so
|z| <= 6.7637, the mass cut off 2^-33 = 1.2e-10 per pair) and angles from 23 bits. Both are
far below what these sample sizes can see; tests/test_philox.py checks the bound itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pathfit import _philox

Z = 5.5
P_MIN = 1e-6


def _normals(seed: int, n_rows: int, n_cols: int, *, first_path: int = 0, c2: int = 0):
    out = np.empty((n_rows, n_cols))
    return _philox.fill_normals(seed, first_path, 0, out, c2=c2)


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    """2^22 normals: 1024 paths (256 Philox groups) x 4096 counters."""
    return _normals(20261202, 1024, 4096)


def _check_z(what: str, z: float) -> None:
    assert abs(z) <= Z, f"{what}: {z:.2f} standard errors from its expectation"


def test_moments(sample: np.ndarray) -> None:
    # 4 checks: mean 0, variance 1, skewness 0, excess kurtosis 0, each against its
    # large-sample standard error (1, sqrt 2, sqrt 6, sqrt 24 over sqrt n).
    z = sample.ravel()
    n = z.size
    mean = z.mean()
    centred = z - mean
    var = np.mean(centred**2)
    _check_z("mean", mean * math.sqrt(n))
    _check_z("variance", (var - 1.0) / math.sqrt(2.0 / n))
    _check_z("skewness", stats.skew(z) / math.sqrt(6.0 / n))
    _check_z("excess kurtosis", stats.kurtosis(z) / math.sqrt(24.0 / n))


def test_kolmogorov_smirnov(sample: np.ndarray) -> None:
    # 1 check: the whole sample, fully specified N(0, 1)
    p = stats.kstest(sample.ravel()[: 1 << 21], "norm").pvalue
    assert p >= P_MIN, f"KS p-value {p:.3g}"


def _anderson_darling_sf(a2: float) -> float:
    """P(A^2 > a2) for the fully specified case, large n: Marsaglia & Marsaglia (2004), ADinf
    (absolute error below 2e-6)."""
    if a2 < 2.0:
        cdf = (
            math.exp(-1.2337141 / a2)
            / math.sqrt(a2)
            * (
                2.00012
                + (
                    0.247105
                    - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * a2) * a2) * a2) * a2
                )
                * a2
            )
        )
    else:
        cdf = math.exp(
            -math.exp(
                1.0776
                - (2.30695 - (0.43424 - (0.082433 - (0.008056 - 0.0003146 * a2) * a2) * a2) * a2)
                * a2
            )
        )
    return 1.0 - cdf


def test_anderson_darling(sample: np.ndarray) -> None:
    # 1 check: A^2 against N(0, 1) with known parameters; its p-value needs A^2 >= ~10 to fall
    # below 1e-6 (ADinf is accurate to 2e-6, so the budget is 3e-6 here)
    z = np.sort(sample.ravel()[: 1 << 20])
    n = z.size
    log_cdf = stats.norm.logcdf(z)
    log_sf = stats.norm.logsf(z)
    i = np.arange(1, n + 1)
    a2 = -n - np.sum((2 * i - 1) * (log_cdf + log_sf[::-1])) / n
    p = _anderson_darling_sf(float(a2))
    assert p >= P_MIN, f"Anderson-Darling A^2 = {a2:.3f}, p-value {p:.3g}"
    # and the formula itself: the 10% and 5% points of the asymptotic law (Stephens 1974)
    assert _anderson_darling_sf(1.933) == pytest.approx(0.10, abs=1e-4)
    assert _anderson_darling_sf(2.492) == pytest.approx(0.05, abs=1e-4)


def test_tail_frequencies_out_to_five_sigma() -> None:
    # 2^24 normals; 10 checks: P(z > k) and P(z < -k) for k = 1..5, each an exact binomial test
    # (at 5 sigma 4.8 of each are expected)
    counts_hi, counts_lo, n = np.zeros(5, np.int64), np.zeros(5, np.int64), 0
    for chunk in range(4):
        z = _normals(7, 1024, 4096, first_path=chunk * 1024)
        for k in range(1, 6):
            counts_hi[k - 1] += int(np.count_nonzero(z > k))
            counts_lo[k - 1] += int(np.count_nonzero(z < -k))
        n += z.size
    for k in range(1, 6):
        tail = float(stats.norm.sf(k))
        for side, count in (("above", counts_hi[k - 1]), ("below", counts_lo[k - 1])):
            p = stats.binomtest(int(count), n, tail).pvalue
            assert p >= P_MIN, f"{count} of {n} {side} {k} sigma, expected {n * tail:.1f}"


def _check_uncorrelated(what: str, a: np.ndarray, b: np.ndarray) -> None:
    # r sqrt(n) is asymptotically N(0, 1) for independent variables with finite fourth moments
    a, b = a.ravel(), b.ravel()
    r = np.corrcoef(a, b)[0, 1]
    _check_z(what, r * math.sqrt(a.size))


def test_independence_across_counters_and_paths(sample: np.ndarray) -> None:
    # 8 checks: neighbouring counters of a path, the two normals of one Box-Muller pair (same
    # radius) and of the other pair of the same Philox call, neighbouring Philox groups, and
    # the squares of the same (dependence a correlation of the values would miss).
    z = sample
    pairs = {
        "counter j vs j + 1": (z[:, :-1], z[:, 1:]),
        "Box-Muller pair (path 4g vs 4g + 1)": (z[0::4], z[1::4]),
        "pairs of one call (path 4g vs 4g + 2)": (z[0::4], z[2::4]),
        "groups g vs g + 1 (path 4g vs 4g + 4)": (z[0:-4:4], z[4::4]),
    }
    for what, (a, b) in pairs.items():
        _check_uncorrelated(what, a, b)
        _check_uncorrelated(f"squares, {what}", a * a, b * b)


def test_independence_across_streams() -> None:
    # 4 checks: adjacent seeds (keys differing in one bit), seeds differing in the high word,
    # and the third counter word (c2 = 0 vs 1, the Euler tiles' streams), same counters.
    n_rows, n_cols = 256, 4096
    base = _normals(1000, n_rows, n_cols)
    for what, other in [
        ("seed s vs s + 1", _normals(1001, n_rows, n_cols)),
        ("seed s vs s + 2^32", _normals(1000 + 2**32, n_rows, n_cols)),
        ("c2 = 0 vs 1", _normals(1000, n_rows, n_cols, c2=1)),
    ]:
        _check_uncorrelated(what, base, other)
    _check_uncorrelated("squares, seed s vs s + 1", base**2, _normals(1001, n_rows, n_cols) ** 2)


def _runs_z(signs: np.ndarray) -> float:
    """Wald-Wolfowitz runs test: runs of equal signs against their expectation given the counts."""
    n_pos = int(np.count_nonzero(signs))
    n_neg = signs.size - n_pos
    n = signs.size
    runs = 1 + int(np.count_nonzero(signs[1:] != signs[:-1]))
    mean = 2.0 * n_pos * n_neg / n + 1.0
    var = (mean - 1.0) * (mean - 2.0) / (n - 1.0)
    return (runs - mean) / math.sqrt(var)


def test_runs_along_counters_and_paths(sample: np.ndarray) -> None:
    # 4 checks: signs, and above/below the median |z|, read along the counters (row by row) and
    # along the paths (column by column, crossing Philox groups)
    z = sample
    median = 0.6744897501960817  # of |z|
    _check_z("runs of signs along counters", _runs_z(z.ravel() > 0))
    _check_z("runs of signs along paths", _runs_z(z.T.ravel() > 0))
    _check_z("runs of |z| along counters", _runs_z(np.abs(z).ravel() > median))
    _check_z("runs of |z| along paths", _runs_z(np.abs(z).T.ravel() > median))


@pytest.mark.slow
def test_kolmogorov_smirnov_on_many_streams() -> None:
    # 20 checks: KS on 2^20 normals of each of 20 seeds (a stream-to-stream check of the law)
    for seed in range(20):
        z = _normals(seed * 7919, 256, 4096).ravel()
        p = stats.kstest(z, "norm").pvalue
        assert p >= P_MIN, f"seed {seed * 7919}: KS p-value {p:.3g}"
