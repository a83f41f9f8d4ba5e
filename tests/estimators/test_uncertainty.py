"""Interval methods and their automatic choice: classical, path bootstrap, Newey-West, blocks.

The default experiment throughout: ABM(mu=0.5, sigma=1), 100 paths, 1000 times on (0, 10],
constant lambda = 0.25.
"""

from __future__ import annotations

import ctypes
import math
import platform

import numpy as np
import pytest
import torch
from scipy import stats

import pathfit as pf
from pathfit.estimators._uncertainty import (
    HETEROSCEDASTIC_P,
    andrews_bandwidth,
    autocorrelation,
    block_bootstrap,
    choose_interval,
    heteroscedasticity_p,
    newey_west,
    path_bootstrap,
    politis_white_block_length,
)
from pathfit.exceptions import InputError
from pathfit.models import ConstantLambda
from pathfit.targets import ConstantLam, population_targets

LAM = 0.25
ABM = pf.ABM(mu=0.5, sigma=1.0)


def _paths(seed: int) -> pf.Paths:
    return pf.simulate(ABM, n_paths=100, n_times=1000, horizon=10.0, seed=seed)


def _iid(paths: pf.Paths, seed: int) -> pf.Targets:
    return pf.make_targets(paths, ConstantLam(LAM), noise_std=0.01, seed=seed)


def _population(paths: pf.Paths) -> pf.Targets:
    return population_targets(ABM, ConstantLam(LAM), paths.times)


def _ar1(paths: pf.Paths, seed: int, phi: float = 0.8, scale: float = 0.05) -> torch.Tensor:
    """k_j = 0.25 s_j + e_j with stationary AR(1) noise e_j = phi e_{j-1} + scale * eta_j."""
    rng = np.random.default_rng(seed)
    eta = rng.standard_normal(paths.n_times)
    noise = np.empty(paths.n_times)
    noise[0] = eta[0] / np.sqrt(1 - phi**2)
    for j in range(1, paths.n_times):
        noise[j] = phi * noise[j - 1] + eta[j]
    return LAM * paths.mean_square() + scale * torch.from_numpy(noise)


def _lag1(residuals: torch.Tensor) -> float:
    r = residuals.numpy() - residuals.numpy().mean()
    return float((r[1:] * r[:-1]).sum() / (r * r).sum())


# --- the automatic choice ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_chooses_classical_for_iid_noise(seed):
    # White noise crosses the 3/sqrt(m) threshold with probability 0.13% per seed (the
    # module's own false-alarm rate, stated in choose_interval); the seeds are fixed.
    paths = _paths(seed)
    est = pf.LeastSquares(ConstantLambda()).fit(paths, _iid(paths, seed))
    note = est.result_.uncertainty_note
    assert est.interval_ == "classical"
    assert est.result_.interval == "classical"
    assert "no autocorrelation" in note
    assert "independent noise" in note
    assert f"lag-1 {_lag1(est.residuals_):.2f}" in note
    assert "3/sqrt(m) = 0.09" in note  # 3 / sqrt(1000) = 0.0949


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_chooses_newey_west_for_heteroscedastic_noise_and_says_why(seed):
    # sd proportional to k_j, which grows 30-fold over the horizon: the Breusch-Pagan statistic
    # is in the hundreds (p < 1e-30) against a threshold at p = 1e-3
    paths = _paths(seed)
    targets = pf.make_targets(
        paths, ConstantLam(LAM), noise_std=0.03, noise="heteroscedastic", seed=seed
    )
    est = pf.LeastSquares(ConstantLambda()).fit(paths, targets)
    note = est.result_.uncertainty_note
    assert est.interval_ == "hac", note
    assert "Breusch-Pagan" in note and "heteroscedastic" in note
    statistic, p_value = heteroscedasticity_p(paths.mean_square().unsqueeze(1), est.residuals_)
    assert p_value < HETEROSCEDASTIC_P
    assert f"statistic {statistic:.3g}" in note


