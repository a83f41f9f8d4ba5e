"""``check_builtin_models``: the gradient check of every built-in model on a configured run."""

from __future__ import annotations

from pathfit.app.checks import check_builtin_models
from pathfit.app.config import RunConfig


def test_check_builtin_models_all_pass_on_the_defaults():
    checks = check_builtin_models(RunConfig())
    assert [c.model for c in checks] == [
        "ConstantLambda",
        "PolynomialLambda",
        "PolynomialK",
        "SeedNetwork",
        "PointwiseMLP",
    ]
    assert all(c.passed for c in checks), [c.message for c in checks if not c.passed]
