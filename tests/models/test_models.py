"""The torch models of lambda (and of k): what they compute, their dtype, their initialisation."""

from __future__ import annotations

import warnings

import pytest
import torch

import pathfit as pf
from pathfit.models import (
    ConstantLambda,
    PointwiseMLP,
    PolynomialK,
    PolynomialLambda,
    SeedNetwork,
)
from pathfit.targets import ConstantLam

MODELS = {
    "constant": ConstantLambda,
    "poly_lambda": lambda: PolynomialLambda(2),
    "poly_k": lambda: PolynomialK(3),
    "seed_network": lambda: SeedNetwork(10, hidden=(4,)),
    "pointwise_mlp": PointwiseMLP,
}


@pytest.fixture(scope="module")
def paths() -> pf.Paths:
    return pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=20, n_times=200, horizon=10.0, seed=0)


def _set_coef(model, coef: list[float]) -> None:
    with torch.no_grad():
        model.coef.copy_(torch.tensor(coef, dtype=torch.float64))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_are_float64_by_default(name):
    model = MODELS[name]()
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors
    assert {t.dtype for t in tensors} == {torch.float64}


def test_linear_model_powers_and_names():
    assert ConstantLambda().powers == (2,)
    assert PolynomialLambda(2).powers == (2, 3, 4)
    assert PolynomialLambda(2).names == ("c0", "c1", "c2")
    assert PolynomialK(3).powers == (0, 1, 2, 3)
    assert PolynomialK(3).n_params == 4


def test_polynomial_lambda_evaluates_the_polynomial():
    model = PolynomialLambda(2)
    _set_coef(model, [0.1, -0.3, 0.05])
    x = torch.linspace(-5.0, 5.0, 101, dtype=torch.float64)
    torch.testing.assert_close(model.lam(x), 0.1 - 0.3 * x + 0.05 * x**2, rtol=1e-14, atol=1e-15)
    assert model.lam(torch.tensor([2.0], dtype=torch.float64)).item() == pytest.approx(-0.3)


def test_linear_models_predict_the_aggregate_of_their_definition(paths):
    x = paths.values
    poly_lam = PolynomialLambda(2)
    _set_coef(poly_lam, [0.1, -0.3, 0.05])
    expected = ((0.1 - 0.3 * x + 0.05 * x**2) * x**2).mean(dim=0)
    torch.testing.assert_close(poly_lam(poly_lam.prepare(paths)), expected, rtol=1e-12, atol=0)

    poly_k = PolynomialK(3)
    _set_coef(poly_k, [0.3, -0.2, 0.25, 0.1])
    expected = (0.3 - 0.2 * x + 0.25 * x**2 + 0.1 * x**3).mean(dim=0)
    torch.testing.assert_close(poly_k(poly_k.prepare(paths)), expected, rtol=1e-12, atol=1e-14)

    constant = ConstantLambda()
    _set_coef(constant, [0.25])
    torch.testing.assert_close(
        constant(constant.prepare(paths)), 0.25 * (x**2).mean(dim=0), rtol=1e-14, atol=0
    )
    assert constant.lam_estimate(constant.prepare(paths)) == 0.25


def test_pointwise_mlp_starts_constant_in_x(paths):
    for seed in (0, 1):
        model = PointwiseMLP(hidden=(16, 8), seed=seed)
        model.adapt(paths)  # fits the input standardisation to the paths
        output = model.net[-1]
        assert torch.count_nonzero(output.weight) == 0
        x = torch.linspace(-20.0, 20.0, 401, dtype=torch.float64)
        with torch.no_grad():
            lam = model.lam(x)
        assert torch.equal(lam, torch.full_like(x, float(output.bias.detach())))
    # the first layer is spread evenly (the same for every seed); later ones are drawn from it
    first, second = PointwiseMLP((8, 4), seed=0).net, PointwiseMLP((8, 4), seed=1).net
    assert torch.equal(first[0].weight, second[0].weight)
    assert not torch.equal(first[2].weight, second[2].weight)


