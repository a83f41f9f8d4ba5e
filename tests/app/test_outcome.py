"""The typed outcome of a run: what each method found against the truth, failures recorded."""

from __future__ import annotations

import json

import pytest

import pathfit as pf
from pathfit.app.config import parse_config
from pathfit.app.experiment import fit_data, run_experiment, simulate_experiment, x_grid
from pathfit.targets import ConstantLam, KPolynomial, PolynomialLam, spec_from_truth


def _config(**sections):
    return parse_config({"sampling": {"n_paths": 20, "n_times": 50}, **sections})


def test_outcome_compares_each_method_with_the_truth():
    config = _config(methods={"run": ["least_squares", "gradient"]})
    out = run_experiment(config)
    assert out.truth == ConstantLam(0.25)
    assert [m.name for m in out.methods] == ["least_squares", "gradient"]
    for method in out.methods:
        assert method.status == "converged"
        assert method.truth == 0.25
        assert method.abs_error == abs(method.estimate - 0.25)
        assert method.abs_error < 1e-12  # noise-free targets: exact to rounding
        lo, hi = method.ci
        assert lo <= method.estimate <= hi
        assert method.error is None
    data = json.loads(json.dumps(out.to_json(), allow_nan=False))
    assert data["schema_version"] == 5
    assert data["truth"] == {"lam": 0.25}
    assert data["methods"][0]["ci"] == list(out.methods[0].ci)
    assert data["methods"][0]["level"] == 0.95


def test_polynomial_estimates_are_coefficients_with_one_interval_each():
    config = _config(
        target={"kind": "poly_lambda", "coef": [0.1, 0.0, 0.05]},
        methods={"run": ["least_squares", "pointwise_mlp"], "pointwise_mlp": {"max_steps": 2}},
    )
    out = run_experiment(config)
    ls, mlp = out.methods
    assert ls.vector and ls.param_names == ("c0", "c1", "c2")
    assert ls.truth == (0.1, 0.0, 0.05)
    assert len(ls.ci) == 3
    assert ls.abs_error == max(abs(a - b) for a, b in zip(ls.estimate, ls.truth, strict=True))
    # one lambda for a lambda(x): compared with its mean over the observed x
    assert not mlp.vector
    assert mlp.truth == pytest.approx(out.lam_mean_observed, rel=0, abs=0)
    assert out.to_json()["truth"]["lam_mean_observed"] == out.lam_mean_observed


def test_a_method_that_cannot_fit_the_data_is_recorded_and_the_others_run():
    # given data with 4 times: least squares fits its 3 coefficients, while the gradient fit
    # holds out half of the times and keeps 2, too few to train on
    config = _config(
        target={"kind": "poly_lambda", "coef": [0.1, 0.0, 0.05]},
        methods={"run": ["least_squares", "gradient"], "gradient": {"holdout": 0.5}},
    )
    truth = PolynomialLam((0.1, 0.0, 0.05))
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=20, n_times=4, horizon=1.0, seed=0)
    out = fit_data(config, paths, pf.make_targets(paths, truth), truth, source="data.csv")
    ls, gradient = out.methods
    assert ls.status == "converged"
    assert gradient.status == "failed"
    assert isinstance(gradient.error, pf.InputError)
    assert "holdout" in gradient.message
    assert gradient.result is None and gradient.estimate is None and gradient.abs_error is None
    assert gradient.truth == (0.1, 0.0, 0.05)  # what it would have been compared with
    entry = out.to_json()["methods"][1]
    assert entry["status"] == "failed" and entry["error"] == str(gradient.error)


def test_when_every_method_fails_the_first_error_is_raised():
    config = _config(methods={"run": ["gradient"], "gradient": {"holdout": 0.5}})
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=20, n_times=1, horizon=1.0, seed=0)
    targets = pf.make_targets(paths, ConstantLam(0.25))
    with pytest.raises(pf.InputError, match="holdout"):
        fit_data(config, paths, targets, ConstantLam(0.25), source="data.csv")


def test_coefficients_of_different_degrees_compare_padded_with_zeros():
    # fit degree 2 to data whose truth is a degree-1 lambda(x)
    config = _config(
        target={"kind": "poly_lambda", "coef": [0.1, 0.0, 0.05]}, methods={"run": ["least_squares"]}
    )
    truth = PolynomialLam((0.1, 0.02))
    paths, _, _ = simulate_experiment(config)
    targets = pf.make_targets(paths, truth)
    (ls,) = fit_data(config, paths, targets, truth, source="given").methods
    assert ls.truth == (0.1, 0.02)
    padded = (0.1, 0.02, 0.0)
    assert ls.abs_error == max(abs(a - b) for a, b in zip(ls.estimate, padded, strict=True))
    assert ls.abs_error < 1e-10


def test_coefficients_of_another_family_are_not_compared():
    # a lambda(x) polynomial fitted to data whose truth is a k polynomial
    config = _config(
        target={"kind": "poly_lambda", "coef": [0.1, 0.0]}, methods={"run": ["least_squares"]}
    )
    truth = KPolynomial((0.0, 0.0, 0.25))
    paths, _, _ = simulate_experiment(config)
    (ls,) = fit_data(config, paths, pf.make_targets(paths, truth), truth, "given").methods
    assert ls.truth is None and ls.abs_error is None
    assert ls.estimate is not None
    # its lambda(x) is drawn, but there is no true lambda(x) beside it
    assert ls.lam_curve is not None and ls.lam_curve.truth is None
    assert ls.to_json()["lam_curve"]["truth"] is None


