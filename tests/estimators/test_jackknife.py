"""The path jackknife: exact leave-one-path-out refits, the finite-n bias it removes, and when
least squares estimates and corrects it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

import pathfit as pf
from pathfit.design import StreamedPaths, power_design
from pathfit.estimators._jackknife import CORRECT_ABOVE, leave_one_path_out
from pathfit.estimators._linalg import solve_least_squares
from pathfit.exceptions import InputError
from pathfit.models import ConstantLambda, PointwiseMLP, PolynomialLambda
from pathfit.targets import ConstantLam, population_targets

ABM = pf.ABM(mu=0.5, sigma=1.0)


@pytest.mark.parametrize("powers", [(2,), (2, 3, 4), (0, 1, 2)])
def test_jackknife_equals_n_explicit_leave_one_out_fits(powers):
    generator = torch.Generator().manual_seed(0)
    x = 1 + 2 * torch.randn(7, 40, generator=generator, dtype=torch.float64)
    k = 3 + torch.randn(40, generator=generator, dtype=torch.float64)
    design = power_design(x, powers)
    jackknife = leave_one_path_out(design, k, x, powers)
    assert jackknife is not None
    explicit = torch.stack(
        [
            solve_least_squares(power_design(torch.cat([x[:i], x[i + 1 :]]), powers), k).coef
            for i in range(7)
        ]
    )
    torch.testing.assert_close(jackknife.estimates, explicit, rtol=1e-11, atol=1e-13)
    full = solve_least_squares(design, k).coef
    torch.testing.assert_close(jackknife.bias, 6 * (explicit.mean(dim=0) - full))
    spread = ((explicit - explicit.mean(dim=0)) ** 2).sum(dim=0) * 6 / 7
    torch.testing.assert_close(jackknife.stderr, spread.sqrt())


def test_streamed_paths_give_the_same_jackknife_as_the_whole_paths():
    paths = pf.simulate(ABM, n_paths=600, n_times=300, horizon=10.0, seed=3)
    streamed = StreamedPaths.simulate(ABM, n_paths=600, times=paths.times, seed=3, max_power=4)
    k = population_targets(ABM, ConstantLam(0.25), paths.times).values
    whole = leave_one_path_out(power_design(paths.values, (2,)), k, paths.values, (2,))
    tiled = leave_one_path_out(streamed.design((2,)), k, streamed, (2,))
    assert whole is not None and tiled is not None
    torch.testing.assert_close(tiled.estimates, whole.estimates, rtol=1e-12, atol=0)


def test_no_jackknife_for_one_path_or_a_rank_deficient_design():
    x = torch.ones(1, 5, dtype=torch.float64)
    assert leave_one_path_out(power_design(x, (2,)), torch.ones(5), x, (2,)) is None
    x = torch.ones(3, 5, dtype=torch.float64)  # x^2 and x^3 are the same column
    design = power_design(x, (2, 3))
    assert leave_one_path_out(design, torch.ones(5, dtype=torch.float64), x, (2, 3)) is None


# R = 20000 datasets of n = 10 paths at m = 20 times, k the population E[0.25 x^2]. Measured
# (seeds 11 and 12): least squares +8.5% relative bias, the jackknife-corrected estimate -1.5%
# and -1.2%, each mean with a standard error of 0.26% of lambda. The claim "corrected bias
# below a third of the uncorrected" fails only if the means move 1.3 points (5 standard errors
# of their difference) against it: probability below 1e-6. The corrected RMSE is at most 10%
# larger (measured: 8% and 7% smaller); the ratio's standard error is below 1% at this R.
BIAS_REPLICATES = 20_000


def _loo_by_hand(x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Constant lambda on (R, n, m) path values: each dataset's fit and its n leave-one-out
    fits, c = sum_j s_j k_j / sum_j s_j^2 with s_j the mean over the paths kept of x^2."""
    n = x.shape[1]
    square = x**2
    s = square.mean(axis=1)  # (R, m)
    full = (s @ k) / (s**2).sum(axis=1)
    left = (n * s[:, None, :] - square) / (n - 1)  # (R, n, m)
    return full, (left @ k) / (left**2).sum(axis=2)


def test_leave_one_out_by_hand_is_the_jackknife():
    paths = pf.simulate(ABM, n_paths=10 * 30, n_times=20, horizon=10.0, seed=11)
    k = population_targets(ABM, ConstantLam(0.25), paths.times).values
    x = paths.values.numpy().reshape(30, 10, 20)
    full, left = _loo_by_hand(x, k.numpy())
    for r in range(30):
        design = power_design(paths.values[r * 10 : (r + 1) * 10], (2,))
        jackknife = leave_one_path_out(design, k, paths.values[r * 10 : (r + 1) * 10], (2,))
        assert jackknife is not None
        np.testing.assert_allclose(jackknife.estimates[:, 0].numpy(), left[r], rtol=1e-12)
        bias = 9 * (left[r].mean() - full[r])
        assert float(jackknife.bias[0]) == pytest.approx(bias, rel=1e-9, abs=1e-15)


@pytest.mark.slow
def test_jackknife_removes_most_of_the_finite_n_bias_at_little_cost_in_rmse():
    # the jackknife of each dataset by hand (the test above ties it to leave_one_path_out)
    n, m = 10, 20
    paths = pf.simulate(ABM, n_paths=n * BIAS_REPLICATES, n_times=m, horizon=10.0, seed=11)
    k = population_targets(ABM, ConstantLam(0.25), paths.times).values.numpy()
    full, left = _loo_by_hand(paths.values.numpy().reshape(BIAS_REPLICATES, n, m), k)
    raw = full
    corrected = full - (n - 1) * (left.mean(axis=1) - full)
    raw_bias, corrected_bias = raw.mean() - 0.25, corrected.mean() - 0.25
    assert raw_bias > 0.05 * 0.25, raw_bias  # the bias is there to remove
    assert abs(corrected_bias) < raw_bias / 3, (corrected_bias, raw_bias)
    rmse = np.sqrt(np.mean((corrected - 0.25) ** 2)) / np.sqrt(np.mean((raw - 0.25) ** 2))
    assert rmse <= 1.10, rmse


