"""The run configuration: defaults are the seed experiment; mistakes name the key and the value."""

from __future__ import annotations

import re

import pytest

import pathfit as pf
from pathfit.app.config import load_config, parse_config


def test_empty_config_is_the_seed_experiment():
    cfg = parse_config({})
    assert cfg.seed == 0
    assert cfg.dtype == "float64"
    assert cfg.device == "cpu"
    assert (cfg.process.kind, cfg.process.x0, cfg.process.mu, cfg.process.sigma) == (
        "abm",
        0.0,
        0.5,
        1.0,
    )
    assert (cfg.sampling.n_paths, cfg.sampling.n_times, cfg.sampling.horizon) == (100, 1000, 10.0)
    assert (cfg.target.kind, cfg.target.lam, cfg.target.noise_std) == ("constant", 0.25, 0.0)
    assert cfg.methods.run is None
    assert cfg.methods.level == 0.95
    # the seed's recipe as it was, and the guarded fits
    assert cfg.methods.seed_sgd.lr == 0.01
    assert cfg.methods.gradient.mode == "full"
    assert cfg.methods.gradient.guard is True
    assert (cfg.methods.seed_network.optimizer, cfg.methods.seed_network.max_steps) == (
        "auto",
        100,
    )
    assert list(cfg.methods.seed_network.hidden) == []
    assert (cfg.methods.pointwise_mlp.optimizer, cfg.methods.pointwise_mlp.max_steps) == (
        "auto",
        100,
    )
    assert list(cfg.methods.pointwise_mlp.hidden) == [8]


def test_given_values_are_kept():
    cfg = parse_config(
        {
            "seed": 7,
            "process": {"kind": "ou", "theta": 2.0},
            "sampling": {"n_paths": 20},
            "target": {"kind": "poly_k", "coef": [0.1, 0.2]},
            "methods": {"run": ["least_squares"], "gradient": {"optimizer": "adam"}},
        }
    )
    assert cfg.seed == 7
    assert (cfg.process.kind, cfg.process.theta, cfg.process.sigma) == ("ou", 2.0, 1.0)
    assert (cfg.sampling.n_paths, cfg.sampling.n_times) == (20, 1000)
    assert list(cfg.target.coef) == [0.1, 0.2]
    assert list(cfg.methods.run) == ["least_squares"]
    assert cfg.methods.gradient.optimizer == "adam"


@pytest.mark.parametrize(
    ("data", "field", "suggestion"),
    [
        ({"process": {"sigam": 1}}, "process.sigam", "sigma"),
        ({"sead": 1}, "sead", "seed"),
        ({"sampling": {"n_path": 10}}, "sampling.n_path", "n_paths"),
        (
            {"methods": {"gradient": {"optimiser": "adam"}}},
            "methods.gradient.optimiser",
            "optimizer",
        ),
    ],
)
def test_misspelled_key_is_named_with_a_suggestion(data, field, suggestion):
    with pytest.raises(pf.InputError) as info:
        parse_config(data)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert f"{field}:" in message
    assert f"did you mean '{suggestion}'" in message
    assert "unknown key" in message


def test_unknown_key_in_a_nested_section_lists_that_sections_keys():
    with pytest.raises(pf.InputError) as info:
        parse_config({"methods": {"least_squares": {"foo": 1}}})
    message = str(info.value)
    assert "methods.least_squares.foo:" in message
    assert "interval" in message  # a key of [methods.least_squares]
    assert "n_paths" not in message  # not a key of that section
    assert "one of ," not in message, message


@pytest.mark.parametrize(
    ("data", "field", "found"),
    [
        # bounds are checked by the object the section configures, which reads floats
        ({"process": {"sigma": -1}}, "process.sigma", "-1.0"),
        ({"process": {"kind": "ou", "theta": 0}}, "process.theta", "0.0"),
        ({"process": {"kind": "bm"}}, "process.kind", "'bm'"),
        ({"sampling": {"n_paths": 0}}, "sampling.n_paths", "0"),
        ({"sampling": {"horizon": -2.5}}, "sampling.horizon", "-2.5"),
        ({"target": {"noise_std": -0.1}}, "target.noise_std", "-0.1"),
        ({"methods": {"level": 1.5}}, "methods.level", "1.5"),
        ({"methods": {"gradient": {"lr": 0}}}, "methods.gradient.lr", "0.0"),
        ({"methods": {"run": ["least_square"]}}, "methods.run.0", "'least_square'"),
        ({"seed": -1}, "seed", "-1"),
        ({"dtype": "float16"}, "dtype", "'float16'"),
    ],
)
def test_out_of_range_values_name_the_field_and_the_value(data, field, found):
    with pytest.raises(pf.InputError) as info:
        parse_config(data)
    message = str(info.value)
    assert f"{field}:" in message
    assert message.endswith(f"found {found}"), message