def test_lam_curves_are_the_estimators_on_the_grid_with_the_true_lambda_x():
    coef = (0.1, 0.0, 0.05)
    config = _config(
        target={"kind": "poly_lambda", "coef": list(coef), "noise_std": 0.01},
        methods={"pointwise_mlp": {"hidden": [4], "max_steps": 5}},
        lambda_x={"coef": list(coef), "widths": [4], "mlp_max_steps": 3, "max_degree": 2},
    )
    out = run_experiment(config)
    grid = x_grid(out.paths.values)
    truth = PolynomialLam(coef).lam(grid).tolist()
    data = out.to_json()
    assert [m["name"] for m in data["methods"]] == ["least_squares", "gradient", "pointwise_mlp"]
    for method, entry in zip(out.methods, data["methods"], strict=True):
        curve = entry["lam_curve"]
        expected = method.estimator.lam_curve(grid).summary()
        assert {key: curve[key] for key in expected} == expected, method.name
        assert set(curve) == {*expected, "truth"}
        assert curve["truth"] == truth  # exact: the true lambda(x) on the same grid
        assert curve["level"] == 0.95 and curve["stderr"] is not None, curve["note"]
        assert len(curve["x"]) == len(curve["lower"]) == 201
        assert all(
            lo <= lam <= hi
            for lo, lam, hi in zip(curve["lower"], curve["lam"], curve["upper"], strict=True)
        )
    # the lambda(x) experiment's two fits, on the grid over the same observed x
    lx = out.lambda_x
    for fit, key in ((lx.least_squares, "least_squares"), (lx.mlp, "pointwise_mlp")):
        curve = data["lambda_x"][key]["lam_curve"]
        assert {k: curve[k] for k in curve if k != "truth"} == fit.lam_curve(grid).summary()
        assert curve["truth"] == truth
    assert data["lambda_x"]["x_range"] == [grid[0].item(), grid[-1].item()]


def test_lam_curve_is_null_for_fits_without_a_lambda_x_and_the_truth_is_the_constant():
    config = _config(
        methods={
            "run": ["least_squares", "seed_sgd", "seed_network", "pointwise_mlp"],
            "seed_network": {"max_steps": 3},
            "pointwise_mlp": {"hidden": [4], "max_steps": 3},
        }
    )
    out = run_experiment(config)
    entries = {m["name"]: m for m in out.to_json()["methods"]}
    assert entries["seed_sgd"]["status"] == "diverged"
    for name in ("least_squares", "seed_sgd", "seed_network"):
        assert entries[name]["lam_curve"] is None, name
    curve = entries["pointwise_mlp"]["lam_curve"]
    assert curve["truth"] == [0.25] * 201
    # given data without a truth record: the curve, and no truth beside it
    given = fit_data(config, out.paths, out.targets, None, source="data.csv")
    assert given.methods[-1].lam_curve.truth is None
    assert given.to_json()["methods"][-1]["lam_curve"]["lam"] == curve["lam"]


@pytest.mark.slow
def test_noise_free_pointwise_mlp_learns_the_constant_on_the_whole_grid():
    # the default experiment (100 paths, 1000 times, lambda = 0.25, no noise)
    out = run_experiment(parse_config({"methods": {"run": ["pointwise_mlp"]}}))
    (mlp,) = out.methods
    curve = mlp.to_json()["lam_curve"]
    assert mlp.status == "converged"
    assert max(abs(lam - 0.25) for lam in curve["lam"]) < 1e-3
    assert curve["truth"] == [0.25] * len(curve["x"])


@pytest.mark.parametrize(
    "spec", [ConstantLam(0.25), PolynomialLam((0.1, 0.0, 0.05)), KPolynomial((1.0, 2.0))]
)
def test_truth_records_read_back(spec):
    assert spec_from_truth(spec.to_truth()) == spec
    assert spec_from_truth(json.loads(json.dumps(spec.to_truth()))) == spec


@pytest.mark.parametrize(
    ("record", "found"),
    [
        ({"lam": "a"}, "'a'"),
        ({"lam_coef": []}, "[]"),
        ({"lam": 0.25, "k_coef": [1.0]}, "keys 'lam', 'k_coef'"),
        ({"mu": 0.5}, "keys ['mu']"),
        ([0.25], "list"),
    ],
)
def test_a_bad_truth_record_names_the_file_and_the_value(record, found):
    with pytest.raises(pf.InputError) as info:
        spec_from_truth(record, source="data.truth.json")
    message = str(info.value)
    assert message.startswith("data.truth.json")
    assert message.endswith(f"found {found}"), message
    assert spec_from_truth(None) is None and spec_from_truth({}) is None


@pytest.mark.parametrize(
    ("record", "field", "found"),
    [
        ({"lam_coef": 5}, "lam_coef", "5"),
        ({"lam": True}, "lam", "True"),
        ({"k_coef": [1.0, "a"]}, "k_coef[1]", "'a'"),
        ({"lam_coef": [0.1, float("nan")]}, "lam_coef[1]", "nan"),
    ],
)
def test_a_bad_truth_value_names_its_key_and_element(record, field, found):
    with pytest.raises(pf.InputError) as info:
        spec_from_truth(record, source="data.truth.json")
    message = str(info.value)
    assert message.startswith(f"data.truth.json: {field}: expected "), message
    assert message.endswith(f"found {found}") and "\n" not in message, message
