"""results.json against its JSON Schema (src/pathfit/app/results.schema.json).

Real outcomes of small runs must validate, documents that break the layout must not, and the
schema's closed sets must be the package's own.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pathfit.app.config import parse_config
from pathfit.app.experiment import fit_data, run_experiment, simulate_experiment
from pathfit.app.methods import METHODS
from pathfit.app.outcome import SCHEMA_VERSION
from pathfit.choices import INTERVAL_METHODS, INTERVALS_FOUND, STATUSES
from pathfit.paths import Paths
from pathfit.targets import Targets

DOCS = Path(__file__).resolve().parents[2] / "docs" / "results.md"
POLY = [0.1, 0.0, 0.05]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    text = (files("pathfit.app") / "results.schema.json").read_text(encoding="utf-8")
    loaded = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def constant_results() -> dict[str, Any]:
    config = parse_config(
        {
            "sampling": {"n_paths": 20, "n_times": 100},
            "methods": {
                "run": ["least_squares", "seed_sgd", "gradient", "pointwise_mlp"],
                "pointwise_mlp": {"hidden": [4], "max_steps": 3},
            },
        }
    )
    return run_experiment(config).to_json()


@pytest.fixture(scope="module")
def poly_results() -> dict[str, Any]:
    config = parse_config(
        {
            "sampling": {"n_paths": 20, "n_times": 100},
            "target": {"kind": "poly_lambda", "coef": POLY},
            "methods": {"pointwise_mlp": {"hidden": [4], "max_steps": 3}},
            "lambda_x": {"coef": POLY, "widths": [4], "mlp_max_steps": 3, "max_degree": 2},
        }
    )
    return run_experiment(config).to_json()


@pytest.fixture(scope="module")
def failed_results() -> dict[str, Any]:
    # Given data at two times cannot determine three coefficients: least squares fails, the
    # MLP fits. (The config itself asks for enough times, so it is valid.)
    config = parse_config(
        {
            "sampling": {"n_paths": 10, "n_times": 20},
            "target": {"kind": "poly_lambda", "coef": POLY},
            "methods": {
                "run": ["least_squares", "pointwise_mlp"],
                "pointwise_mlp": {"hidden": [2], "max_steps": 2},
            },
        }
    )
    paths, targets, spec = simulate_experiment(config)
    paths = Paths(paths.values[:, :2], paths.times[:2])
    targets = Targets(targets.values[:2], targets.times[:2])
    return fit_data(config, paths, targets, spec, source="data.csv").to_json()


def by_name(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {method["name"]: method for method in results["methods"]}


def check_valid(validator: jsonschema.Draft202012Validator, results: dict[str, Any]) -> None:
    # Validated as built (a tuple is not a JSON array here) and as written to results.json.
    text = json.dumps(results, allow_nan=False)
    assert json.loads(text) == results
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(results)]
    assert errors == []


def test_constant_run_with_a_diverged_method_validates(validator, constant_results):
    methods = by_name(constant_results)
    assert methods["seed_sgd"]["status"] == "diverged"
    assert methods["least_squares"]["ci"] is not None
    # one lambda learns no lambda(x); the pointwise MLP's comes with its band and the truth
    assert [m["lam_curve"] is not None for m in methods.values()] == [False] * 3 + [True]
    curve = methods["pointwise_mlp"]["lam_curve"]
    assert curve["stderr"] is not None and curve["truth"] == [0.25] * len(curve["x"])
    check_valid(validator, constant_results)


def test_poly_lambda_run_with_the_lambda_x_experiment_validates(validator, poly_results):
    methods = by_name(poly_results)
    assert len(methods["least_squares"]["ci"]) == len(POLY)
    assert isinstance(methods["pointwise_mlp"]["estimate"], float)
    assert all(m["lam_curve"]["truth"] is not None for m in methods.values())
    assert poly_results["lambda_x"] is not None
    for key in ("least_squares", "pointwise_mlp"):
        assert poly_results["lambda_x"][key]["lam_curve"]["stderr"] is not None
    check_valid(validator, poly_results)


def test_fit_with_a_failed_method_validates(validator, failed_results):
    methods = by_name(failed_results)
    assert methods["least_squares"]["status"] == "failed"
    assert methods["pointwise_mlp"]["status"] != "failed"
    assert failed_results["source"] == "data.csv"
    check_valid(validator, failed_results)


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path: list[str | int]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _copy_curve(source: int, target: int) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["methods"][target]["lam_curve"] = copy.deepcopy(doc["methods"][source]["lam_curve"])

    return mutate


# Each broken document, and where the schema must find the fault.
BROKEN = {
    "unknown method key": (_set(["methods", 0, "ci95"], [0.2, 0.3]), ["methods", 0]),
    "wrong schema_version": (_set(["schema_version"], 1), ["schema_version"]),
    "no schema_version": (_delete(["schema_version"]), []),
    "unknown method name": (_set(["methods", 0, "name"], "newton"), ["methods", 0, "name"]),
    "the old top-level true": (_set(["true"], {"lam": 0.25}), []),
    "the old top-level versions": (_set(["versions"], {"pathfit": "0"}), []),
    "a method without level": (_delete(["methods", 0, "level"]), ["methods", 0]),
    "per-coefficient ci for one lambda": (
        _set(["methods", 0, "ci"], [[0.2, 0.3]]),
        ["methods", 0, "ci"],
    ),
    "an estimate for a diverged fit": (
        _set(["methods", 1, "estimate"], 0.3),
        ["methods", 1, "estimate"],
    ),
    "an unknown status": (_set(["methods", 0, "status"], "ok"), ["methods", 0, "status"]),
    "an unknown manifest key": (_set(["manifest", "host"], "x"), ["manifest"]),
    "a lambda(x) curve for a diverged fit": (_copy_curve(3, 1), ["methods", 1, "lam_curve"]),
    "a method without lam_curve": (_delete(["methods", 0, "lam_curve"]), ["methods", 0]),
    "a curve without truth": (
        _delete(["methods", 3, "lam_curve", "truth"]),
        ["methods", 3, "lam_curve"],
    ),
    "a band without standard errors": (
        _set(["methods", 3, "lam_curve", "stderr"], None),
        ["methods", 3, "lam_curve"],
    ),
    "a curve's level of 95": (
        _set(["methods", 3, "lam_curve", "level"], 95),
        ["methods", 3, "lam_curve"],
    ),
}


@pytest.mark.parametrize(("mutate", "where"), BROKEN.values(), ids=BROKEN.keys())
def test_schema_refuses_a_broken_document(validator, constant_results, mutate, where):
    doc = copy.deepcopy(constant_results)
    mutate(doc)
    assert [list(e.absolute_path) for e in validator.iter_errors(doc)] == [where]


def test_schema_refuses_an_error_on_a_method_that_did_not_fail(validator, failed_results):
    doc = copy.deepcopy(failed_results)
    by_name(doc)["pointwise_mlp"]["error"] = "something"
    assert [list(e.absolute_path) for e in validator.iter_errors(doc)] == [["methods", 1, "error"]]


def test_closed_sets_are_the_packages_own(schema):
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    method = schema["$defs"]["method"]["properties"]
    assert method["name"]["enum"] == list(METHODS)
    assert schema["$defs"]["fit_status"]["enum"] == list(STATUSES)
    assert {m for m in INTERVAL_METHODS if m != "auto"} < set(INTERVALS_FOUND)
    assert sorted(schema["$defs"]["interval_method"]["enum"], key=str) == sorted(
        [*INTERVALS_FOUND, None], key=str
    )


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        yield from node.get("properties", {})
        for value in node.values():
            yield from _keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _keys(value)


def test_every_key_is_documented(schema):
    text = DOCS.read_text(encoding="utf-8")
    missing = sorted({key for key in _keys(schema) if f"`{key}`" not in text})
    assert missing == []