# --- when least squares estimates and corrects the bias -----------------------------------------


def _population_fit(n_paths: int, seed: int, **options: object) -> pf.LeastSquares:
    paths = pf.simulate(ABM, n_paths=n_paths, n_times=200, horizon=10.0, seed=seed)
    targets = population_targets(ABM, ConstantLam(0.25), paths.times)
    return pf.LeastSquares(ConstantLambda(), seed=seed, **options).fit(paths, targets)


@pytest.mark.parametrize("seed", range(4))
def test_auto_corrects_exactly_when_the_bias_exceeds_a_tenth_of_the_standard_error(seed):
    fit = _population_fit(10, seed)
    raw = _population_fit(10, seed, bias_correction="none")
    result, bias = fit.result_, fit.bias_
    assert result.interval == "path_bootstrap"
    assert bias.estimate is not None and result.bias == bias.estimate.tolist()
    assert raw.result_.bias == result.bias  # the same estimate, reported either way
    assert not raw.result_.bias_corrected and "not corrected" in raw.result_.bias_note
    ratio = abs(result.bias[0]) / result.stderr[0]
    assert result.bias_corrected == (ratio > CORRECT_ABOVE)
    expected = raw.result_.lam - result.bias[0] if result.bias_corrected else raw.result_.lam
    assert result.lam == pytest.approx(expected, rel=1e-12)
    assert fit.lam_ == pytest.approx(result.lam, rel=1e-12)
    # the interval is centred on the reported estimate, with the same width
    lo, hi = result.lam_ci
    assert (lo + hi) / 2 == pytest.approx(result.lam, rel=1e-12)
    raw_lo, raw_hi = raw.result_.lam_ci
    assert hi - lo == pytest.approx(raw_hi - raw_lo, rel=1e-12)


def test_jackknife_mode_corrects_any_paths_and_says_so():
    paths = pf.simulate(ABM, n_paths=30, n_times=200, horizon=10.0, seed=1)
    targets = pf.make_targets(paths, ConstantLam(0.25), noise_std=0.05, seed=1)
    auto = pf.LeastSquares(ConstantLambda()).fit(paths, targets)
    assert auto.result_.interval == "classical"
    assert auto.result_.bias is None and not auto.result_.bias_corrected
    assert "noise is on k" in auto.result_.bias_note
    forced = pf.LeastSquares(ConstantLambda(), bias_correction="jackknife").fit(paths, targets)
    assert forced.result_.bias_corrected
    assert "corrected (bias_correction = 'jackknife')" in forced.result_.bias_note
    assert forced.lam_ == pytest.approx(auto.lam_ - forced.result_.bias[0], rel=1e-12)


def test_polynomial_models_get_one_bias_per_coefficient():
    paths = pf.simulate(ABM, n_paths=40, n_times=300, horizon=10.0, seed=2)
    targets = population_targets(ABM, pf.targets.PolynomialLam([0.25, 0.1]), paths.times)
    fit = pf.LeastSquares(PolynomialLambda(1), bias_correction="jackknife").fit(paths, targets)
    assert len(fit.result_.bias) == 2
    raw = pf.LeastSquares(PolynomialLambda(1), bias_correction="none").fit(paths, targets)
    np.testing.assert_allclose(
        fit.result_.params, np.array(raw.result_.params) - np.array(fit.result_.bias), rtol=1e-12
    )


def test_jackknife_without_paths_or_for_a_network_is_an_input_error_naming_the_field():
    design = torch.ones(10, 1, dtype=torch.float64)
    estimator = pf.LeastSquares(ConstantLambda(), bias_correction="jackknife")
    with pytest.raises(InputError, match="bias_correction"):
        estimator.fit_design(design, torch.ones(10, dtype=torch.float64))
    with pytest.raises(InputError, match="bias_correction"):
        pf.LeastSquares(bias_correction="always").check_hyperparameters()  # type: ignore[arg-type]
    with pytest.raises(InputError, match="bias_correction"):
        pf.GradientFit(PointwiseMLP([4]), bias_correction="jackknife").check_hyperparameters()


def test_gradient_fit_reports_and_corrects_the_same_bias_as_least_squares():
    paths = pf.simulate(ABM, n_paths=10, n_times=200, horizon=10.0, seed=0)
    targets = population_targets(ABM, ConstantLam(0.25), paths.times)
    ls = pf.LeastSquares(ConstantLambda(), bias_correction="jackknife").fit(paths, targets)
    gd = pf.GradientFit(ConstantLambda(), bias_correction="jackknife").fit(paths, targets)
    assert gd.result_.bias_corrected
    assert gd.result_.bias == pytest.approx(ls.result_.bias, rel=1e-6)
    assert gd.lam_ == pytest.approx(ls.lam_, rel=1e-9)
    assert gd.result_.lam == pytest.approx(ls.result_.lam, rel=1e-9)


def test_claims_in_comments():
    # a 95% interval centred 0.1 standard errors off still covers 0.9488
    z = stats.norm.ppf(0.975)
    assert stats.norm.cdf(z - CORRECT_ABOVE) - stats.norm.cdf(-z - CORRECT_ABOVE) > 0.9488