def test_breusch_pagan_matches_a_hand_computation():
    # Koenker's form: m R^2 of r^2 on [1, design], chi-squared with the design's columns
    rng = np.random.default_rng(0)
    design = np.column_stack([rng.uniform(1, 3, 200), rng.normal(size=200)])
    residuals = rng.normal(size=200) * design[:, 0]
    squares = residuals**2
    z = np.column_stack([np.ones(200), design])
    fitted = z @ np.linalg.lstsq(z, squares, rcond=None)[0]
    r2 = 1 - ((squares - fitted) ** 2).sum() / ((squares - squares.mean()) ** 2).sum()
    statistic, p_value = heteroscedasticity_p(torch.from_numpy(design), torch.from_numpy(residuals))
    assert statistic == pytest.approx(200 * r2, rel=1e-10)
    assert p_value == pytest.approx(stats.chi2.sf(200 * r2, 2), rel=1e-8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_chooses_path_bootstrap_for_population_targets(seed):
    # The path-sample error is a smooth function of time: over 30 seeds its residuals had
    # lag-1 autocorrelation >= 0.97 and mean over lags 1-20 >= 0.72, far above 0.5.
    paths = _paths(seed)
    est = pf.LeastSquares(ConstantLambda()).fit(paths, _population(paths))
    note = est.result_.uncertainty_note
    assert est.interval_ == "path_bootstrap"
    assert est.result_.interval == "path_bootstrap"
    assert "strongly autocorrelated" in note
    assert "population" in note
    assert note.endswith("path bootstrap")
    assert f"lag-1 {_lag1(est.residuals_):.2f}" in note
    assert "lags 1-20" in note  # window m // 50


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_chooses_newey_west_for_ar1_noise(seed):
    # AR(1) with phi = 0.8: the mean autocorrelation over lags 1-20 is 0.19 with sd 0.045
    # (2000 simulated series: max 0.36), so crossing 0.5 is a 6.8 sd event (~1e-11 under a
    # normal approximation); lag-1 (0.8 +- 0.02) is never below 3/sqrt(m) = 0.09.
    paths = _paths(seed)
    est = pf.LeastSquares(ConstantLambda()).fit(paths, _ar1(paths, seed))
    note = est.result_.uncertainty_note
    assert est.interval_ == "hac"
    assert "short lags only" in note
    assert "Newey-West" in note
    assert f"lag-1 {_lag1(est.residuals_):.2f}" in note
    # prewhitened by a VAR(1) of the scores, then Andrews' AR(1) plug-in on what is left
    scores = est.model_.prepare(paths) * est.residuals_.unsqueeze(1)
    a = float((scores[1:, 0] * scores[:-1, 0]).sum() / scores[:-1, 0].square().sum())
    bandwidth = andrews_bandwidth(scores[1:] - a * scores[:-1])
    lags = max(0, math.ceil(bandwidth) - 1)
    assert note.endswith(
        f"(VAR(1) prewhitened, Andrews AR(1) plug-in bandwidth {bandwidth:.3g}: {lags} lags)"
    )
    # unwhitened, phi = 0.8 and m = 1000 give the population bandwidth
    # 1.1447 (4 phi^2 / (1 - phi^2)^2 m)^(1/3) = 30.9; one series' estimate lies within 20%
    assert 0.8 * 30.9 < andrews_bandwidth(scores) < 1.2 * 30.9


def test_auto_chooses_classical_for_noise_free_targets_and_says_rounding():
    paths = _paths(0)
    est = pf.LeastSquares(ConstantLambda()).fit(paths, pf.make_targets(paths, ConstantLam(LAM)))
    assert est.interval_ == "classical"
    assert "rounding" in est.result_.uncertainty_note
    assert abs(est.lam_ - LAM) < 1e-14


def test_fit_design_on_population_data_cannot_choose_path_bootstrap():
    paths = _paths(0)
    targets = _population(paths)
    design = paths.mean_square().unsqueeze(1)
    est = pf.LeastSquares(ConstantLambda()).fit_design(design, targets.values)
    note = est.result_.uncertainty_note
    assert est.interval_ != "path_bootstrap"
    assert est.interval_ == "hac"
    assert "not at hand" in note
    # the long window: a bandwidth of at least m / 10 = 100, so at least 99 lags
    lags = int(note.rsplit(": ", 1)[1].removesuffix(" lags)"))
    assert lags >= 99


def test_choose_interval_with_few_times_is_classical():
    residuals = torch.tensor([1.0, -1.0, 1.0, -1.0, 0.5], dtype=torch.float64)
    method, reason = choose_interval(residuals, residuals + 10, have_paths=True)
    assert method == "classical"
    assert "only 5 times" in reason


def test_path_bootstrap_with_fit_design_is_an_input_error_naming_interval():
    paths = _paths(0)
    targets = _population(paths)
    est = pf.LeastSquares(ConstantLambda(), interval="path_bootstrap")
    with pytest.raises(InputError, match="interval") as info:
        est.fit_design(paths.mean_square().unsqueeze(1), targets.values)
    assert info.value.field == "interval"
    # with the paths at hand the same request works
    assert est.fit(paths, targets).interval_ == "path_bootstrap"


# --- the path bootstrap measures the real sampling error --------------------------------------


@pytest.mark.slow
def test_path_bootstrap_se_matches_the_sampling_sd_and_classical_misses_it():
    n_rep = 150
    estimates, boot_se, classical_se = [], [], []
    for seed in range(n_rep):
        paths = _paths(seed)
        targets = _population(paths)
        boot = pf.LeastSquares(ConstantLambda(), interval="path_bootstrap", seed=seed)
        boot.fit(paths, targets)
        classical = pf.LeastSquares(ConstantLambda(), interval="classical").fit(paths, targets)
        estimates.append(boot.lam_)
        boot_se.append(float(boot.stderr_[0]))
        classical_se.append(float(classical.stderr_[0]))
    true_sd = float(np.std(estimates, ddof=1))  # the issue measured 0.0245 over 300 replicates
    median_boot = float(np.median(boot_se))  # the issue measured 0.0249

    # (n-1) s^2 / sd^2 ~ chi2(n-1) for the (near-normal) estimates: with probability 1 - 1e-6
    # the sample sd lies within these factors of the true sd.
    alpha = 1e-6
    low = np.sqrt(stats.chi2.ppf(alpha / 2, n_rep - 1) / (n_rep - 1))  # 0.74
    high = np.sqrt(stats.chi2.isf(alpha / 2, n_rep - 1) / (n_rep - 1))  # 1.29
    # 10% slack for the bootstrap itself: the median of 150 SEs (each +-15%) moves by ~1.5%,
    # resampling n = 100 paths biases the sd by -0.5%, and median vs rms differ by ~2%.
    slack = 0.10
    ratio = median_boot / true_sd
    assert (1 - slack) / high <= ratio <= (1 + slack) / low, (median_boot, true_sd)
    # the classical error treats the path sample as exact: the issue measured 0.0003 vs 0.0245
    assert np.median(classical_se) < 0.05 * true_sd, (np.median(classical_se), true_sd)


# --- Newey-West against the sandwich formula ----------------------------------------------------


def _white(design: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    bread = np.linalg.inv(design.T @ design)
    meat = (design * residuals[:, None] ** 2).T @ design
    return bread @ meat @ bread


def test_newey_west_without_lags_is_white_times_m_over_m_minus_p():
    rng = np.random.default_rng(3)
    m, p = 40, 2
    design = np.column_stack([rng.uniform(1, 5, m), rng.uniform(-2, 2, m) ** 2])
    residuals = rng.standard_normal(m) * np.linspace(0.5, 2.0, m)  # heteroskedastic
    hac = newey_west(torch.from_numpy(design), torch.from_numpy(residuals), 0.95, "x", lags=0)
    expected = _white(design, residuals) * m / (m - p)
    assert hac.method == "hac"
    assert hac.reason == "x (bandwidth 1 given: 0 lags)"
    np.testing.assert_allclose(hac.cov.numpy(), expected, rtol=1e-10, atol=0)
    assert hac.quantile == pytest.approx(stats.norm.ppf(0.975), rel=1e-12)


def test_newey_west_without_lags_equals_classical_when_residuals_have_equal_size():
    # |e_j| = c for all j: meat = c^2 Phi^T Phi, so White * m/(m-p) = s^2 (Phi^T Phi)^-1 exactly.
    rng = np.random.default_rng(4)
    m, p = 30, 2
    design = np.column_stack([rng.uniform(1, 5, m), rng.uniform(1, 3, m)])
    residuals = 0.3 * rng.choice([-1.0, 1.0], m)
    hac = newey_west(torch.from_numpy(design), torch.from_numpy(residuals), 0.95, "x", lags=0)
    s2 = (residuals**2).sum() / (m - p)
    np.testing.assert_allclose(
        hac.cov.numpy(), s2 * np.linalg.inv(design.T @ design), rtol=1e-10, atol=0
    )


def test_newey_west_matches_bartlett_weighted_sandwich_on_a_tiny_design():
    design = np.array(
        [
            [1.0, 0.5, 2.0],
            [1.0, 1.5, -1.0],
            [1.0, 2.0, 0.5],
            [1.0, -0.5, 1.5],
            [1.0, 3.0, 0.0],
            [1.0, 1.0, -2.0],
            [1.0, 2.5, 1.0],
        ]
    )
    residuals = np.array([0.3, -0.1, 0.4, 0.2, -0.5, 0.1, -0.2])
    lags = 2
    m, p = design.shape
    scores = design * residuals[:, None]
    meat = scores.T @ scores
    for lag in range(1, lags + 1):
        weight = 1 - lag / (lags + 1)  # Bartlett: 2/3, 1/3
        for j in range(lag, m):
            outer = np.outer(scores[j], scores[j - lag])
            meat += weight * (outer + outer.T)
    bread = np.linalg.inv(design.T @ design)
    expected = bread @ meat @ bread * m / (m - p)
    hac = newey_west(torch.from_numpy(design), torch.from_numpy(residuals), 0.9, "x", lags=lags)
    np.testing.assert_allclose(hac.cov.numpy(), expected, rtol=1e-10, atol=1e-15)
    # and the lags matter here: the answer differs from White's
    assert not np.allclose(expected, _white(design, residuals) * m / (m - p), rtol=1e-3)


def test_newey_west_of_a_rank_deficient_design_gives_no_covariance_and_says_why():
    design = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [4.0, 8.0]], dtype=torch.float64)
    hac = newey_west(design, torch.ones(4, dtype=torch.float64), 0.95, "x", lags=1)
    assert hac.cov is None
    assert "rank 1 < 2" in hac.note


