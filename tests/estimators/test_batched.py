"""Batched fits equal R single fits."""

from __future__ import annotations

import warnings

import pytest
import torch

import pathfit as pf
from pathfit.design import simulate_designs
from pathfit.estimators.batched import batched_gradient, batched_least_squares
from pathfit.exceptions import InputError
from pathfit.models import ConstantLambda, PolynomialLambda
from pathfit.targets import PolynomialLam, make_targets

PROCESS = pf.ABM(mu=0.5, sigma=1.0)
SEEDS = [3, 4, 5, 6]


def _data(powers: tuple[int, ...], spec, noise: float):
    _, designs = simulate_designs(
        PROCESS, n_paths=50, n_times=400, horizon=2.0, seeds=SEEDS, powers=powers
    )
    singles = []
    targets = []
    for seed in SEEDS:
        paths = pf.simulate(PROCESS, n_paths=50, n_times=400, horizon=2.0, seed=seed)
        t = make_targets(paths, spec, noise_std=noise, seed=seed)
        singles.append((paths, t))
        targets.append(t.values)
    return designs, torch.stack(targets), singles


@pytest.mark.parametrize("degree", [0, 2])
def test_batched_least_squares_equals_single_fits(degree: int) -> None:
    model = PolynomialLambda(degree)
    spec = PolynomialLam(tuple([0.25, 0.01, 0.03][: degree + 1]))
    designs, targets, singles = _data(model.powers, spec, noise=0.01)
    batch = batched_least_squares(designs, targets)
    for r, (paths, t) in enumerate(singles):
        single = pf.LeastSquares(PolynomialLambda(degree), interval="classical").fit(paths, t)
        torch.testing.assert_close(batch.coef[r], single.coef_, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(batch.stderr[r], single.stderr_, rtol=1e-8, atol=1e-15)
        lo, hi = single.result_.ci[0]
        assert batch.ci[r, 0, 0].item() == pytest.approx(lo, rel=1e-8)
        assert batch.ci[r, 0, 1].item() == pytest.approx(hi, rel=1e-8)
    assert bool(batch.converged.all())


def test_batched_gradient_equals_single_gradient_fits() -> None:
    designs, targets, singles = _data((2,), PolynomialLam((0.25,)), noise=0.01)
    batch = batched_gradient(designs, targets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for r, (paths, t) in enumerate(singles):
            single = pf.GradientFit(ConstantLambda(), interval="classical").fit(paths, t)
            assert batch.coef[r, 0].item() == pytest.approx(single.lam_, rel=1e-12)
            assert int(batch.steps[r]) == single.n_iter_
    assert bool(batch.converged.all())


def test_batched_fits_reject_mismatched_shapes() -> None:
    designs = torch.ones((3, 10, 1), dtype=torch.float64)
    with pytest.raises(InputError, match="targets"):
        batched_least_squares(designs, torch.ones((3, 9), dtype=torch.float64))
    with pytest.raises(InputError, match="n_times"):
        batched_least_squares(
            torch.ones((3, 1, 1), dtype=torch.float64), torch.ones((3, 1), dtype=torch.float64)
        )
