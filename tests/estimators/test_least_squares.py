"""Closed-form least squares: exact answers on noise-free targets, honest error bars with noise.

Every number is checked against something computed independently in the test: the true
coefficients of noise-free targets, the one-parameter normal equation lam = sum s k / sum s^2,
or the sampling law of the classical estimates under iid Gaussian noise.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from scipy import stats

import pathfit as pf
from pathfit.models import ConstantLambda, PointwiseMLP, PolynomialK, PolynomialLambda, SeedNetwork
from pathfit.targets import ConstantLam, KPolynomial, PolynomialLam

LAM = 0.25

# The two polynomial problems of the issue: lambda(x) of degree 2 and k of degree 3. A horizon of
# 2 keeps the monomial columns within a few orders of magnitude (scaled condition number ~50).
POLY_CASES = {
    "poly_lambda": (PolynomialLam((0.1, 0.02, 0.05)), lambda: PolynomialLambda(2)),
    "poly_k": (KPolynomial((0.3, -0.2, 0.25, 0.1)), lambda: PolynomialK(3)),
}
POLY_N_TIMES = 200
POLY_NOISE_STD = 1e-2  # standard errors of 1e-3..2e-2: far above rounding, visible in every fit


@pytest.fixture(scope="module")
def seed_data() -> tuple[pf.Paths, pf.Targets]:
    """The seed experiment: ABM x0 = 0, mu = 0.5, sigma = 1, T = 10, n = 100, m = 1000."""
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=1000, horizon=10.0, seed=0)
    return paths, pf.make_targets(paths, ConstantLam(LAM))


@pytest.fixture(scope="module")
def poly_paths() -> pf.Paths:
    return pf.simulate(
        pf.ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=POLY_N_TIMES, horizon=2.0, seed=1
    )


def _normal_equation_lam(paths: pf.Paths, k: torch.Tensor) -> float:
    """The one-parameter least-squares solution written out: sum_j s_j k_j / sum_j s_j^2."""
    s = paths.values.square().mean(dim=0)
    return float((s * k).sum() / s.square().sum())


# --- noise-free: exact answers ------------------------------------------------------------------


def test_seed_experiment_recovers_lambda_to_rounding(seed_data):
    paths, targets = seed_data
    est = pf.LeastSquares(ConstantLambda()).fit(paths, targets)

    assert est.coef_.dtype == torch.float64
    assert abs(est.lam_ - LAM) <= 1e-10 * LAM
    # and it is the solution of the normal equation, not merely close to the truth
    assert est.lam_ == pytest.approx(_normal_equation_lam(paths, targets.values), rel=1e-13)
    assert est.result_.status == "converged"
    assert est.result_.lam == est.lam_
    assert est.rank_ == 1


def test_default_model_is_constant_lambda(seed_data):
    paths, targets = seed_data
    est = pf.LeastSquares().fit(paths, targets)
    assert est.result_.param_names == ("lam",)
    assert abs(est.lam_ - LAM) <= 1e-10 * LAM


def test_plain_tensor_targets_give_the_same_fit(seed_data):
    paths, targets = seed_data
    from_targets = pf.LeastSquares().fit(paths, targets)
    from_tensor = pf.LeastSquares().fit(paths, targets.values.clone())
    assert torch.equal(from_targets.coef_, from_tensor.coef_)


def test_predict_reproduces_noise_free_targets(seed_data):
    paths, targets = seed_data
    est = pf.LeastSquares().fit(paths, targets)
    torch.testing.assert_close(est.predict(paths), targets.values, rtol=1e-12, atol=0.0)


def test_float32_paths_are_fitted_in_float32(seed_data):
    paths32 = pf.simulate(
        pf.ABM(mu=0.5, sigma=1.0),
        n_paths=100,
        n_times=1000,
        horizon=10.0,
        seed=0,
        dtype="float32",
    )
    est = pf.LeastSquares().fit(paths32, pf.make_targets(paths32, ConstantLam(LAM)))
    assert est.coef_.dtype == torch.float32
    # float32 eps is 1.2e-7; a backward-stable solve stays within a few of them
    assert abs(est.lam_ - LAM) <= 1e-6 * LAM


@pytest.mark.parametrize("case", sorted(POLY_CASES))
def test_polynomial_coefficients_recovered_noise_free(poly_paths, case):
    spec, make_model = POLY_CASES[case]
    est = pf.LeastSquares(make_model()).fit(poly_paths, pf.make_targets(poly_paths, spec))

    # absolute error, per coefficient; the coefficients are O(0.01..0.3) and rounding gives ~1e-15
    torch.testing.assert_close(est.coef_, spec.params, rtol=0.0, atol=1e-8)
    assert est.rank_ == len(spec.coef)
    assert est.condition_number_ < 1e3
    assert est.result_.params == pytest.approx(spec.params.tolist(), rel=0, abs=1e-8)


# --- noise: honest error bars -------------------------------------------------------------------


def test_noisy_constant_lambda_stderr_and_interval_match_the_formula(seed_data):
    paths, _ = seed_data
    targets = pf.make_targets(paths, ConstantLam(LAM), noise_std=0.5, seed=11)
    est = pf.LeastSquares(level=0.9, interval="classical").fit(paths, targets)

    s = paths.values.square().mean(dim=0)
    k = targets.values
    lam = _normal_equation_lam(paths, k)
    dof = paths.n_times - 1
    s2 = float((k - lam * s).square().sum()) / dof
    stderr = math.sqrt(s2 / float(s.square().sum()))
    q = stats.t.ppf(0.95, dof)

    assert est.lam_ == pytest.approx(lam, rel=1e-12)
    assert float(est.stderr_[0]) == pytest.approx(stderr, rel=1e-10)
    assert est.result_.lam_stderr == pytest.approx(stderr, rel=1e-10)
    lo, hi = est.result_.lam_ci
    assert lo == pytest.approx(lam - q * stderr, rel=1e-10)
    assert hi == pytest.approx(lam + q * stderr, rel=1e-10)
    assert est.result_.level == 0.9


@pytest.mark.parametrize("case", sorted(POLY_CASES))
def test_truth_within_four_standard_errors(poly_paths, case):
    """Under iid Gaussian noise (c_hat - c) / se follows Student t with n_times - n_params degrees
    of freedom, so |.| > 4 has probability 2 * t.sf(4, 197) = 9.0e-5 per coefficient (6.3e-5 for
    a normal): this test fails falsely with probability below 4 * 9.0e-5 = 3.6e-4."""
    spec, make_model = POLY_CASES[case]
    targets = pf.make_targets(poly_paths, spec, noise_std=POLY_NOISE_STD, seed=5)
    est = pf.LeastSquares(make_model(), interval="classical").fit(poly_paths, targets)

    assert est.stderr_ is not None
    z = (est.coef_ - spec.params) / est.stderr_
    assert bool((z.abs() < 4).all()), f"z-scores {z.tolist()}"
    # the noise is visible: the estimates moved by far more than rounding
    assert float((est.coef_ - spec.params).abs().max()) > 1e-5


N_REPLICATES = 400
COVERAGE_FALSE_FAILURE = 1e-6  # for each test, split evenly over its coefficients (Bonferroni)


def _binomial_acceptance(n: int, p: float, alpha: float) -> tuple[int, int, float]:
    """[lo, hi] with P(X < lo) + P(X > hi) <= alpha for X ~ Binomial(n, p)."""
    lo = int(stats.binom.ppf(alpha / 2, n, p))
    hi = int(stats.binom.isf(alpha / 2, n, p))
    false_failure = float(stats.binom.cdf(lo - 1, n, p) + stats.binom.sf(hi, n, p))
    return lo, hi, false_failure


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(POLY_CASES))
def test_interval_coverage_by_replication(poly_paths, case):
    """400 independent noisy replicates of the targets on fixed paths: classical iid Gaussian
    noise, where the 95% t-interval is exact, so each coefficient is covered a Binomial(400, 0.95)
    number of times. The acceptance region has false-failure probability < 1e-6 in all (with
    these numbers [354, 398] per coefficient, about 1e-7 each). The pooled z-scores are also
    compared with Student t by a KS test at the same total level."""
    spec, make_model = POLY_CASES[case]
    n_params = len(spec.coef)
    model = make_model()
    covered = torch.zeros(n_params, dtype=torch.long)
    z_scores = []
    for r in range(N_REPLICATES):
        targets = pf.make_targets(poly_paths, spec, noise_std=POLY_NOISE_STD, seed=1000 + r)
        result = pf.LeastSquares(model, interval="classical").fit(poly_paths, targets).result_
        ci = torch.tensor(result.ci, dtype=torch.float64)
        covered += ((ci[:, 0] <= spec.params) & (spec.params <= ci[:, 1])).long()
        z_scores.append(
            (torch.tensor(result.params, dtype=torch.float64) - spec.params)
            / torch.tensor(result.stderr, dtype=torch.float64)
        )

    alpha = COVERAGE_FALSE_FAILURE / (2 * n_params)  # coverage and KS, every coefficient
    lo, hi, false_failure = _binomial_acceptance(N_REPLICATES, 0.95, alpha)
    assert false_failure <= alpha
    for b in range(n_params):
        assert lo <= int(covered[b]) <= hi, (
            f"coefficient {b}: covered {int(covered[b])}/{N_REPLICATES}, accepted [{lo}, {hi}]"
        )

    dof = POLY_N_TIMES - n_params
    z = torch.stack(z_scores)
    for b in range(n_params):
        p_value = stats.kstest(z[:, b].numpy(), stats.t(dof).cdf).pvalue
        assert p_value > alpha, f"coefficient {b}: KS p-value {p_value:.2e} against t({dof})"


# --- results ------------------------------------------------------------------------------------


def test_summary_is_json_safe_and_matches_the_fit(poly_paths):
    spec, make_model = POLY_CASES["poly_lambda"]
    targets = pf.make_targets(poly_paths, spec, noise_std=POLY_NOISE_STD, seed=2)
    est = pf.LeastSquares(make_model(), interval="classical").fit(poly_paths, targets)

    summary = est.result_.summary()
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    for key in ("status", "message", "steps", "wall_s", "params", "stderr", "ci"):
        assert key in summary
    assert summary["status"] == "converged"
    assert summary["steps"] == 1
    assert summary["wall_s"] >= 0
    assert summary["params"] == est.coef_.tolist()
    assert summary["stderr"] == pytest.approx(est.stderr_.tolist(), rel=1e-15)
    q = stats.t.ppf(0.975, POLY_N_TIMES - 3)
    for (lo, hi), c, s in zip(summary["ci"], summary["params"], summary["stderr"], strict=True):
        assert lo == pytest.approx(c - q * s, rel=1e-12)
        assert hi == pytest.approx(c + q * s, rel=1e-12)
    assert "c0" in est.result_.report()


def test_rank_deficient_design_gives_no_covariance_and_says_why(seed_data):
    paths, targets = seed_data
    s = paths.values.square().mean(dim=0)
    design = torch.stack([s, s], dim=1)  # two identical columns: only c0 + c1 is identified

    est = pf.LeastSquares(PolynomialLambda(1)).fit_design(design, targets.values)

    assert est.rank_ == 1
    assert math.isinf(est.condition_number_)
    assert est.cov_ is None
    assert est.stderr_ is None
    assert est.result_.stderr is None
    assert est.result_.ci is None
    assert "rank 1 < 2" in est.result_.uncertainty_note
    # the minimum-norm solution splits lambda evenly, and still reproduces the targets
    torch.testing.assert_close(est.coef_, torch.full((2,), LAM / 2, dtype=torch.float64))
    torch.testing.assert_close(design @ est.coef_, targets.values, rtol=1e-12, atol=0.0)
    summary = est.result_.summary()
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["stderr"] is None


def test_all_zero_paths_give_no_covariance_not_a_crash():
    values = torch.zeros(5, 10, dtype=torch.float64)
    paths = pf.Paths(values=values, times=torch.linspace(0.1, 1.0, 10, dtype=torch.float64))
    est = pf.LeastSquares().fit(paths, pf.make_targets(paths, ConstantLam(LAM)))
    assert est.rank_ == 0
    assert est.cov_ is None
    assert "rank 0 < 1" in est.result_.uncertainty_note
    json.dumps(est.result_.summary(), allow_nan=False)


# --- bad input ----------------------------------------------------------------------------------


def _small_data() -> tuple[pf.Paths, pf.Targets]:
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=10, n_times=50, horizon=10.0, seed=0)
    return paths, pf.make_targets(paths, ConstantLam(LAM))


def _with(values: torch.Tensor, index: tuple[int, ...], value: float) -> torch.Tensor:
    out = values.clone()
    out[index] = value
    return out


@pytest.mark.parametrize(
    ("bad", "index", "found"),
    [(math.nan, (3, 7), "nan at index (3, 7)"), (math.inf, (2, 5), "inf at index (2, 5)")],
)
def test_non_finite_path_values_are_refused(bad, index, found):
    paths, _ = _small_data()
    with pytest.raises(pf.InputError) as info:
        pf.Paths(values=_with(paths.values, index, bad), times=paths.times)
    assert isinstance(info.value, ValueError)
    assert info.value.field == "paths.values"
    assert "paths.values" in str(info.value)
    assert found in str(info.value)


@pytest.mark.parametrize(
    ("bad", "found"), [(math.nan, "nan at index (4)"), (-math.inf, "-inf at index (4)")]
)
def test_non_finite_targets_are_refused(bad, found):
    paths, targets = _small_data()
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares().fit(paths, _with(targets.values, (4,), bad))
    assert str(info.value).startswith("targets:")
    assert found in str(info.value)


def test_targets_object_with_nan_is_refused_at_construction():
    paths, targets = _small_data()
    with pytest.raises(pf.InputError, match=r"^targets: .*nan at index \(4\)"):
        pf.Targets(values=_with(targets.values, (4,), math.nan), times=paths.times)


def test_targets_of_the_wrong_length_are_refused():
    paths, targets = _small_data()
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares().fit(paths, targets.values[:-1])
    assert info.value.field == "targets"
    assert "49 values for 50 times" in str(info.value)


def test_targets_at_other_times_are_refused():
    paths, targets = _small_data()
    shifted = pf.Targets(values=targets.values, times=paths.times + 0.1)
    with pytest.raises(pf.InputError, match=r"^targets\.times: "):
        pf.LeastSquares().fit(paths, shifted)


def test_fewer_times_than_parameters_are_refused():
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=10, n_times=3, horizon=1.0, seed=0)
    targets = pf.make_targets(paths, PolynomialLam((0.1, 0.2, 0.3, 0.4)))
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares(PolynomialLambda(3)).fit(paths, targets)
    assert info.value.field == "n_times"
    assert "at least 4 observation times" in str(info.value)
    assert str(info.value).endswith("found 3")


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_level_outside_the_unit_interval_is_refused(level):
    paths, targets = _small_data()
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares(level=level).fit(paths, targets)
    assert info.value.field == "level"
    assert f"found {float(level)}" in str(info.value)


@pytest.mark.parametrize("make_model", [lambda: SeedNetwork(10), PointwiseMLP])
def test_a_network_is_refused_by_least_squares(make_model):
    paths, targets = _small_data()
    model = make_model()
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares(model).fit(paths, targets)
    assert info.value.field == "model"
    assert f"found {type(model).__name__}" in str(info.value)
    assert "linear in its parameters" in str(info.value)


def test_paths_without_times_are_refused_naming_times():
    # a tensor of paths is accepted with times, or with targets that carry them (issue 14);
    # bare values on both sides have no times
    paths, targets = _small_data()
    with pytest.raises(pf.InputError, match=r"^times: .*found None"):
        pf.LeastSquares().fit(paths.values, targets.values)
    with pytest.raises(pf.InputError, match=r"^paths: .*found str"):
        pf.LeastSquares().fit("paths.csv", targets)


def test_design_with_the_wrong_number_of_columns_is_refused():
    _, targets = _small_data()
    design = torch.ones(50, 2, dtype=torch.float64)
    with pytest.raises(pf.InputError, match=r"^design: .*found 2 columns"):
        pf.LeastSquares(ConstantLambda()).fit_design(design, targets.values)


def test_reprs_show_the_hyperparameters_that_differ_from_their_defaults():
    assert repr(PolynomialLambda(2)) == "PolynomialLambda(degree=2)"
    assert repr(PolynomialK(1)) == "PolynomialK(degree=1)"
    assert repr(ConstantLambda()) == "ConstantLambda()"
    assert repr(SeedNetwork(20, (4,))) == "SeedNetwork(n_paths=20, hidden=(4,), seed=0)"
    assert repr(PointwiseMLP((4,), activation="silu")) == (
        "PointwiseMLP(hidden=(4,), seed=0, activation='silu')"
    )
    assert repr(pf.LeastSquares()) == "LeastSquares()"
    estimator = pf.LeastSquares(PolynomialLambda(2), interval="hac", n_bootstrap=50)
    assert repr(estimator) == (
        "LeastSquares(model=PolynomialLambda(degree=2), interval='hac', n_bootstrap=50)"
    )
    assert repr(estimator.get_params()["model"]) == "PolynomialLambda(degree=2)"
    fit = pf.GradientFit(SeedNetwork(20), max_steps=100, lr=torch.tensor(0.1))
    assert repr(fit).startswith("GradientFit(model=SeedNetwork(n_paths=20, hidden=(), seed=0), ")
    assert "max_steps=100" in repr(fit) and "lr=tensor(0.1000)" in repr(fit)