# --- block bootstrap ----------------------------------------------------------------------------


def _cubic_data(paths: pf.Paths) -> tuple[torch.Tensor, torch.Tensor]:
    """The design of powers 2 and 3, and k = 0.25 s + 0.01 x^3-mean + white noise."""
    design = pf.power_design(paths.values, (2, 3))
    targets = design @ torch.tensor([LAM, 0.01], dtype=torch.float64)
    targets = targets + 0.05 * torch.from_numpy(np.random.default_rng(5).standard_normal(1000))
    return design, targets


def _block_draws(seed: int, n_bootstrap: int = 50) -> torch.Tensor:
    design, targets = _cubic_data(_paths(0))
    generator = torch.Generator().manual_seed(seed)
    out = block_bootstrap(
        design, targets, 0.95, "x", block_length=10, n_bootstrap=n_bootstrap, generator=generator
    )
    assert out.method == "block_bootstrap"
    assert out.reason == "x (VAR(1) prewhitened, blocks of 10 times, given)"
    assert out.cov is not None and out.cov.shape == (2, 2)
    return out.draws


def test_block_bootstrap_draws_shape_and_reproducibility():
    draws = _block_draws(seed=11)
    assert draws.shape == (50, 2)
    assert torch.isfinite(draws).all()
    assert torch.equal(draws, _block_draws(seed=11))
    assert not torch.allclose(draws, _block_draws(seed=12))
    # the replicates scatter around the fit of the data they resample
    assert abs(float(draws[:, 0].mean()) - LAM) < 0.01


