"""estimator.summary(): a statsmodels-like table as text, HTML and a JSON-safe dict."""

from __future__ import annotations

import json

import pytest

import pathfit as pf
from pathfit.models import ConstantLambda, PolynomialLambda, SeedNetwork


@pytest.fixture(scope="module")
def data():
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=40, n_times=300, horizon=10.0, seed=0)
    targets = pf.make_targets(paths, pf.targets.ConstantLam(0.25), noise_std=0.01, seed=0)
    return paths, targets


def test_summary_of_least_squares_carries_the_numbers(data, capsys):
    paths, targets = data
    est = pf.LeastSquares(PolynomialLambda(1)).fit(paths, targets)
    summary = est.summary()
    assert capsys.readouterr().out == ""  # it prints nothing itself
    assert isinstance(summary, pf.Summary)
    assert [row.name for row in summary.rows] == ["c0", "c1"]
    for b, row in enumerate(summary.rows):
        assert row.estimate == float(est.coef_[b])
        assert row.stderr == float(est.stderr_[b])
        assert (row.lower, row.upper) == (float(est.ci_[b, 0]), float(est.ci_[b, 1]))
        assert row.t == pytest.approx(row.estimate / row.stderr, rel=1e-12)
    assert (summary.n_paths, summary.n_times) == (40, 300)
    assert summary.condition_number == est.condition_number_
    assert summary.status == "converged" and summary.interval == est.interval_
    text = summary.as_text()
    assert str(summary) == text == repr(summary)
    assert all(len(line) <= 78 for line in text.splitlines())
    for needle in ("estimate", "std err", "[0.025", "0.975]", "Cond. no.", "PolynomialLambda"):
        assert needle in text
    assert f"{float(est.coef_[0]):.8g}" in text
    assert any(note.startswith("uncertainty (") for note in summary.notes)
    assert any(note.startswith("bias: ") for note in summary.notes)


def test_summary_level_shows_in_the_interval_columns(data):
    paths, targets = data
    text = pf.LeastSquares(level=0.9).fit(paths, targets).summary().as_text()
    assert "[0.05" in text and "0.95]" in text


def test_summary_of_a_network_reports_its_single_lambda(data):
    paths, targets = data
    est = pf.GradientFit(SeedNetwork(40), max_steps=20).fit(paths, targets)
    (row,) = est.summary().rows
    assert row.name == "lam (mean)"
    assert row.estimate == est.lam_ and row.stderr == est.lam_stderr_
    assert (row.lower, row.upper) == est.lam_ci_


def test_summary_of_a_diverged_fit_says_so(data):
    paths, targets = data
    with pytest.warns(pf.ConvergenceWarning):
        est = pf.GradientFit(ConstantLambda(), mode="per_sample", lr=0.01, guard=False).fit(
            paths, targets
        )
    summary = est.summary()
    assert summary.rows == () and summary.status == "diverged"
    assert "no estimate (the fit diverged)" in summary.as_text()
    assert "2/step" in summary.as_text()  # the message with the curvature numbers


def test_summary_html_is_escaped_and_dict_is_json_safe(data):
    paths, targets = data
    est = pf.LeastSquares().fit(paths, targets)
    summary = est.summary()
    html = summary.as_html()
    assert html == summary._repr_html_()
    assert html.startswith('<table class="pathfit-summary">')
    assert "ConstantLambda()" in html and "<script" not in html
    out = summary.to_dict()
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert out["rows"][0]["name"] == "lam" and out["rows"][0]["estimate"] == est.lam_


def test_summary_html_escapes_what_it_shows():
    from pathfit.estimators._summary import Row, Summary

    summary = Summary(
        estimator="LeastSquares",
        method="<b>x</b>",
        model="M&M",
        status="converged",
        message="a < b",
        n_paths=None,
        n_times=3,
        level=0.95,
        interval=None,
        condition_number=None,
        steps=1,
        rows=(Row("c<0>", 1.0, 0.0, 1.0, 1.0, float("inf")),),
    )
    html = summary.as_html()
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "M&amp;M" in html and "c&lt;0&gt;" in html
    assert "<b>" not in html
    assert summary.to_dict()["rows"][0]["t"] is None  # inf is not JSON
    assert " inf" in summary.as_text()


def test_summary_before_fit_is_a_clear_error():
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares().summary()
    assert info.value.field == "LeastSquares"
    assert "fit() before summary()" in str(info.value)


def test_exact_fit_gives_a_huge_or_infinite_t():
    paths = pf.simulate(pf.ABM(), n_paths=10, n_times=50, horizon=1.0, seed=1)
    targets = pf.make_targets(paths, pf.targets.ConstantLam(0.25))
    summary = pf.LeastSquares().fit(paths, targets).summary()
    (row,) = summary.rows
    assert row.estimate == pytest.approx(0.25, rel=1e-12)
    assert row.t is None or abs(row.t) > 1e10
    assert summary.as_text().count("\nlam ") == 1
