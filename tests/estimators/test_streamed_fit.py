"""Least squares on streamed paths (their power sums only): the same answers as on the whole
paths, every interval method included, and the checks that go with it."""

from __future__ import annotations

import pytest
import torch

from pathfit.design import StreamedPaths, power_design
from pathfit.diagnostics import identify
from pathfit.estimators import GradientFit, LeastSquares
from pathfit.exceptions import InputError
from pathfit.models import ConstantLambda, PolynomialK, PolynomialLambda
from pathfit.processes import ABM, OU, PATH_BLOCK, TIME_TILE, sample_times
from pathfit.targets import ConstantLam, PolynomialLam, make_targets, population_targets

F64 = torch.float64


def _pair(process, n_paths, n_times, seed, max_power, n_sample=100):
    times = sample_times(n_times, 5.0, seed=seed, dtype=F64)
    whole = process.sample_paths(n_paths, times, seed=seed)
    streamed = StreamedPaths.simulate(
        process, n_paths=n_paths, times=times, seed=seed, max_power=max_power, n_sample=n_sample
    )
    return whole, streamed


def test_power_sums_sample_and_peak_are_those_of_the_whole_paths():
    # several path blocks and two time tiles, neither a multiple of its size
    whole, streamed = _pair(ABM(x0=0.3, mu=0.5), 2 * PATH_BLOCK + 9, TIME_TILE + 77, 4, 4, 70)
    for q in range(5):
        exact = power_design(whole.values, (q,))
        assert torch.allclose(streamed.design((q,)), exact, rtol=1e-12, atol=1e-12)
    assert torch.equal(streamed.sample.values, whole.values[:70])
    assert streamed.peak == float(whole.values.abs().max())
    assert torch.allclose(streamed.mean_square(), whole.mean_square(), rtol=1e-12)


def test_term_variance_and_weighted_sums_match_the_whole_paths():
    whole, streamed = _pair(OU(x0=1.0, theta=0.7, mu=0.2), PATH_BLOCK + 5, 300, 8, 6)
    coef = torch.tensor([0.3, -0.2], dtype=F64)
    terms = 0.3 * whole.values**2 - 0.2 * whole.values**3
    assert torch.allclose(streamed.term_variance(coef, (2, 3)), terms.var(dim=0), rtol=1e-9)
    weights = torch.rand((4, whole.n_paths), generator=torch.Generator().manual_seed(1), dtype=F64)
    expected = torch.stack([weights @ whole.values**q for q in (0, 2)], dim=-1)
    assert torch.allclose(streamed.weighted_sums(weights, (0, 2)), expected, rtol=1e-12)


def test_powers_beyond_what_was_kept_are_an_input_error():
    _, streamed = _pair(ABM(), 10, 20, 0, 2)
    with pytest.raises(InputError, match="powers up to 2"):
        streamed.design((3,))
    with pytest.raises(InputError, match="twice the design's highest"):
        streamed.term_variance(torch.ones(1, dtype=F64), (2,))


@pytest.mark.parametrize("interval", ["classical", "hac", "block_bootstrap", "path_bootstrap"])
def test_least_squares_on_streamed_paths_equals_the_whole_paths(interval):
    whole, streamed = _pair(ABM(x0=0.5, mu=0.5), 150, 120, 3, 4)
    targets = population_targets(ABM(x0=0.5, mu=0.5), ConstantLam(0.25), whole.times)
    a = LeastSquares(interval=interval, n_bootstrap=50, seed=2).fit(whole, targets)
    b = LeastSquares(interval=interval, n_bootstrap=50, seed=2).fit(streamed, targets)
    assert b.lam_ == pytest.approx(a.lam_, rel=1e-12)
    assert float(b.stderr_[0]) == pytest.approx(float(a.stderr_[0]), rel=1e-9)
    assert b.interval_ == a.interval_ == interval


@pytest.mark.parametrize(
    ("model", "spec", "noise"),
    [
        (ConstantLambda(), ConstantLam(0.25), 0.05),  # iid noise: auto says classical
        (ConstantLambda(), None, 0.0),  # population targets: auto says path bootstrap
        (PolynomialLambda(1), PolynomialLam((0.2, 0.1)), 0.01),
    ],
)
def test_auto_chooses_the_same_interval_for_streamed_and_whole_paths(model, spec, noise):
    process = ABM(x0=0.5, mu=0.5)
    whole, streamed = _pair(process, 300, 200, 5, 2 * max(model.powers))
    if spec is None:
        t_whole = t_streamed = population_targets(process, ConstantLam(0.25), whole.times)
    else:
        t_whole = make_targets(whole, spec, noise_std=noise, seed=1)
        t_streamed = make_targets(streamed, spec, noise_std=noise, seed=1)
        assert torch.allclose(t_streamed.values, t_whole.values, rtol=1e-12)
    a = LeastSquares(model, n_bootstrap=60).fit(whole, t_whole)
    b = LeastSquares(model, n_bootstrap=60).fit(streamed, t_streamed)
    assert b.interval_ == a.interval_
    assert b.uncertainty_.reason == a.uncertainty_.reason
    assert torch.allclose(b.coef_, a.coef_, rtol=1e-9)
    assert torch.allclose(b.stderr_, a.stderr_, rtol=1e-6)
    assert torch.allclose(b.predict(streamed), a.predict(whole), rtol=1e-9)


def test_identifiability_warnings_agree_including_vanishing_odd_moments():
    # x symmetric about 0 (x0 = mu = 0): mean x^1 and x^3 carry only sampling noise
    whole, streamed = _pair(ABM(x0=0.0, mu=0.0), 400, 60, 1, 6)
    targets = make_targets(whole, PolynomialLam((0.25,)), seed=0)
    model = PolynomialK(3)
    a = LeastSquares(model, interval="classical").fit(whole, targets)
    b = LeastSquares(model, interval="classical").fit(streamed, targets)
    wa, wb = identify(a.model_, whole).warnings, identify(b.model_, streamed).warnings
    assert any("indistinguishable from zero" in w for w in wa)
    assert [w.split("(")[0] for w in wb] == [w.split("(")[0] for w in wa]


def test_streamed_paths_are_for_least_squares_only():
    _, streamed = _pair(ABM(), 20, 30, 0, 4)
    targets = make_targets(streamed, ConstantLam(0.25))
    with pytest.raises(InputError, match=r"a pathfit\.Paths"):
        GradientFit(ConstantLambda()).fit(streamed, targets)


def test_overflowing_streamed_values_are_refused_naming_the_largest():
    _, streamed = _pair(ABM(x0=1e160, sigma=1.0), 4, 5, 0, 4)
    targets = torch.ones(5, dtype=F64)
    with pytest.raises(InputError, match=r"\|x\| = 1e\+160"):
        LeastSquares().fit(streamed, targets)
