"""`run` with least squares alone streams the paths: the same results as with the paths held
whole, and a report that says which paths it drew."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from pathfit.app.build import streams
from pathfit.app.config import parse_config
from pathfit.app.experiment import fit_methods, run_experiment, simulate_experiment
from pathfit.app.outcome import mean_lam_observed
from pathfit.cli import app
from pathfit.design import SAMPLE_PATHS, StreamedPaths


@pytest.mark.parametrize(
    "target",
    [
        {"noise_std": 0.02},
        {"kind": "poly_lambda", "coef": [0.25, 0.05], "noise_std": 0.01},
        {"kind": "poly_k", "coef": [0.1, 0.0, 0.25]},
    ],
)
def test_a_least_squares_run_streams_and_equals_the_whole_paths(target):
    cfg = parse_config(
        {
            "sampling": {"n_paths": 300, "n_times": 200},
            "target": target,
            "methods": {"run": ["least_squares"]},
        }
    )
    assert streams(cfg)
    out = run_experiment(cfg)
    assert isinstance(out.paths, StreamedPaths)
    paths, targets, spec = simulate_experiment(cfg)
    assert torch.allclose(out.targets.values, targets.values, rtol=1e-12, atol=1e-15)
    (whole,) = fit_methods(cfg, paths, targets, spec)
    (streamed,) = out.methods
    assert streamed.result.params == pytest.approx(whole.result.params, rel=1e-9, abs=1e-13)
    assert streamed.result.stderr == pytest.approx(whole.result.stderr, rel=1e-6)
    assert streamed.result.interval == whole.result.interval
    assert streamed.identifiability.warnings == whole.identifiability.warnings
    if target.get("kind") == "poly_lambda":
        assert out.lam_mean_observed == pytest.approx(mean_lam_observed(spec, paths), rel=1e-12)


def test_runs_with_any_method_that_needs_the_paths_hold_them_whole():
    for run in (["least_squares", "gradient"], ["pointwise_mlp"]):
        assert not streams(parse_config({"methods": {"run": run}}))
    assert not streams(
        parse_config({"methods": {"run": ["least_squares"]}, "lambda_x": {"coef": [0.25, 0.1]}})
    )


def test_the_report_of_a_streamed_run_says_which_paths_it_drew(tmp_path):
    n = SAMPLE_PATHS + 100
    (tmp_path / "c.toml").write_text(
        f'[sampling]\nn_paths = {n}\nn_times = 50\n[methods]\nrun = ["least_squares"]\n'
    )
    result = CliRunner().invoke(
        app, ["run", "-c", str(tmp_path / "c.toml"), "-o", str(tmp_path / "out"), "-q"]
    )
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "report.html").read_text()
    assert f"30 of the {n} paths, the mean and the 90% band of the first {SAMPLE_PATHS}" in page
    data = json.loads((tmp_path / "out" / "results.json").read_text())["data"]
    assert data == {"n_paths": n, "n_times": 50}
