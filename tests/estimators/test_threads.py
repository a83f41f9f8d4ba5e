"""The thread policy: one torch thread for small fits, more for large ones, the caller's
setting back afterwards; an explicit ``threads`` wins and must be at least 1."""

from __future__ import annotations

import pytest
import torch

import pathfit as pf
from pathfit.estimators import GradientFit, LeastSquares, _threads
from pathfit.estimators import gradient as gradient_module
from pathfit.estimators._threads import THREAD_WORK, choose_threads, fit_threads, model_work
from pathfit.exceptions import InputError
from pathfit.models import ConstantLambda, PointwiseMLP, SeedNetwork
from pathfit.targets import ConstantLam


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(_threads, "available_cores", lambda: 4)


@pytest.fixture
def data():
    paths = pf.simulate(pf.ABM(), n_paths=10, n_times=40, horizon=1.0, seed=0)
    return paths, pf.make_targets(paths, ConstantLam(0.25))


def test_small_work_runs_on_one_thread(four_cores):
    assert choose_threads(None, 0) == 1
    assert choose_threads(None, THREAD_WORK - 1) == 1


def test_large_work_takes_more_threads_up_to_the_cores(four_cores):
    assert choose_threads(None, 2 * THREAD_WORK) == 2
    assert choose_threads(None, 1000 * THREAD_WORK) == 4


def test_explicit_threads_win(four_cores):
    assert choose_threads(3, 0) == 3
    assert choose_threads(1, 1000 * THREAD_WORK) == 1


def test_the_default_fits_are_small(data):
    # n = 100 paths, m = 1000 times, the seed's methods: all below the threshold, so the
    # default run's results do not depend on the machine's cores
    paths = pf.simulate(pf.ABM(), n_paths=100, n_times=1000, horizon=10.0, seed=0)
    for model in (PointwiseMLP((16,)), SeedNetwork(100), ConstantLambda()):
        assert model_work(model, paths) < THREAD_WORK


def test_pointwise_work_counts_every_path_value(data):
    paths, _ = data
    mlp, seed = PointwiseMLP((16,)), SeedNetwork(paths.n_paths)
    assert model_work(mlp, paths) == paths.n_times * paths.n_paths * mlp.n_params
    assert model_work(seed, paths) == paths.n_times * seed.n_params


def test_fit_threads_restores_the_callers_setting_after_an_exception():
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), fit_threads(1, 0):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside the fit")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


@pytest.mark.parametrize("threads", [None, 2])
def test_gradient_fit_sets_and_restores_threads(data, monkeypatch, threads):
    seen = []
    train = gradient_module._Training.train

    def spy(self):
        seen.append(torch.get_num_threads())
        return train(self)

    monkeypatch.setattr(gradient_module._Training, "train", spy)
    torch.set_num_threads(3)
    try:
        GradientFit(ConstantLambda(), max_steps=5, threads=threads).fit(*data)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(1)
    assert seen == [1 if threads is None else threads]


def test_gradient_fit_restores_threads_after_an_exception(data, monkeypatch):
    def fail(self):
        assert torch.get_num_threads() == 2
        raise RuntimeError("training failed")

    monkeypatch.setattr(gradient_module._Training, "train", fail)
    torch.set_num_threads(3)
    try:
        with pytest.raises(RuntimeError, match="training failed"):
            GradientFit(ConstantLambda(), threads=2).fit(*data)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(1)


def test_least_squares_restores_threads(data):
    torch.set_num_threads(3)
    try:
        LeastSquares(threads=2).fit(*data)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(1)


@pytest.mark.parametrize("threads", [0, -1, 1.5])
@pytest.mark.parametrize(
    "estimator",
    [lambda t: GradientFit(ConstantLambda(), threads=t), lambda t: LeastSquares(threads=t)],
)
def test_threads_below_one_are_refused(estimator, threads):
    with pytest.raises(InputError) as err:
        estimator(threads).check_hyperparameters()
    assert err.value.field == "threads"
