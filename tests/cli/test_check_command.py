"""``pathfit check`` through typer's CliRunner: exit 0 when every built-in model's gradient
matches central differences, exit 1 and a one-line message naming the model and the parameter
when a planted wrong backward does not."""

from __future__ import annotations

from typer.testing import CliRunner

from pathfit.app import checks
from pathfit.cli import app
from planted_models import SquaredPredictionLambda, WrongActivationMLP


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_check_command_exits_0_on_the_defaults():
    result = _invoke("check")
    assert result.exit_code == 0, result.stdout + result.stderr
    for name in ("ConstantLambda", "PolynomialLambda", "PolynomialK", "SeedNetwork"):
        assert name in result.stdout
    assert "FAIL" not in result.stdout
    assert result.stderr == ""


def test_check_command_exits_1_when_a_builtin_model_has_a_wrong_backward(monkeypatch):
    # Swap the class check_builtin_models instantiates: the real CLI, the real
    # check_builtin_models and the real check_gradients then meet a wrong backward.
    monkeypatch.setattr(checks, "ConstantLambda", SquaredPredictionLambda)
    result = _invoke("check")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "SquaredPredictionLambda" in lines[0]
    assert "coef" in lines[0]
    assert "wrong" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_check_command_exits_1_for_a_wrong_network_activation(monkeypatch):
    monkeypatch.setattr(checks, "PointwiseMLP", WrongActivationMLP)
    result = _invoke("check")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "WrongActivationMLP" in result.stderr
    assert "net.0." in result.stderr
