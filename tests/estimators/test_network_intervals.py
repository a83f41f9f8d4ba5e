"""Intervals of the networks: a linearized (Gauss-Newton) covariance on the weight directions
that move k_hat, and the lambda(x) band."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pathfit as pf
from pathfit.app.config import RunConfig
from pathfit.app.coverage import run_coverage
from pathfit.models import PointwiseMLP, PolynomialLambda, SeedNetwork
from pathfit.targets import ConstantLam, PolynomialLam, population_targets

LAM = 0.25
ABM = pf.ABM(mu=0.5, sigma=1.0)


def _data(noise_std: float, seed: int = 0, n_paths: int = 20, n_times: int = 200):
    paths = pf.simulate(ABM, n_paths=n_paths, n_times=n_times, horizon=10.0, seed=seed)
    return paths, pf.make_targets(paths, ConstantLam(LAM), noise_std=noise_std, seed=seed + 1)


def test_linear_seed_network_interval_is_the_least_squares_one():
    """Without hidden layers k_hat is linear in the 21 weights, so the linearization is exact
    and the interval of lambda (the mean of lambda_j) must be ordinary least squares':
    s^2 g^T (X^T X)^-1 g with X the design of the weights and s^2 = RSS / (m - 21)."""
    paths, targets = _data(noise_std=0.2)
    est = pf.GradientFit(SeedNetwork(20), interval="classical").fit(paths, targets)
    model = est.model_
    inputs = model.prepare(paths)
    design = model.jacobian(inputs).detach().numpy()
    k = targets.values.numpy()
    m, p = design.shape
    coef, *_ = np.linalg.lstsq(design, k, rcond=None)
    s2 = float(np.sum((k - design @ coef) ** 2)) / (m - p)
    gradient = model.lam_gradient(inputs).numpy()
    expected = np.sqrt(s2 * gradient @ np.linalg.solve(design.T @ design, gradient))

    result = est.result_
    assert result.interval == "classical"
    assert est.linearized_.rank == p == 21
    assert result.lam_stderr == pytest.approx(expected, rel=1e-6)
    lo, hi = result.lam_ci
    assert (lo + hi) / 2 == pytest.approx(result.lam, rel=1e-12)
    assert "21 of 21 weight directions" in result.uncertainty_note
    # and the fit is the least-squares one, not a noise's worth short of it: lambda is linear
    # in the weights, so at the least-squares weights it is g^T coef. A fit stopped at the
    # first check at the noise floor sat 1.8 standard errors short on average (its intervals
    # covered 0.68); within 2% of one is a converged linear fit.
    assert abs(result.lam - float(gradient @ coef)) <= 0.02 * expected


def test_noise_free_network_intervals_are_tight_and_say_why():
    paths, targets = _data(noise_std=0.0)
    for model in (SeedNetwork(20), PointwiseMLP((8,))):
        result = pf.GradientFit(model).fit(paths, targets).result_
        lo, hi = result.lam_ci
        assert lo <= LAM <= hi or hi - lo < 1e-8
        assert hi - lo < 1e-6
        # the residuals are rounding or the network's own approximation error, never the
        # sampling noise of the paths (k comes from these very paths)
        assert result.interval in ("classical", "hac"), result.uncertainty_note


@pytest.mark.filterwarnings("ignore::pathfit.exceptions.ConvergenceWarning")
def test_path_bootstrap_for_a_pointwise_network_is_the_path_clustered_sandwich():
    paths = pf.simulate(ABM, n_paths=20, n_times=100, horizon=10.0, seed=3)
    targets = population_targets(ABM, ConstantLam(LAM), paths.times)
    est = pf.GradientFit(PointwiseMLP((4,)), interval="path_bootstrap", max_steps=30)
    result = est.fit(paths, targets).result_
    assert result.interval == "path_cluster"
    assert "path-clustered sandwich" in result.uncertainty_note
    assert result.lam_stderr > 0


def test_the_seed_network_cannot_be_clustered_by_path():
    paths, targets = _data(noise_std=0.2)
    with pytest.raises(pf.InputError, match=r"^interval: .*pointwise MLP"):
        pf.GradientFit(SeedNetwork(20), interval="path_bootstrap").fit(paths, targets)


def test_polynomial_band_is_the_coefficient_covariance_carried_to_each_x():
    paths = pf.simulate(ABM, n_paths=50, n_times=300, horizon=10.0, seed=0)
    targets = pf.make_targets(paths, PolynomialLam([0.3, -0.1, 0.02]), noise_std=0.1, seed=1)
    est = pf.LeastSquares(PolynomialLambda(2), interval="classical").fit(paths, targets)
    x = torch.linspace(-1.0, 6.0, 9, dtype=torch.float64)
    curve = est.lam_curve(x)
    basis = np.vander(x.numpy(), 3, increasing=True)
    cov = est.cov_.numpy()
    expected = np.sqrt(np.einsum("nb,bc,nc->n", basis, cov, basis))
    np.testing.assert_allclose(curve.stderr.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(curve.lam.numpy(), basis @ est.coef_.numpy(), rtol=1e-12)
    half = (curve.upper - curve.lower).numpy() / 2
    np.testing.assert_allclose(half, est.uncertainty_.quantile * expected, rtol=1e-12)
    assert curve.interval == "classical"


def test_pointwise_band_is_wide_where_k_hardly_sees_lambda():
    """k weighs lambda(x) by x^2: near x = 0 the aggregates hardly see it, and the band must
    say so against where x^2 is large."""
    paths, targets = _data(noise_std=0.2, n_paths=50)
    est = pf.GradientFit(PointwiseMLP((8,))).fit(paths, targets)
    x = torch.tensor([0.0, 5.0], dtype=torch.float64)
    curve = est.lam_curve(x)
    assert curve.stderr[0] > 3 * curve.stderr[1]
    assert est.lam_curve(x).summary()["x"] == [0.0, 5.0]
    assert pf.GradientFit(SeedNetwork(50)).fit(paths, targets).lam_curve(x) is None


@pytest.mark.slow
def test_network_intervals_cover_the_true_lambda_with_iid_noise():
    """R = 200 replicates (20 paths, 200 times, noise sd 0.2, seed 0). Measured: seed network
    0.950, pointwise MLP 0.955. If the true coverage is 0.95 the count falls outside
    [180, 196] of 200 with probability 1.0% (binomial), the false-failure rate of each row."""
    config = RunConfig(
        sampling={"n_paths": 20, "n_times": 200},
        target={"noise_std": 0.2},
        methods={"run": ["seed_network", "pointwise_mlp"]},
    )
    report = run_coverage(config, replicates=200, noise="iid")
    for row in report.methods[:2]:
        assert row.n_without_interval == 0
        assert 0.90 <= row.coverage <= 0.98, (row.name, row.coverage)
