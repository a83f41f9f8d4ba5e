"""The law of the simulated paths, reproducibility, blocking and input checks.

Every statistical check compares a sample statistic with its exact sampling distribution (or,
where none is available, its CLT approximation) at a stated per-check false-failure probability;
each test states its total, a Bonferroni sum over its checks. All seeds are fixed, so a test
that passes passes every time: the probabilities say how likely a correct simulator would be to
fail with a seed picked at random.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from pathfit import _random
from pathfit.exceptions import InputError
from pathfit.processes import ABM, GBM, OU, PATH_BLOCK, EulerSDE, sample_times, simulate

F64 = torch.float64
N_PATHS = 20_000
ALPHA = 1e-8  # per-check false-failure probability, unless a test says otherwise


def _times(*t: float, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.tensor(t, dtype=dtype)


def _z(alpha: float) -> float:
    """Two-sided standard normal quantile: P(|N(0,1)| > z) = alpha."""
    return float(stats.norm.ppf(1 - alpha / 2))


def _check_mean(
    sample: torch.Tensor, mean: float, variance: float, alpha: float, what: str
) -> None:
    """The sample mean of iid draws lies within z_{alpha/2} sqrt(variance / n) of ``mean``."""
    n = sample.numel()
    bound = _z(alpha) * math.sqrt(variance / n)
    found = float(sample.mean())
    assert abs(found - mean) <= bound, (
        f"{what}: mean {found:.6g}, expected {mean:.6g} ± {bound:.3g}"
    )


def _check_normal_variance(sample: torch.Tensor, variance: float, alpha: float, what: str) -> None:
    """For iid normal draws, (n - 1) s^2 / variance ~ chi2(n - 1): a two-sided exact test."""
    n = sample.numel()
    statistic = (n - 1) * float(sample.var()) / variance
    low, high = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], n - 1)
    assert low <= statistic <= high, (
        f"{what}: sample variance {float(sample.var()):.6g}, expected {variance:.6g} "
        f"(chi2 statistic {statistic:.1f} outside [{low:.1f}, {high:.1f}])"
    )


def _check_correlation(
    x: torch.Tensor, y: torch.Tensor, rho: float, alpha: float, what: str
) -> None:
    """Fisher z: atanh(r) ~ N(atanh(rho), 1 / (n - 3)) for bivariate normal pairs."""
    n = x.numel()
    r = float(torch.corrcoef(torch.stack([x, y]))[0, 1])
    bound = _z(alpha) / math.sqrt(n - 3)
    assert abs(math.atanh(r) - math.atanh(rho)) <= bound, (
        f"{what}: correlation {r:.4f}, expected {rho:.4f} (Fisher z bound {bound:.3g})"
    )


# --- Arithmetic Brownian motion --------------------------------------------------------------

ABM_PARAMS = {"x0": 0.3, "mu": 0.5, "sigma": 1.2}


def test_abm_closed_form_moments() -> None:
    process = ABM(**ABM_PARAMS)
    t = _times(0.0, 0.5, 2.0)
    assert torch.allclose(process.mean(t), 0.3 + 0.5 * t, rtol=1e-15, atol=0)
    assert torch.allclose(process.variance(t), 1.2**2 * t, rtol=1e-15, atol=0)


def test_abm_mean_and_variance_at_fixed_times() -> None:
    # 4 times x 2 checks at ALPHA = 1e-8 each: false-failure probability <= 8e-8 (Bonferroni).
    x0, mu, sigma = ABM_PARAMS.values()
    times = _times(0.1, 0.5, 1.0, 2.5)
    values = ABM(**ABM_PARAMS).sample_paths(N_PATHS, times, seed=11).values
    assert values.shape == (N_PATHS, 4) and values.dtype == F64
    for j, t in enumerate(times.tolist()):
        column = values[:, j]
        _check_mean(column, x0 + mu * t, sigma**2 * t, ALPHA, f"ABM mean at t={t}")
        _check_normal_variance(column, sigma**2 * t, ALPHA, f"ABM variance at t={t}")


def test_abm_increments_are_independent_with_variance_sigma2_dt() -> None:
    # Increments over [0, .5], [.5, 1], [1, 1.75], [1.75, 3]: 6 pairwise correlations, 4 means and
    # 4 variances, 14 checks at ALPHA = 1e-8: false-failure probability <= 1.4e-7 (Bonferroni;
    # the Fisher z checks are exact only asymptotically, at n = 20000 the error is negligible).
    x0, mu, sigma = ABM_PARAMS.values()
    times = _times(0.5, 1.0, 1.75, 3.0)
    values = ABM(**ABM_PARAMS).sample_paths(N_PATHS, times, seed=12).values
    start = torch.full((N_PATHS, 1), x0, dtype=F64)
    increments = torch.diff(values, dim=1, prepend=start)
    dts = torch.diff(times, prepend=times.new_zeros(1)).tolist()
    for k, dt in enumerate(dts):
        _check_mean(increments[:, k], mu * dt, sigma**2 * dt, ALPHA, f"increment {k} mean")
        _check_normal_variance(increments[:, k], sigma**2 * dt, ALPHA, f"increment {k} variance")
        for m in range(k + 1, len(dts)):
            _check_correlation(
                increments[:, k], increments[:, m], 0.0, ALPHA, f"increments {k} and {m}"
            )


def test_abm_values_share_one_path_across_times() -> None:
    # Cov(x_s, x_t) = sigma^2 min(s, t), so corr = sqrt(s / t): 3 Fisher z checks at ALPHA = 1e-8,
    # false-failure probability <= 3e-8. Independent draws per time would give corr 0 and fail.
    times = _times(0.25, 1.0, 4.0)
    values = ABM(**ABM_PARAMS).sample_paths(N_PATHS, times, seed=13).values
    t = times.tolist()
    for i in range(3):
        for j in range(i + 1, 3):
            rho = math.sqrt(t[i] / t[j])
            _check_correlation(values[:, i], values[:, j], rho, ALPHA, f"x at t={t[i]}, t={t[j]}")


def test_abm_standardized_values_pass_kolmogorov_smirnov() -> None:
    # Under a correct simulator the KS p-value is uniform: false-failure probability 1e-7.
    x0, mu, sigma = ABM_PARAMS.values()
    t = 1.5
    values = ABM(**ABM_PARAMS).sample_paths(N_PATHS, _times(0.4, t), seed=14).values[:, 1]
    standardized = ((values - (x0 + mu * t)) / (sigma * math.sqrt(t))).numpy()
    assert stats.kstest(standardized, "norm").pvalue > 1e-7


# --- Geometric Brownian motion ---------------------------------------------------------------

GBM_PARAMS = {"x0": 1.5, "mu": 0.3, "sigma": 0.25}


def _lognormal_raw_moment(k: int, t: float) -> float:
    """E[X_t^k] for X_t = x0 exp((mu - sigma^2/2) t + sigma W_t)."""
    x0, mu, sigma = GBM_PARAMS.values()
    return x0**k * math.exp(k * (mu - sigma**2 / 2) * t + k**2 * sigma**2 * t / 2)


def test_gbm_closed_form_moments() -> None:
    x0, mu = GBM_PARAMS["x0"], GBM_PARAMS["mu"]
    process = GBM(**GBM_PARAMS)
    t = _times(0.5, 1.0, 2.0)
    assert torch.allclose(process.mean(t), x0 * torch.exp(mu * t), rtol=1e-14, atol=0)
    second = torch.tensor([_lognormal_raw_moment(2, s) for s in t.tolist()], dtype=F64)
    assert torch.allclose(process.variance(t), second - process.mean(t) ** 2, rtol=1e-12, atol=0)


def test_gbm_mean_and_variance_at_fixed_times() -> None:
    # X_t is lognormal, so these are CLT checks: the sample mean has sd sqrt(Var / n) and the
    # sample variance sd sqrt((mu_4 - Var^2) / n), with mu_4 the exact central fourth moment.
    # 6 checks at a nominal ALPHA = 1e-8: false-failure probability about 6e-8 (CLT, Bonferroni).
    # With sigma^2 t <= 0.125 the lognormal is mildly skewed and n = 20000 makes the CLT accurate.
    times = _times(0.5, 1.0, 2.0)
    process = GBM(**GBM_PARAMS)
    values = process.sample_paths(N_PATHS, times, seed=21).values
    means, variances = process.mean(times).tolist(), process.variance(times).tolist()
    for j, t in enumerate(times.tolist()):
        column = values[:, j]
        mean, var = means[j], variances[j]
        _check_mean(column, mean, var, ALPHA, f"GBM mean at t={t}")
        m1, m2, m3, m4 = (_lognormal_raw_moment(k, t) for k in range(1, 5))
        central4 = m4 - 4 * m3 * m1 + 6 * m2 * m1**2 - 3 * m1**4
        bound = _z(ALPHA) * math.sqrt((central4 - var**2) / N_PATHS)
        found = float(column.var())
        assert abs(found - var) <= bound, f"GBM variance at t={t}: {found:.6g} vs {var:.6g}"


def test_gbm_log_values_are_exactly_normal() -> None:
    # log X_t ~ N(log x0 + (mu - sigma^2/2) t, sigma^2 t): exact tests, 6 checks at ALPHA = 1e-8,
    # false-failure probability <= 6e-8.
    x0, mu, sigma = GBM_PARAMS.values()
    times = _times(0.5, 1.0, 2.0)
    logs = GBM(**GBM_PARAMS).sample_paths(N_PATHS, times, seed=22).values.log()
    for j, t in enumerate(times.tolist()):
        mean = math.log(x0) + (mu - sigma**2 / 2) * t
        _check_mean(logs[:, j], mean, sigma**2 * t, ALPHA, f"GBM log mean at t={t}")
        _check_normal_variance(logs[:, j], sigma**2 * t, ALPHA, f"GBM log variance at t={t}")


# --- Ornstein-Uhlenbeck ----------------------------------------------------------------------

OU_PARAMS = {"x0": 2.0, "theta": 1.5, "mu": -0.5, "sigma": 0.8}


def test_ou_closed_form_moments() -> None:
    x0, theta, mu, sigma = OU_PARAMS.values()
    process = OU(**OU_PARAMS)
    t = _times(0.0, 0.1, 1.0, 5.0)
    expected_mean = mu + (x0 - mu) * torch.exp(-theta * t)
    expected_var = sigma**2 * (1 - torch.exp(-2 * theta * t)) / (2 * theta)
    assert torch.allclose(process.mean(t), expected_mean, rtol=1e-14, atol=0)
    assert torch.allclose(process.variance(t), expected_var, rtol=1e-12, atol=0)


def test_ou_mean_and_variance_at_fixed_times() -> None:
    # X_t is exactly normal (a Gaussian process from a fixed start): 5 times x 2 exact checks at
    # ALPHA = 1e-8, false-failure probability <= 1e-7. Uneven gaps exercise the exact transition.
    times = _times(0.1, 0.5, 1.0, 2.0, 2.05)
    process = OU(**OU_PARAMS)
    values = process.sample_paths(N_PATHS, times, seed=31).values
    means, variances = process.mean(times).tolist(), process.variance(times).tolist()
    for j, t in enumerate(times.tolist()):
        _check_mean(values[:, j], means[j], variances[j], ALPHA, f"OU mean at t={t}")
        _check_normal_variance(values[:, j], variances[j], ALPHA, f"OU variance at t={t}")


def test_ou_approaches_its_stationary_law() -> None:
    # At t = 12, theta t = 18: the mean is within 2.5 e^-18 = 4e-8 of mu and the variance within
    # a relative e^-36 of sigma^2 / (2 theta), far below the sampling error (sd/sqrt(n) = 3e-3).
    # 2 exact checks at ALPHA = 1e-8 plus a KS test at 1e-7: false-failure probability <= 1.2e-7.
    theta, mu, sigma = OU_PARAMS["theta"], OU_PARAMS["mu"], OU_PARAMS["sigma"]
    stationary_var = sigma**2 / (2 * theta)
    values = OU(**OU_PARAMS).sample_paths(N_PATHS, _times(0.5, 3.0, 12.0), seed=32).values[:, 2]
    _check_mean(values, mu, stationary_var, ALPHA, "OU stationary mean")
    _check_normal_variance(values, stationary_var, ALPHA, "OU stationary variance")
    standardized = ((values - mu) / math.sqrt(stationary_var)).numpy()
    assert stats.kstest(standardized, "norm").pvalue > 1e-7


# --- Euler-Maruyama --------------------------------------------------------------------------


def test_euler_with_constant_coefficients_reproduces_abm_moments() -> None:
    # Constant drift and diffusion make Euler exact in law whatever dt is, so the checks are the
    # exact ABM ones: 4 times x 2 checks at ALPHA = 1e-8, false-failure probability <= 8e-8.
    x0, mu, sigma = ABM_PARAMS.values()
    process = EulerSDE(drift=lambda t, x: mu, diffusion=lambda t, x: sigma, x0=x0, dt=0.05)
    times = _times(0.25, 0.5, 1.0, 2.0)
    values = process.sample_paths(N_PATHS, times, seed=41).values
    assert values.shape == (N_PATHS, 4) and values.dtype == F64
    for j, t in enumerate(times.tolist()):
        _check_mean(values[:, j], x0 + mu * t, sigma**2 * t, ALPHA, f"Euler-ABM mean at t={t}")
        _check_normal_variance(values[:, j], sigma**2 * t, ALPHA, f"Euler-ABM variance at t={t}")


EULER_OU = {"x0": 2.0, "theta": 2.0, "m": 0.5, "sigma": 0.5}


def _euler_ou(dt: float) -> EulerSDE:
    x0, theta, m, sigma = EULER_OU.values()
    return EulerSDE(
        drift=lambda t, x: theta * (m - x),
        diffusion=lambda t, x: torch.full_like(x, sigma),
        x0=x0,
        dt=dt,
    )


@pytest.mark.slow
def test_euler_ou_drift_reproduces_ou_mean() -> None:
    # Euler on a uniform step h has mean m + (x0 - m)(1 - theta h)^(t/h); since
    # 0 >= log(1 - y) + y >= -y^2 / (2 (1 - y)), its bias against the exact mean is at most
    # |x0 - m| e^{-theta t} theta^2 t h / (2 (1 - theta h)): <= 1.2e-3 here with h = 2e-3. Euler
    # values are exactly normal with variance <= sigma^2 / (theta (2 - theta h)), so the
    # tolerance is that bias bound plus z_{ALPHA/2} sd / sqrt(n); h is small enough that the bias
    # is a tenth of the sampling term. 3 checks at ALPHA = 1e-8: false-failure probability <= 3e-8.
    x0, theta, m, sigma = EULER_OU.values()
    dt, n_paths = 2e-3, 8192
    times = _times(0.25, 0.5, 1.0)
    values = _euler_ou(dt).sample_paths(n_paths, times, seed=42).values
    sd_bound = math.sqrt(sigma**2 / (theta * (2 - theta * dt)))
    for j, t in enumerate(times.tolist()):
        exact_mean = m + (x0 - m) * math.exp(-theta * t)
        bias = abs(x0 - m) * math.exp(-theta * t) * theta**2 * t * dt / (2 * (1 - theta * dt))
        tolerance = bias + _z(ALPHA) * sd_bound / math.sqrt(n_paths)
        found = float(values[:, j].mean())
        assert abs(found - exact_mean) <= tolerance, f"Euler-OU mean at t={t}: {found}"


def test_euler_ou_with_coarse_step_follows_the_euler_recursion() -> None:
    # With h = 0.1 the Euler chain is x_{k+1} - m = (1 - theta h)(x_k - m) + sigma sqrt(h) z_k:
    # exactly normal with mean m + (x0 - m) c^n and variance sigma^2 h (1 - c^{2n}) / (1 - c^2),
    # c = 1 - theta h, n = t / h. This shows the internal step is honoured: the exact OU mean is
    # 0.04-0.06 away, several times the sampling bound (~0.01). 3 times x 2 exact checks plus
    # 2 separation checks at ALPHA = 1e-8: false-failure probability <= 8e-8.
    x0, theta, m, sigma = EULER_OU.values()
    dt = 0.1
    times = _times(0.5, 1.0, 2.0)
    values = _euler_ou(dt).sample_paths(N_PATHS, times, seed=43).values
    c = 1 - theta * dt
    for j, t in enumerate(times.tolist()):
        n = round(t / dt)
        mean = m + (x0 - m) * c**n
        var = sigma**2 * dt * (1 - c ** (2 * n)) / (1 - c**2)
        _check_mean(values[:, j], mean, var, ALPHA, f"Euler-OU (h=0.1) mean at t={t}")
        _check_normal_variance(values[:, j], var, ALPHA, f"Euler-OU (h=0.1) variance at t={t}")
        if t <= 1.0:
            exact_mean = m + (x0 - m) * math.exp(-theta * t)
            bound = _z(ALPHA) * math.sqrt(var / N_PATHS)
            assert abs(float(values[:, j].mean()) - exact_mean) > bound


def test_euler_observes_time_zero_as_x0() -> None:
    process = _euler_ou(0.05)
    values = process.sample_paths(10, _times(0.0, 0.3), seed=44).values
    assert torch.equal(values[:, 0], torch.full((10,), EULER_OU["x0"], dtype=F64))


# --- Reproducibility and dtypes --------------------------------------------------------------

PROCESSES = {
    "abm": lambda: ABM(**ABM_PARAMS),
    "gbm": lambda: GBM(**GBM_PARAMS),
    "ou": lambda: OU(**OU_PARAMS),
    "euler": lambda: _euler_ou(0.05),
}


@pytest.mark.parametrize("name", list(PROCESSES))
def test_same_seed_same_values_different_seed_different(name: str) -> None:
    process = PROCESSES[name]()
    times = _times(0.2, 0.7, 1.0)
    first = process.sample_paths(300, times, seed=5).values
    again = process.sample_paths(300, times, seed=5).values
    other = process.sample_paths(300, times, seed=6).values
    assert torch.equal(first, again)
    assert (first != other).all()


def test_generator_gives_reproducible_values_from_the_same_state() -> None:
    process = ABM(**ABM_PARAMS)
    times = _times(0.2, 0.7, 1.0)
    first_gen = torch.Generator().manual_seed(123)
    second_gen = torch.Generator().manual_seed(123)
    first = process.sample_paths(300, times, generator=first_gen).values
    second = process.sample_paths(300, times, generator=second_gen).values
    assert torch.equal(first, second)
    # The generator advanced, so a second draw from it is a new sample.
    later = process.sample_paths(300, times, generator=first_gen).values
    assert (first != later).all()


def test_seed_and_generator_together_is_an_input_error() -> None:
    with pytest.raises(InputError, match="seed") as err:
        ABM().sample_paths(3, _times(1.0), seed=1, generator=torch.Generator())
    assert err.value.field == "seed"


@pytest.mark.parametrize("name", list(PROCESSES))
def test_float32_times_give_float32_values(name: str) -> None:
    times = _times(0.2, 0.7, 1.0, dtype=torch.float32)
    paths = PROCESSES[name]().sample_paths(500, times, seed=7)
    assert paths.values.dtype == torch.float32
    assert paths.times.dtype == torch.float32
    assert paths.values.shape == (500, 3)
    assert torch.isfinite(paths.values).all()


def test_float32_abm_has_the_right_mean() -> None:
    # 3 exact mean checks at ALPHA = 1e-8 (float32 rounding, ~1e-7 relative, is negligible):
    # false-failure probability <= 3e-8.
    x0, mu, sigma = ABM_PARAMS.values()
    times = _times(0.2, 0.7, 1.0, dtype=torch.float32)
    values = ABM(**ABM_PARAMS).sample_paths(N_PATHS, times, seed=8).values.double()
    for j, t in enumerate(times.tolist()):
        _check_mean(values[:, j], x0 + mu * t, sigma**2 * t, ALPHA, f"float32 ABM mean at t={t}")


@pytest.mark.parametrize("dtype", [torch.float32, "float32", torch.float64, "float64"])
def test_simulate_dtype(dtype: torch.dtype | str) -> None:
    paths = simulate(ABM(**ABM_PARAMS), n_paths=20, n_times=30, horizon=2.0, seed=3, dtype=dtype)
    expected = {"float32": torch.float32, "float64": torch.float64}.get(dtype, dtype)
    assert paths.values.dtype == expected and paths.times.dtype == expected


def test_simulate_returns_sorted_times_in_zero_to_horizon() -> None:
    horizon = 3.0
    paths = simulate(ABM(**ABM_PARAMS), n_paths=10, n_times=500, horizon=horizon, seed=4)
    assert paths.values.shape == (10, 500)
    assert paths.times.shape == (500,)
    assert (paths.times > 0).all() and (paths.times <= horizon).all()
    assert (torch.diff(paths.times) >= 0).all()
    again = simulate(ABM(**ABM_PARAMS), n_paths=10, n_times=500, horizon=horizon, seed=4)
    assert torch.equal(paths.times, again.times) and torch.equal(paths.values, again.values)
    other = simulate(ABM(**ABM_PARAMS), n_paths=10, n_times=500, horizon=horizon, seed=5)
    assert not torch.equal(paths.times, other.times)


def test_sample_times_are_uniform_on_zero_to_horizon() -> None:
    # KS test against U(0, horizon): false-failure probability 1e-7.
    horizon = 4.0
    times = sample_times(5000, horizon, seed=9)
    assert stats.kstest(times.numpy(), "uniform", args=(0.0, horizon)).pvalue > 1e-7


# --- Blocking --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PROCESSES))
def test_blocks_concatenate_to_the_materialized_paths(name: str) -> None:
    process = PROCESSES[name]()
    n_paths = 3 * PATH_BLOCK + 17
    times = _times(0.1, 0.4, 0.9)
    blocks = list(process.iter_blocks(n_paths, times, seed=21))
    assert [block.shape[0] for block in blocks] == [PATH_BLOCK] * 3 + [17]
    whole = process.sample_paths(n_paths, times, seed=21).values
    assert torch.equal(torch.cat(blocks), whole)


def test_more_paths_keep_the_earlier_blocks() -> None:
    process = ABM(**ABM_PARAMS)
    times = _times(0.1, 0.4, 0.9)
    fewer = process.sample_paths(2 * PATH_BLOCK, times, seed=22).values
    more = process.sample_paths(4 * PATH_BLOCK + 5, times, seed=22).values
    assert torch.equal(more[: 2 * PATH_BLOCK], fewer)


def test_blocks_are_not_copies_of_each_other() -> None:
    # Each block draws from its own stream; equal streams would repeat the same paths.
    blocks = list(ABM(**ABM_PARAMS).iter_blocks(2 * PATH_BLOCK, _times(0.5, 1.0), seed=23))
    assert (blocks[0] != blocks[1]).all()


# --- Given normals ---------------------------------------------------------------------------


@pytest.mark.parametrize("rng", ["philox", "legacy"])
@pytest.mark.parametrize("name", ["abm", "gbm", "ou"])
def test_values_from_normals_is_the_transition_the_sampler_uses(name: str, rng: str) -> None:
    # One block, one tile: "legacy" draws its normals from the stream (PATHS, 0, 0), "philox"
    # from counters (time index, path // 4) keyed by the seed.
    process = PROCESSES[name]()
    times = _times(0.0, 0.1, 0.4, 0.4, 0.9, 2.0)
    cpu = torch.device("cpu")
    if rng == "legacy":
        normals = _random.normals(31, (_random.PATHS, 0, 0), (50, 6), F64, cpu)
    else:
        normals = _random.counter_normals(31, 0, 0, (50, 6), F64, cpu)
    given = normals.clone()
    values = process.values_from_normals(normals, times)
    assert torch.equal(values, process.sample_paths(50, times, seed=31, rng=rng).values)
    assert torch.equal(normals, given)


def test_values_from_normals_follow_the_closed_forms() -> None:
    times = _times(0.2, 0.5, 1.5)
    normals = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]], dtype=F64)
    x0, mu, sigma = ABM_PARAMS.values()
    w = torch.cumsum(torch.diff(times, prepend=times.new_zeros(1)).sqrt() * normals, dim=1)
    abm = ABM(**ABM_PARAMS).values_from_normals(normals, times)
    assert torch.allclose(abm, x0 + mu * times + sigma * w, rtol=1e-14, atol=1e-14)
    x0, mu, sigma = GBM_PARAMS.values()
    gbm = GBM(**GBM_PARAMS).values_from_normals(normals, times)
    exact = x0 * torch.exp((mu - sigma**2 / 2) * times + sigma * w)
    assert torch.allclose(gbm, exact, rtol=1e-14, atol=0)


def test_values_from_normals_wants_one_normal_per_time() -> None:
    with pytest.raises(InputError) as err:
        ABM().values_from_normals(torch.zeros((4, 3), dtype=F64), _times(0.5, 1.0))
    assert err.value.field == "normals" and "(4, 3)" in str(err.value)


# --- Bad input -------------------------------------------------------------------------------

T = _times(0.5, 1.0)

BAD_INPUTS = {
    "abm sigma < 0": (lambda: ABM(sigma=-0.7), "sigma", "-0.7"),
    "gbm sigma < 0": (lambda: GBM(sigma=-0.3), "sigma", "-0.3"),
    "ou sigma < 0": (lambda: OU(sigma=-2.5), "sigma", "-2.5"),
    "sigma nan": (lambda: ABM(sigma=float("nan")), "sigma", "nan"),
    "n_paths 0": (lambda: ABM().sample_paths(0, T, seed=0), "n_paths", "0"),
    "n_paths < 0": (lambda: ABM().sample_paths(-3, T, seed=0), "n_paths", "-3"),
    "n_paths float": (lambda: ABM().sample_paths(2.5, T, seed=0), "n_paths", "2.5"),
    "unsorted times": (lambda: ABM().sample_paths(3, _times(1.0, 0.5), seed=0), "times", "sorted"),
    "negative times": (lambda: ABM().sample_paths(3, _times(-0.5, 1.0), seed=0), "times", "-0.5"),
    "nan in times": (
        lambda: ABM().sample_paths(3, _times(0.5, float("nan"), 1.0), seed=0),
        "times",
        "nan",
    ),
    "empty times": (lambda: ABM().sample_paths(3, _times(), seed=0), "times", "empty"),
    "2-d times": (lambda: ABM().sample_paths(3, T[None, :], seed=0), "times", "(1, 2)"),
    "horizon 0": (
        lambda: simulate(ABM(), n_paths=3, n_times=3, horizon=0.0, seed=0),
        "horizon",
        "0.0",
    ),
    "horizon < 0": (
        lambda: simulate(ABM(), n_paths=3, n_times=3, horizon=-2.0, seed=0),
        "horizon",
        "-2.0",
    ),
    "n_times 0": (lambda: sample_times(0, 1.0, seed=0), "n_times", "0"),
    "bad dtype": (lambda: sample_times(3, 1.0, seed=0, dtype="float16"), "dtype", "float16"),
    "gbm x0 0": (lambda: GBM(x0=0.0), "x0", "0.0"),
    "gbm x0 < 0": (lambda: GBM(x0=-1.5), "x0", "-1.5"),
    "ou theta 0": (lambda: OU(theta=0.0), "theta", "0.0"),
    "ou theta < 0": (lambda: OU(theta=-1.0), "theta", "-1.0"),
    "euler dt 0": (lambda: EulerSDE(drift=abs, diffusion=abs, dt=0.0), "dt", "0.0"),
    "euler drift": (lambda: EulerSDE(drift=1.0, diffusion=abs), "drift", "1.0"),
    "negative seed": (lambda: ABM().sample_paths(3, T, seed=-1), "seed", "-1"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_input_error_naming_the_field(case: str) -> None:
    make, field, found = BAD_INPUTS[case]
    with pytest.raises(InputError) as err:
        make()
    assert isinstance(err.value, ValueError)
    assert err.value.field == field
    message = str(err.value)
    assert message.startswith(f"{field}:") and found in message, message


def test_iter_blocks_rejects_bad_n_paths_when_iterated() -> None:
    with pytest.raises(InputError, match="n_paths"):
        list(ABM().iter_blocks(0, T, seed=0))


# --- GPU -------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_abm_on_cuda() -> None:
    # 2 exact checks at ALPHA = 1e-8: false-failure probability <= 2e-8.
    x0, mu, sigma = ABM_PARAMS.values()
    times = _times(0.5, 1.0).to("cuda")
    process = ABM(**ABM_PARAMS)
    values = process.sample_paths(N_PATHS, times, seed=51).values
    assert values.device.type == "cuda" and values.dtype == F64
    assert torch.equal(values, process.sample_paths(N_PATHS, times, seed=51).values)
    blocks = list(process.iter_blocks(N_PATHS, times, seed=51))
    assert torch.equal(torch.cat(blocks), values)
    column = values[:, 1].cpu()
    _check_mean(column, x0 + mu, sigma**2, ALPHA, "cuda ABM mean at t=1")
    _check_normal_variance(column, sigma**2, ALPHA, "cuda ABM variance at t=1")
    paths = simulate(process, n_paths=10, n_times=20, horizon=1.0, seed=1, device="cuda")
    assert paths.values.device.type == "cuda"
    generator = torch.Generator(device="cuda").manual_seed(3)
    assert process.sample_paths(10, times, generator=generator).values.device.type == "cuda"


def test_numpy_is_seeded_by_the_autouse_fixture() -> None:
    # Guards conftest: the global numpy stream starts from seed 0 in every test.
    assert np.random.random() == np.random.RandomState(0).random()  # noqa: NPY002