@pytest.mark.parametrize(
    ("data", "field", "expected", "found"),
    [
        # no bool for a number: n_paths = true would be 1 path
        ({"sampling": {"n_paths": True}}, "sampling.n_paths", "an integer, not a boolean", "true"),
        ({"process": {"mu": False}}, "process.mu", "a number, not a boolean", "false"),
        # no strings for numbers or booleans
        ({"sampling": {"n_paths": "20"}}, "sampling.n_paths", "an integer", "'20'"),
        ({"process": {"mu": "1.0"}}, "process.mu", "a number, written without quotes", "'1.0'"),
        ({"methods": {"level": "0.9"}}, "methods.level", "a number", "'0.9'"),
        ({"methods": {"gradient": {"guard": "yes"}}}, "methods.gradient.guard", "true or", "'yes'"),
        ({"methods": {"gradient": {"guard": 1}}}, "methods.gradient.guard", "true or false", "1"),
        ({"target": {"coef": ["1"]}}, "target.coef.0", "a number", "'1'"),
        # no float for an integer
        (
            {"sampling": {"n_times": 20.0}},
            "sampling.n_times",
            "an integer, without a decimal",
            "20.0",
        ),
        ({"seed": 2.5}, "seed", "an integer", "2.5"),
        ({"lambda_x": {"widths": [True]}}, "lambda_x.widths.0", "an integer, not a", "true"),
        ({"methods": {"pointwise_mlp": {"hidden": [8.0]}}}, "pointwise_mlp.hidden.0", "an", "8.0"),
        ({"threads": True}, "threads", "an integer, not a boolean", "true"),
        ({"process": 1}, "process", "a table [process]", "1"),
        ({"methods": {"run": "gradient"}}, "methods.run", "a list", "'gradient'"),
    ],
)
def test_values_of_another_type_are_refused_not_converted(data, field, expected, found):
    with pytest.raises(pf.InputError) as info:
        parse_config(data, source="my.toml")
    message = str(info.value)
    assert message.startswith("my.toml: ") and f"{field}: expected {expected}" in message, message
    assert message.endswith(f"found {found}"), message
    assert "\n" not in message


def test_an_integer_is_a_number_where_a_float_is_expected():
    cfg = parse_config({"sampling": {"horizon": 10}, "process": {"mu": 1}, "target": {"lam": 0}})
    assert (cfg.sampling.horizon, cfg.process.mu, cfg.target.lam) == (10.0, 1.0, 0.0)
    assert isinstance(cfg.sampling.horizon, float)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"sampling": {"n_paths": 0}}, "sampling.n_paths: expected a value greater than or"),
        ({"process": {"kind": "bm"}}, "process.kind: expected one of 'abm', 'gbm' or 'ou'"),
    ],
)
def test_pydantic_messages_read_after_expected(data, expected):
    with pytest.raises(pf.InputError, match=f"^config: {re.escape(expected)}"):
        parse_config(data)


def test_errors_name_their_source():
    with pytest.raises(pf.InputError, match=r"^my.toml: process\.sigma: "):
        parse_config({"process": {"sigma": -1}}, source="my.toml")


def test_load_config_reads_a_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("seed = 3\n[sampling]\nn_paths = 20\n[process]\nsigma = 2.0\n", "utf-8")
    cfg = load_config(path)
    assert (cfg.seed, cfg.sampling.n_paths, cfg.process.sigma) == (3, 20, 2.0)
    assert cfg.sampling.n_times == 1000


