"""Gradient check: autograd against central differences, and a planted wrong backward.

The application's ``check_builtin_models`` is tested in tests/app/test_checks.py, the
``pathfit check`` command in tests/cli/test_check_command.py."""

from __future__ import annotations

import pytest
import torch

import pathfit as pf
from pathfit.diagnostics import check_gradients
from pathfit.models import (
    ConstantLambda,
    PointwiseMLP,
    PolynomialK,
    PolynomialLambda,
    SeedNetwork,
)
from pathfit.targets import ConstantLam
from planted_models import (
    RightSquaredPredictionLambda,
    SquaredPredictionLambda,
    WrongActivationMLP,
)


def _data(n_paths: int = 32, n_times: int = 64) -> tuple[pf.Paths, pf.Targets]:
    paths = pf.simulate(
        pf.ABM(mu=0.5, sigma=1.0), n_paths=n_paths, n_times=n_times, horizon=10.0, seed=0
    )
    return paths, pf.make_targets(paths, ConstantLam(0.25), noise_std=0.1, seed=0)


@pytest.mark.parametrize(
    "make",
    [
        ConstantLambda,
        lambda: PolynomialLambda(2),
        lambda: PolynomialK(3),
        lambda: SeedNetwork(32),
        lambda: SeedNetwork(32, (4,)),
        lambda: PointwiseMLP((16,)),
        lambda: PointwiseMLP((8, 8)),
    ],
    ids=["constant", "poly_lambda", "poly_k", "seed", "seed_hidden", "mlp", "mlp_deep"],
)
def test_every_builtin_model_passes(make):
    paths, targets = _data()
    model = make()
    report = check_gradients(model, paths, targets)
    assert report.passed, report.message
    assert report.model == type(model).__name__
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    assert [t.name for t in report.tensors] == names
    assert all(t.max_relative_error <= report.rtol for t in report.tensors)
    assert "matches central differences" in report.message
    assert report.summary()["passed"] is True


def test_check_leaves_the_model_untouched():
    paths, targets = _data()
    model = PointwiseMLP((8,))
    before = [p.detach().clone() for p in model.parameters()]
    check_gradients(model, paths, targets)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


def test_planted_wrong_square_fails_and_names_the_parameter():
    paths, targets = _data()
    # the planted model is otherwise sound: with a correct square it passes
    assert check_gradients(RightSquaredPredictionLambda(), paths, targets).passed
    report = check_gradients(SquaredPredictionLambda(), paths, targets)
    assert not report.passed
    (tensor,) = report.tensors
    assert tensor.name == "coef"
    assert not tensor.passed
    # the backward forgets a factor 2 on the only path: autograd is half the true gradient
    assert tensor.autograd == pytest.approx(0.5 * tensor.finite_difference, rel=1e-6)
    assert tensor.max_relative_error == pytest.approx(0.5, rel=1e-6)
    assert "coef" in report.message
    assert "wrong" in report.message
    assert "SquaredPredictionLambda" in report.message


def test_planted_wrong_activation_fails_on_the_hidden_layer_only():
    paths, targets = _data()
    report = check_gradients(WrongActivationMLP(), paths, targets)
    assert not report.passed
    verdict = {t.name: t.passed for t in report.tensors}
    # the activation's backward only feeds the weights below it
    assert verdict == {
        "net.0.weight": False,
        "net.0.bias": False,
        "net.2.weight": True,
        "net.2.bias": True,
    }
    assert "wrong" in report.message
    assert "net.0." in report.message
    failing = max((t for t in report.tensors if not t.passed), key=lambda t: t.max_relative_error)
    assert failing.name in report.message