# --- bootstrap draws depend on the seed alone ---------------------------------------------------

M_PERTURB = -6  # glibc's mallopt option: fill fresh allocations with the complement of a byte


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(M_PERTURB) is glibc's")
def test_bootstrap_draws_do_not_depend_on_fresh_memory_or_torch_threads():
    # Perturb byte 255 makes fresh memory read as zeros, 1 as 0xfe bytes. torch.linalg.lstsq's
    # CPU driver read such memory as its column pivots, so the first draw of either bootstrap
    # depended on what had run before: the reproducibility test above flaked.
    paths = _paths(0)
    design, targets = _cubic_data(paths)
    libc = ctypes.CDLL(None)
    threads = torch.get_num_threads()
    runs = []
    try:
        for perturb, n_threads in [(255, 1), (1, 1), (255, 3), (1, 3)]:
            assert libc.mallopt(M_PERTURB, perturb) == 1
            torch.set_num_threads(n_threads)
            block = block_bootstrap(
                design,
                targets,
                0.95,
                "x",
                block_length=10,
                n_bootstrap=50,
                generator=torch.Generator().manual_seed(11),
            )
            path = path_bootstrap(
                paths.values,
                (2, 3),
                targets,
                0.95,
                "x",
                n_bootstrap=50,
                generator=torch.Generator().manual_seed(11),
            )
            runs.append((block.draws, path.draws))
    finally:
        libc.mallopt(M_PERTURB, 0)  # glibc's default: no filling
        torch.set_num_threads(threads)
    for block, path in runs[1:]:
        assert torch.equal(block, runs[0][0])
        assert torch.equal(path, runs[0][1])