def test_load_config_names_the_file_in_validation_errors(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text("[process]\nsigam = 1\n", "utf-8")
    with pytest.raises(pf.InputError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: process.sigam: ")


def test_load_config_on_a_missing_file(tmp_path):
    path = tmp_path / "missing.toml"
    with pytest.raises(pf.InputError) as info:
        load_config(path)
    assert info.value.field == "--config"
    assert str(info.value).endswith(f"found {path}")


def test_load_config_on_invalid_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("seed = = 1\n", "utf-8")
    with pytest.raises(pf.InputError) as info:
        load_config(path)
    message = str(info.value)
    assert info.value.field == "--config"
    assert "TOML" in message
    assert str(path) in message
    assert "line 1" in message


@pytest.mark.parametrize(
    ("data", "field", "found"),
    [
        # everything run would refuse later is refused when the config is read
        ({"process": {"mu": float("nan")}}, "process.mu", "nan"),
        ({"sampling": {"horizon": float("inf")}}, "sampling.horizon", "inf"),
        ({"methods": {"pointwise_mlp": {"hidden": [-1]}}}, "methods.pointwise_mlp.hidden[0]", "-1"),
        ({"methods": {"seed_network": {"hidden": [0]}}}, "methods.seed_network.hidden[0]", "0"),
        ({"lambda_x": {"coef": [0.1], "widths": []}}, "lambda_x.widths", "[]"),
        ({"methods": {"gradient": {"holdout": 1.5}}}, "methods.gradient.holdout", "1.5"),
        ({"methods": {"gradient": {"n_bootstrap": 1}}}, "methods.gradient.n_bootstrap", "1"),
        ({"methods": {"least_squares": {"interval": "bca"}}}, "least_squares.interval", "'bca'"),
        ({"device": "tpu"}, "device", "'tpu'"),
        ({"process": {"kind": "gbm", "x0": 0.0}}, "process.x0", "0.0"),
        ({"target": {"kind": "poly_k"}}, "target.coef", "[]"),
        (
            {"target": {"kind": "poly_k", "coef": [1.0]}, "methods": {"run": ["seed_sgd"]}},
            "methods.run",
            "'seed_sgd'",
        ),
        # a fit that the configured times cannot support, its hold-out included
        (
            {"sampling": {"n_times": 2}, "target": {"kind": "poly_lambda", "coef": [1, 2, 3]}},
            "sampling.n_times",
            "2",
        ),
        (
            {"sampling": {"n_times": 10}, "methods": {"gradient": {"holdout": 0.95}}},
            "methods.gradient.holdout",
            "0.95 of 10 times",
        ),
        ({"methods": {"run": []}}, "methods.run", "[]"),
        ({"methods": {"run": ["gradient", "gradient"]}}, "methods.run", "['gradient', 'gradient']"),
        ({"seed": 2**64}, "seed", str(2**64)),
        ({"lambda_x": {"coef": [0.1], "widths": [4, 4]}}, "lambda_x.widths", "[4, 4]"),
        ({"lambda_x": {"coef": [0.1], "widths": [4, 0]}}, "lambda_x.widths", "0"),
        # the section of a method that is not selected is checked too (coverage runs it)
        (
            {"methods": {"run": ["least_squares"], "gradient": {"lr": -1.0}}},
            "methods.gradient.lr",
            "-1.0",
        ),
    ],
)
def test_content_checks_run_when_the_config_is_read(data, field, found):
    with pytest.raises(pf.InputError) as info:
        parse_config(data)
    message = str(info.value)
    assert f"{field}" in message, message
    assert message.endswith(f"found {found}"), message


def test_a_config_too_large_to_run_still_parses():
    # its content is valid; whether it fits is the machine's question (pathfit.app.memory)
    cfg = parse_config({"sampling": {"n_paths": 10_000_000, "n_times": 10_000_000}})
    assert cfg.sampling.n_paths == 10_000_000


def test_cuda_device_is_refused_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(pf.InputError, match=r"device: expected an available device"):
        parse_config({"device": "cuda"})


def test_threads_zero_is_refused_naming_the_key() -> None:
    with pytest.raises(pf.InputError) as err:
        parse_config({"threads": 0})
    assert "threads" in str(err.value) and "\n" not in str(err.value)


def test_threads_reach_every_estimator_the_run_builds() -> None:
    from pathfit.app.build import lambda_x_networks, make_estimator
    from pathfit.app.methods import METHODS

    config = parse_config({"threads": 2, "lambda_x": {"coef": [0.3, -0.1]}})
    # every method but the amortized one, which needs a trained estimator
    # (tests/cli/test_amortize_cli.py checks it)
    for name in (m for m in METHODS if m != "amortized"):
        assert make_estimator(name, config, config.sampling.n_paths).threads == 2
    assert all(network.threads == 2 for network in lambda_x_networks(config).values())
    assert make_estimator("pointwise_mlp", parse_config({}), 100).threads is None