def test_pointwise_mlp_first_layer_is_spread_across_the_standardized_x():
    """Unit u is a ramp tanh(a (z - c_u)) with centres c_u evenly on [-2, 2] and slope
    a = (width - 1) / 4: exactly what the lambda(x) study chose."""
    first = PointwiseMLP((8,)).net[0]
    slope = 7 / 4
    centres = torch.linspace(-2.0, 2.0, 8, dtype=torch.float64)
    assert torch.equal(first.weight, torch.full((8, 1), slope, dtype=torch.float64))
    assert torch.allclose(first.bias, -slope * centres, rtol=0, atol=1e-15)


def test_pointwise_mlp_lam_estimate_is_the_x2_weighted_mean_over_observed_x(paths):
    model = PointwiseMLP(seed=0)
    inputs = model.prepare(paths)
    with torch.no_grad():
        model.net[-1].weight.normal_()  # make lambda_theta depend on x
        square = paths.values.square()
        expected = float((model.lam(paths.values) * square).sum() / square.sum())
        spread = float(model.lam(paths.values).std())
    assert spread > 1e-3
    assert model.lam_estimate(inputs) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("make", [lambda: SeedNetwork(20, hidden=(4,)), PointwiseMLP])
def test_prepare_never_changes_the_model(paths, make):
    """Only ``adapt`` fits the input scaling; preparing other paths (for prediction) must not
    change what the network computes."""
    model = make()
    model.adapt(paths)
    inputs = model.prepare(paths)
    with torch.no_grad():
        before = model(inputs)
    other = pf.simulate(pf.ABM(mu=3.0, sigma=5.0), n_paths=20, n_times=50, horizon=1.0, seed=9)
    model.prepare(other)
    with torch.no_grad():
        assert torch.equal(model(inputs), before)


def test_networks_initialise_from_their_own_seed_without_touching_the_global_stream():
    state = torch.random.get_rng_state()
    a, b, c = SeedNetwork(10, seed=3), SeedNetwork(10, seed=3), SeedNetwork(10, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(a.net[0].weight, c.net[0].weight)


def test_seed_network_refuses_paths_with_another_n_paths(paths):
    model = SeedNetwork(paths.n_paths + 1)
    with pytest.raises(pf.InputError) as info:
        model.prepare(paths)
    assert isinstance(info.value, ValueError)
    assert info.value.field == "n_paths"
    assert str(info.value).endswith(f"found {paths.n_paths}")
    assert f"expected {paths.n_paths + 1} paths" in str(info.value)

    targets = pf.make_targets(paths, ConstantLam(0.25))
    with pytest.raises(pf.InputError, match=r"^n_paths: "):
        pf.GradientFit(model).fit(paths, targets)


@pytest.mark.slow
def test_seed_network_weight_share_after_a_constant_lambda_fit(paths):
    targets = pf.make_targets(paths, ConstantLam(0.25))
    fresh = SeedNetwork(paths.n_paths, seed=0)
    inputs = fresh.prepare(paths)
    spread, level = fresh.weight_share(inputs)
    # randomly initialised weights do move lambda_j with x_j ...
    assert spread / level > 1e-2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        est = pf.GradientFit(fresh, optimizer="lbfgs", max_steps=100).fit(paths, targets)
    spread, level = est.model_.weight_share(inputs)
    # ... after fitting a constant lambda, they no longer do: only the bias carries lambda
    assert level == pytest.approx(0.25, rel=1e-4)
    assert spread / level < 1e-3


@pytest.mark.parametrize(
    ("make", "field", "found"),
    [
        (lambda: PolynomialLambda(-1), "degree", "-1"),
        (lambda: PolynomialK(1.5), "degree", "1.5"),
        (lambda: SeedNetwork(0), "n_paths", "0"),
        (lambda: SeedNetwork(5, hidden=(3, 0)), "hidden[1]", "0"),
        (lambda: PointwiseMLP(hidden=()), "hidden", "()"),
    ],
)
def test_bad_model_arguments_are_refused(make, field, found):
    with pytest.raises(pf.InputError) as info:
        make()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: expected ")
    assert str(info.value).endswith(f"found {found}")
