"""Results do not depend on the thread count (issue 9, item 1): the same seed gives the same
bits on 1 and on 2 threads, at sizes where torch does split its work across threads (a
reduction to one number over more than 32768 elements; the simulation's pool from 4 blocks
and 131072 points; MKL's SVD at any size).

torch.set_num_threads(2) works on any machine, so none of this needs two cores.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import pathfit as pf
from pathfit.design import power_design, simulate_designs, streamed_design
from pathfit.estimators import GradientFit, LeastSquares
from pathfit.estimators.batched import batched_gradient, batched_least_squares
from pathfit.models import ConstantLambda, PointwiseMLP, PolynomialLambda, SeedNetwork
from pathfit.processes import OU
from pathfit.processes.tiling import torch_threads
from pathfit.targets import PolynomialLam

PROCESS = pf.ABM(mu=0.5, sigma=1.0)


def _twice(fn):
    """fn() on 1 torch thread and on 2."""
    out = []
    for threads in (1, 2):
        with torch_threads(threads):
            out.append(fn())
    return out


def _assert_same(a, b, what: str) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{what}: largest difference {(a - b).abs().max().item():.3g}"
    else:
        assert a == b, f"{what}: {a!r} != {b!r}"


def _data(n_paths: int, n_times: int, dtype: torch.dtype = torch.float64):
    paths = pf.simulate(
        PROCESS, n_paths=n_paths, n_times=n_times, horizon=10.0, seed=0, dtype=dtype
    )
    spec = PolynomialLam((0.25, 0.05))
    return paths, pf.make_targets(paths, spec, noise_std=0.01, seed=0)


def test_paths_and_designs_are_the_same_on_1_and_2_threads():
    # 200 x 2000: 4 blocks, 4e5 points, so the tiles are filled by a pool on 2 threads
    def simulate():
        paths = pf.simulate(PROCESS, n_paths=200, n_times=2000, horizon=10.0, seed=3)
        ou = pf.simulate(OU(theta=1.0), n_paths=200, n_times=2000, horizon=10.0, seed=3)
        return {
            "abm": paths.values,
            "ou": ou.values,
            "design": power_design(paths.values, (0, 2, 3)),
            "streamed": streamed_design(PROCESS, 200, paths.times, (2, 3), seed=3),
            "one time": power_design(paths.values[:, :1].repeat(200, 1), (2,)),
            "designs": simulate_designs(
                PROCESS, n_paths=100, n_times=500, horizon=10.0, seeds=[0, 1, 2], powers=(2,)
            )[1],
        }

    one, two = _twice(simulate)
    for what in one:
        _assert_same(one[what], two[what], what)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("n_paths", "n_times"), [(200, 2000), (10, 50_000)])
def test_least_squares_is_the_same_on_1_and_2_threads(n_paths, n_times, dtype):
    paths, targets = _data(n_paths, n_times, dtype)

    def fits(threads: int):
        out = {}
        for model in (ConstantLambda(), PolynomialLambda(2)):
            for interval in ("classical", "path_bootstrap"):
                fit = LeastSquares(model, interval=interval, n_bootstrap=50, threads=threads)
                fit.fit(paths, targets)
                name = f"{type(model).__name__} {interval}"
                out[f"{name} coef"] = fit.coef_
                out[f"{name} cov"] = fit.cov_
                out[f"{name} condition"] = fit.condition_number_
        return out

    one, two = fits(1), fits(2)
    for what in one:
        _assert_same(one[what], two[what], what)


def test_batched_fits_are_the_same_on_1_and_2_threads():
    # one dataset of 40000 times: each of its sums is a single output over > 32768 elements
    paths, targets = _data(5, 40_000)
    designs = power_design(paths.values, (2,)).unsqueeze(0)
    values = targets.values.unsqueeze(0)

    def fits():
        closed = batched_least_squares(designs, values)
        descent = batched_gradient(designs, values, max_steps=20)
        return closed.coef, closed.stderr, descent.coef, descent.stderr

    one, two = _twice(fits)
    for what, a, b in zip(("coef", "stderr", "gd coef", "gd stderr"), one, two, strict=True):
        _assert_same(a, b, what)


def _gradient_fit(model, paths, targets, threads: int, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few steps may stop at max_steps: not under test
        fit = GradientFit(model, threads=threads, **options).fit(paths, targets)
    state = {k: v.detach().clone() for k, v in fit.model_.state_dict().items()}
    r = fit.result_
    return {
        **state,
        "lam": fit.lam_,
        "status": fit.status_,
        "steps": fit.n_iter_,
        "loss": r.history.loss if r.history is not None else None,
        "stderr": r.stderr,
        "lam_stderr": r.lam_stderr,
    }


@pytest.mark.parametrize("model", [ConstantLambda(), PolynomialLambda(1)], ids=type)
def test_gradient_fit_of_a_linear_model_is_the_same_on_1_and_2_threads(model):
    paths, targets = _data(200, 2000)
    one, two = (_gradient_fit(model, paths, targets, threads) for threads in (1, 2))
    for what in one:
        _assert_same(one[what], two[what], what)


def test_gradient_fit_on_many_times_is_the_same_on_1_and_2_threads():
    paths, targets = _data(5, 40_000, torch.float32)
    model = PolynomialLambda(1)
    one, two = (_gradient_fit(model, paths, targets, threads, max_steps=20) for threads in (1, 2))
    for what in one:
        _assert_same(one[what], two[what], what)


@pytest.mark.parametrize(
    ("make_model", "n_paths", "n_times"),
    [(lambda n: SeedNetwork(n), 200, 2000), (lambda n: PointwiseMLP(), 40, 1000)],
    ids=["SeedNetwork", "PointwiseMLP"],
)
def test_networks_are_the_same_on_1_and_2_threads(make_model, n_paths, n_times):
    paths, targets = _data(n_paths, n_times)
    one, two = (
        _gradient_fit(make_model(n_paths), paths, targets, threads, max_steps=3)
        for threads in (1, 2)
    )
    for what in one:
        _assert_same(one[what], two[what], what)