def test_block_bootstrap_covariance_is_the_moving_block_variance_of_the_prewhitened_scores():
    # One parameter, m = 1000: the scores s_t = phi_t r_t, their AR(1) coefficient a, the
    # innovations u_t = s_t - a s_(t-1) (999 of them, centred) cut in blocks of 27 (37 blocks
    # exactly). A replicate sums 37 blocks drawn uniformly from the 973 starts, so its sum has
    # variance 37 var_s(B_s), B_s the block sums; blackened by 1 / (1 - a), scaled by m / 999
    # and by (Phi^T Phi)^-1, times m / (m - 1). With 20000 replicates the bootstrap variance
    # has a relative sd of sqrt(2 / 20000) = 1%: a 5% tolerance fails with probability < 1e-6.
    paths = _paths(0)
    design = paths.mean_square().unsqueeze(1)
    targets = _ar1(paths, 1, phi=0.6)
    out = block_bootstrap(
        design,
        targets,
        0.95,
        "x",
        block_length=27,
        n_bootstrap=20_000,
        generator=torch.Generator().manual_seed(0),
    )
    x, k = design[:, 0].numpy(), targets.numpy()
    c = (x @ k) / (x @ x)
    s = x * (k - c * x)
    a = (s[1:] @ s[:-1]) / (s[:-1] @ s[:-1])
    u = s[1:] - a * s[:-1]
    u = u - u.mean()
    blocks = np.array([u[i : i + 27].sum() for i in range(999 - 27 + 1)])
    expected = 37 * blocks.var() / (1 - a) ** 2 * (1000 / 999) ** 2 / (x @ x) ** 2 * 1000 / 999
    assert out.cov is not None
    assert float(out.cov[0, 0]) == pytest.approx(expected, rel=0.05)
    assert float(out.draws.mean()) == pytest.approx(c, abs=4 * np.sqrt(expected / 20_000))


def test_path_bootstrap_solves_each_replicate_on_its_own():
    # Two paths v and -v, powers 1 and 2, k = 3 v^2: every replicate fits (0, 3) exactly. One
    # that takes each path once has a zero first column (rank 1); lstsq answered (0, 0) for it
    # whenever it was not the first replicate.
    v = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    draws = path_bootstrap(
        torch.stack([v, -v]),
        (1, 2),
        3 * v**2,
        0.95,
        "x",
        n_bootstrap=50,
        generator=torch.Generator().manual_seed(0),
    ).draws
    assert draws.shape == (50, 2)
    np.testing.assert_allclose(draws.numpy(), np.tile([0.0, 3.0], (50, 1)), rtol=0, atol=1e-12)


# --- GradientFit reports the same uncertainty as LeastSquares -----------------------------------


@pytest.mark.parametrize("kind", ["iid", "population", "ar1"])
def test_gradient_fit_gives_the_same_interval_and_stderr_as_least_squares(kind):
    paths = _paths(0)
    targets = {
        "iid": lambda: _iid(paths, 0),
        "population": lambda: _population(paths),
        "ar1": lambda: _ar1(paths, 0),
    }[kind]()
    ls = pf.LeastSquares(ConstantLambda()).fit(paths, targets)
    grad = pf.GradientFit(ConstantLambda()).fit(paths, targets)
    assert grad.result_.status == "converged"
    expected = {"iid": "classical", "population": "path_bootstrap", "ar1": "hac"}[kind]
    assert ls.interval_ == grad.interval_ == grad.result_.interval == expected
    assert grad.result_.lam_stderr == pytest.approx(ls.result_.lam_stderr, rel=1e-8)
    assert grad.result_.uncertainty_note == ls.result_.uncertainty_note


def test_autocorrelation_matches_numpy():
    x = torch.from_numpy(np.random.default_rng(6).standard_normal(200))
    xc = x.numpy() - x.numpy().mean()
    for lag in (1, 2, 5):
        expected = (xc[lag:] * xc[:-lag]).sum() / (xc * xc).sum()
        assert autocorrelation(x, lag) == pytest.approx(expected, rel=1e-12)
    assert autocorrelation(x, 500) == 0.0


