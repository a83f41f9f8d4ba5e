"""The report's text, rendered without drawing: every section reads the typed outcome."""

from __future__ import annotations

import warnings

import pytest

import pathfit as pf
from pathfit.app.config import parse_config
from pathfit.app.experiment import fit_data, run_experiment
from pathfit.report.html import render_html
from pathfit.report.markdown import render_summary


@pytest.fixture(scope="module")
def lambda_x_run():
    config = parse_config(
        {
            "sampling": {"n_paths": 20, "n_times": 60},
            "target": {"kind": "poly_lambda", "coef": [0.1, 0.0, 0.05]},
            "methods": {"run": ["least_squares", "gradient"], "gradient": {"holdout": 0.5}},
            "lambda_x": {"coef": [0.1, 0.0, 0.05], "widths": [2], "mlp_max_steps": 2},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        return run_experiment(config)


def test_every_section_of_a_lambda_x_run_renders(lambda_x_run):
    page = render_html(lambda_x_run, [], title="t", generated="now")
    summary = render_summary(lambda_x_run, [], title="t")
    for text in (page, summary):
        assert "Polynomial degree chosen on held-out times" in text
        assert "MLP width chosen on held-out times" in text
        assert "Least squares at the chosen degree" in text
        for method in lambda_x_run.methods:
            assert method.name in text
    by_degree = lambda_x_run.lambda_x.by_degree
    assert f"{by_degree.best_holdout_loss:.3g}" in summary


def test_a_failed_method_is_shown_with_its_error():
    config = parse_config(
        {
            "sampling": {"n_paths": 20, "n_times": 50},
            "target": {"kind": "poly_lambda", "coef": [0.1, 0.0, 0.05]},
            "methods": {"run": ["least_squares", "gradient"], "gradient": {"holdout": 0.5}},
        }
    )
    truth = pf.targets.PolynomialLam((0.1, 0.0, 0.05))
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=20, n_times=4, horizon=1.0, seed=0)
    out = fit_data(config, paths, pf.make_targets(paths, truth), truth, source="given.csv")
    page = render_html(out, [], title="t", generated="now")
    summary = render_summary(out, [], title="t")
    error = str(out.methods[1].error)
    assert 'class="failed"' in page and "badge failed" in page
    assert any(
        line.startswith("| gradient |") and "| failed: " in line for line in summary.splitlines()
    )
    assert error.split(":")[0] in summary
    assert "given.csv" in page


def test_a_corrected_finite_n_bias_is_shown_in_the_report_and_in_results():
    # k the population E[0.25 x^2], x a sample of 10 paths: the path bootstrap, and the
    # jackknife bias taken off (bias_correction = "jackknife" makes the correction certain)
    config = parse_config(
        {
            "sampling": {"n_paths": 10, "n_times": 200},
            "methods": {
                "run": ["least_squares"],
                "least_squares": {"bias_correction": "jackknife"},
            },
        }
    )
    process = pf.ABM(mu=0.5, sigma=1.0)
    truth = pf.targets.ConstantLam(0.25)
    paths = pf.simulate(process, n_paths=10, n_times=200, horizon=10.0, seed=0)
    targets = pf.targets.population_targets(process, truth, paths.times)
    out = fit_data(config, paths, targets, truth, source="given.csv")
    result = out.methods[0].result
    assert result is not None and result.bias_corrected and result.interval == "path_bootstrap"
    page = render_html(out, [], title="t", generated="now")
    assert "Finite-n bias" in page and "path jackknife bias" in page
    record = out.to_json()["methods"][0]["bias"]
    assert record == {"estimate": result.bias, "corrected": True, "note": result.bias_note}
