"""What the library accepts at construction is checked again when a fit starts (issue 10, item 4),
and seeds are limited to [0, 2^64 - 1] everywhere (item 3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pathfit as pf
from pathfit.models import ConstantLambda, PointwiseMLP, PolynomialLambda, SeedNetwork
from pathfit.targets import ConstantLam

LAM = 0.25
SEED_MAX = 2**64 - 1


@pytest.fixture
def data() -> tuple[pf.Paths, pf.Targets]:
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=20, n_times=30, horizon=2.0, seed=0)
    return paths, pf.make_targets(paths, ConstantLam(LAM))


# --- dtypes --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_paths_are_upcast_to_float32_and_fitted(data, dtype):
    paths, _ = data
    half = pf.Paths(paths.values.to(dtype), paths.times.to(dtype))
    assert half.dtype == torch.float32
    targets = pf.make_targets(half, ConstantLam(LAM))
    est = pf.LeastSquares().fit(half, targets)
    assert est.lam_ == pytest.approx(LAM, rel=1e-5)


def test_integer_values_are_upcast_to_float64():
    paths = pf.Paths(torch.arange(6).reshape(2, 3) + 1, torch.tensor([1, 2, 3]))
    assert paths.dtype == torch.float64
    assert paths.times.dtype == torch.float64
    targets = pf.Targets(values=torch.tensor([1, 2, 3]), times=paths.times)
    assert targets.values.dtype == torch.float64


@pytest.mark.parametrize("as_numpy", [False, True])
def test_complex_values_are_refused_naming_the_field(data, as_numpy):
    paths, _ = data
    values = paths.values.to(torch.complex128)
    with pytest.raises(pf.InputError, match=r"^paths\.values: expected real numbers") as err:
        pf.Paths(values.numpy() if as_numpy else values, paths.times)
    assert "complex128" in str(err.value)
    with pytest.raises(pf.InputError, match=r"^targets: expected real numbers"):
        pf.LeastSquares().fit(paths, torch.ones(paths.n_times, dtype=torch.complex64))


# --- requires_grad -------------------------------------------------------------------------


def test_requires_grad_inputs_give_the_same_estimate_as_detached(data):
    paths, targets = data
    grad_paths = pf.Paths(paths.values.clone().requires_grad_(), paths.times)
    grad_values = targets.values.clone().requires_grad_()
    assert not grad_paths.values.requires_grad
    for make in (
        lambda: pf.GradientFit(ConstantLambda(), max_steps=50),
        lambda: pf.GradientFit(PointwiseMLP((4,), seed=0), max_steps=5),
        lambda: pf.LeastSquares(),
    ):
        plain = make().fit(paths, targets.values)
        graph = make().fit(grad_paths, grad_values)
        assert torch.equal(graph.predict(paths), plain.predict(paths))


def test_requires_grad_set_after_construction_is_detached_at_fit(data):
    paths, targets = data
    values = paths.values.clone()
    late = pf.Paths(values, paths.times)
    values.requires_grad_()  # the Paths shares this tensor
    est = pf.GradientFit(ConstantLambda(), max_steps=50).fit(late, targets)
    assert est.lam_ == pytest.approx(LAM, rel=1e-9)


# --- devices -------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
@pytest.mark.parametrize("call", ["simulate", "sample_times"])
def test_missing_cuda_is_an_input_error_naming_device(call):
    with pytest.raises(pf.InputError, match=r"^device: expected an available device") as err:
        if call == "simulate":
            pf.simulate(pf.ABM(), n_paths=2, n_times=3, horizon=1.0, seed=0, device="cuda")
        else:
            pf.sample_times(3, 1.0, seed=0, device="cuda")
    assert "'cuda'" in str(err.value)


def test_unknown_device_is_an_input_error():
    with pytest.raises(pf.InputError, match=r"^device: "):
        pf.sample_times(3, 1.0, seed=0, device="tpu")


# --- changed in place after construction ---------------------------------------------------


def test_targets_set_to_inf_after_construction_are_caught_at_fit(data):
    paths, targets = data
    values = targets.values.clone()
    shared = pf.Targets(values=values, times=paths.times)
    values[3] = float("inf")
    for estimator in (pf.LeastSquares(), pf.GradientFit(ConstantLambda(), max_steps=5)):
        with pytest.raises(pf.InputError, match=r"^targets: expected finite") as err:
            estimator.fit(paths, shared)
        assert "inf at index (3)" in str(err.value)


def test_paths_changed_in_place_after_construction_are_caught_at_fit(data):
    paths, targets = data
    values, times = paths.values.clone(), paths.times.clone()
    shared = pf.Paths(values, times)
    values[1, 2] = float("nan")
    with pytest.raises(pf.InputError, match=r"^paths\.values: expected finite") as err:
        pf.LeastSquares().fit(shared, targets)
    assert "nan at index (1, 2)" in str(err.value)
    values[1, 2] = 0.0
    times[0] = times[-1] + 1
    with pytest.raises(pf.InputError, match=r"^paths\.times: expected times sorted"):
        pf.LeastSquares().fit(shared, targets.values)


def test_nonfinite_check_finds_the_first_bad_value_past_one_block():
    values = torch.zeros(5000, 1000, dtype=torch.float64)  # more than one checked block
    values[4321, 7] = -float("inf")
    with pytest.raises(pf.InputError, match=r"found -inf at index \(4321, 7\)"):
        pf.Paths(values, torch.linspace(0.1, 1.0, 1000))


# --- seeds ---------------------------------------------------------------------------------


SEEDED = {
    "simulate": lambda s: pf.simulate(pf.ABM(), n_paths=2, n_times=3, horizon=1.0, seed=s),
    "make_targets": lambda s: pf.make_targets(
        pf.simulate(pf.ABM(), n_paths=2, n_times=3, horizon=1.0, seed=0),
        ConstantLam(LAM),
        noise_std=0.1,
        seed=s,
    ),
    "PointwiseMLP": lambda s: PointwiseMLP((2,), seed=s),
    "SeedNetwork": lambda s: SeedNetwork(3, seed=s),
    "GradientFit": lambda s: pf.GradientFit(ConstantLambda(), seed=s, max_steps=3).fit(*_tiny()),
    "LeastSquares": lambda s: pf.LeastSquares(seed=s, interval="path_bootstrap").fit(*_tiny()),
    "streamed_design": lambda s: pf.streamed_design(
        pf.ABM(), 2, torch.tensor([0.5, 1.0], dtype=torch.float64), (2,), seed=s
    ),
}


def _tiny() -> tuple[pf.Paths, pf.Targets]:
    paths = pf.simulate(pf.ABM(), n_paths=4, n_times=5, horizon=1.0, seed=0)
    return paths, pf.make_targets(paths, ConstantLam(LAM), noise_std=0.01, seed=1)


@pytest.mark.parametrize("where", list(SEEDED))
def test_seed_of_2_to_the_64_is_refused_and_2_to_the_64_minus_1_accepted(where):
    SEEDED[where](SEED_MAX)
    SEEDED[where](np.uint64(SEED_MAX))
    with pytest.raises(
        pf.InputError, match=r"^seed: expected an integer seed in \[0, 2\^64 - 1\]"
    ) as err:
        SEEDED[where](SEED_MAX + 1)
    assert str(SEED_MAX + 1) in str(err.value)
    with pytest.raises(pf.InputError, match=r"^seed: "):
        SEEDED[where](-1)


@pytest.mark.parametrize(
    ("make", "power"),
    [
        (lambda: pf.LeastSquares(ConstantLambda()), 2),
        (lambda: pf.LeastSquares(PolynomialLambda(2)), 4),
        (lambda: pf.GradientFit(PointwiseMLP((4,)), max_steps=2), 4),
    ],
    ids=["least_squares", "polynomial", "pointwise_mlp"],
)
def test_values_whose_powers_overflow_are_refused_naming_the_largest(make, power):
    """Finite values such as 1e200 used to end in a failed SVD (_LinAlgError) or an
    OverflowError: x^2 (or the model's highest power) must be finite."""
    paths = pf.simulate(pf.ABM(), n_paths=5, n_times=20, horizon=1.0, seed=0)
    values = paths.values.clone()
    big = 10.0 ** (400 / power)  # x^power = 1e400 overflows float64, x itself is finite
    values[2, 7] = -big
    bad = pf.Paths(values, paths.times)
    targets = torch.ones(20, dtype=torch.float64)
    with pytest.raises(pf.InputError, match=rf"^paths\.values: .*x\^{power} .*found \|x\| = "):
        make().fit(bad, targets)
