"""The lambda(x) experiment: degree and width chosen on held-out times, exact coefficients."""

from __future__ import annotations

import warnings

import pathfit as pf
from pathfit.app.config import parse_config
from pathfit.app.experiment import run_lambda_x
from pathfit.app.outcome import LambdaXOutcome


def _lambda_x(noise_std: float | None = None) -> LambdaXOutcome:
    lambda_x: dict = {"coef": [0.1, 0.0, 0.05], "widths": [4], "mlp_max_steps": 5}
    if noise_std is not None:
        lambda_x["noise_std"] = noise_std
    config = parse_config({"sampling": {"n_paths": 50, "n_times": 300}, "lambda_x": lambda_x})
    paths = pf.simulate(
        pf.ABM(mu=0.5, sigma=1.0), n_paths=50, n_times=300, horizon=10.0, seed=config.seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        return run_lambda_x(config, paths)


def test_lambda_x_experiment_reports_both_selections_and_exact_coefficients():
    out = _lambda_x()
    assert out.truth.coef == (0.1, 0.0, 0.05)
    assert out.noise_std == 0.0
    degrees = out.by_degree
    assert [c.name for c in degrees.candidates] == [f"degree {d}" for d in range(5)]
    assert degrees.n_holdout == 60  # 20% of 300
    assert degrees.best in {f"degree {d}" for d in range(2, 5)}  # all exact from degree 2
    widths = out.by_width
    assert [c.name for c in widths.candidates] == ["width 4"]
    assert widths.best == "width 4"
    for selection in (degrees, widths):
        for c in selection.candidates:
            assert c.holdout_loss >= 0 and c.holdout_loss_se >= 0
    # noise-free targets and a degree >= 2: the coefficients (padded with the true zeros of
    # higher degrees) are exact up to rounding
    assert out.degree >= 2
    assert max(out.coef_abs_error) < 1e-10, out.coef_abs_error
    assert out.ls_max_lam_error < 1e-10
    assert out.mlp_width == 4
    assert 1 <= out.mlp.result_.steps <= 5
    assert out.mlp.result_.status != "diverged"
    summary = out.to_json()
    assert summary["pointwise_mlp"]["width"] == 4
    assert summary["least_squares"]["degree"] == out.degree


def test_lambda_x_experiment_with_noise_picks_degree_2_within_its_errors():
    out = _lambda_x(noise_std=0.05)
    assert out.noise_std == 0.05
    assert out.by_degree.best == "degree 2", out.by_degree
    assert out.degree == 2
    assert out.least_squares.interval_ == "classical"
    # within 6 standard errors per coefficient: P(|z| > 6) = 2e-9 each
    stderr = out.least_squares.stderr_.tolist()
    for error, se in zip(out.coef_abs_error, stderr, strict=True):
        assert error < 6 * se, (out.coef_abs_error, stderr)