def test_one_path_gives_no_path_bootstrap_interval_and_says_why():
    # One path: every resample is that path, so the bootstrap spread is zero; a zero-width
    # interval around an estimate that is off (k is a population quantity) would exclude the
    # truth. No interval, with the reason, is what the fit can honestly say.
    paths = pf.simulate(ABM, n_paths=1, n_times=200, horizon=10.0, seed=0)
    targets = _population(paths)
    for interval in ("auto", "path_bootstrap"):
        est = pf.LeastSquares(ConstantLambda(), interval=interval).fit(paths, targets)
        assert est.result_.interval == "path_bootstrap"
        assert est.cov_ is None
        assert abs(est.lam_ - LAM) > 1e-3  # one path is far from the population
        assert est.result_.lam_ci is None
        assert "one path" in est.result_.uncertainty_note


def test_one_path_gives_no_path_clustered_interval_for_a_network():
    from pathfit.models import PointwiseMLP

    paths = pf.simulate(ABM, n_paths=1, n_times=100, horizon=10.0, seed=3)
    targets = _population(paths)
    est = pf.GradientFit(PointwiseMLP((4,)), interval="path_bootstrap", max_steps=10)
    result = est.fit(paths, targets).result_
    assert result.interval == "path_cluster"
    assert result.lam_stderr is None
    assert "one path" in result.uncertainty_note


def test_andrews_bandwidth_matches_a_hand_computation():
    # one column: rho = sum e_t e_(t-1) / sum e_(t-1)^2, s^2 = mean (e_t - rho e_(t-1))^2,
    # alpha(1) = 4 rho^2 / ((1 - rho)^2 (1 + rho)^2), S = 1.1447 (alpha m)^(1/3)
    e = [1.0, 2.0, 0.5, -1.0, 0.3, 1.5, -0.2, 0.8, 1.1, -0.4]
    rho = sum(a * b for a, b in zip(e[1:], e[:-1], strict=True)) / sum(x * x for x in e[:-1])
    alpha = 4 * rho**2 / ((1 - rho) ** 2 * (1 + rho) ** 2)
    expected = 1.1447 * (alpha * len(e)) ** (1 / 3)
    got = andrews_bandwidth(torch.tensor(e, dtype=torch.float64).unsqueeze(1))
    assert got == pytest.approx(expected, rel=1e-12)
    # two columns: the innovation variances weigh them
    f = [0.3, -0.1, 0.4, 0.2, -0.5, 0.1, 0.0, 0.6, -0.3, 0.2]
    num = den = 0.0
    for col in (e, f):
        r = sum(a * b for a, b in zip(col[1:], col[:-1], strict=True)) / sum(
            x * x for x in col[:-1]
        )
        s2 = sum((a - r * b) ** 2 for a, b in zip(col[1:], col[:-1], strict=True)) / (len(col) - 1)
        num += 4 * r**2 * s2**2 / ((1 - r) ** 6 * (1 + r) ** 2)
        den += s2**2 / (1 - r) ** 4
    both = torch.tensor([e, f], dtype=torch.float64).T
    assert andrews_bandwidth(both) == pytest.approx(1.1447 * (num / den * 10) ** (1 / 3), rel=1e-12)


def test_politis_white_block_length_matches_a_hand_computation():
    rng = np.random.default_rng(5)
    n, phi = 400, 0.6
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.standard_normal()
    # by hand, as the docstring states it
    y = x - x.mean()
    acov = np.array([np.dot(y[k:], y[: n - k]) / n for k in range(n)])
    rho = acov / acov[0]
    k_n = max(5, int(np.ceil(np.sqrt(np.log10(n)))))
    threshold = 2 * np.sqrt(np.log10(n) / n)
    m_hat = next(k - 1 for k in range(1, n) if np.all(np.abs(rho[k : k + k_n]) < threshold))
    big_m = 2 * max(m_hat, 1)
    lam = [1.0 if k / big_m <= 0.5 else 2 * (1 - k / big_m) for k in range(1, big_m + 1)]
    g = acov[0] + 2 * sum(w * acov[k] for w, k in zip(lam, range(1, big_m + 1), strict=True))
    big_g = 2 * sum(w * k * acov[k] for w, k in zip(lam, range(1, big_m + 1), strict=True))
    expected = round((2 * big_g**2 / (4 / 3 * g**2)) ** (1 / 3) * n ** (1 / 3))
    assert politis_white_block_length(torch.from_numpy(x)) == expected
    # white noise gets short blocks, persistent noise long ones
    assert politis_white_block_length(torch.from_numpy(rng.standard_normal(n))) <= 3
    assert politis_white_block_length(torch.from_numpy(x)) > 5
