"""The example config is complete, valid, and what `pathfit config --example` prints."""

from __future__ import annotations

import json
import tomllib

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from pathfit.app.config import RunConfig, parse_config
from pathfit.app.example import example_config
from pathfit.cli import app

EXAMPLE = example_config()
runner = CliRunner()


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _flatten(table: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in table.items():
        if isinstance(value, dict):
            keys |= _flatten(value, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_example_parses_to_the_defaults() -> None:
    assert parse_config(tomllib.loads(EXAMPLE)) == RunConfig()


def test_example_names_every_key() -> None:
    # Keys whose default is "not set" appear commented out, with the value to write.
    written = _flatten(tomllib.loads(EXAMPLE))
    commented = {"methods.run", "methods.gradient.lr", "lambda_x.noise_std", "threads"}
    commented |= {"methods.amortized.path"}
    commented |= {f"methods.{m}.lr" for m in ("seed_network", "pointwise_mlp")}
    missing = _keys(RunConfig) - written - commented
    assert not missing, f"keys missing from the example: {sorted(missing)}"
    for key in ("# run = ", "# lr = ", "# noise_std = ", "# threads = "):
        assert key in EXAMPLE


@pytest.mark.slow
def test_cli_prints_the_example_and_run_accepts_it(tmp_path) -> None:
    printed = runner.invoke(app, ["config", "--example"])
    assert printed.exit_code == 0 and printed.output == EXAMPLE
    config = tmp_path / "example.toml"
    config.write_text(printed.output)
    checked = runner.invoke(app, ["config", "--check", str(config)])
    assert checked.exit_code == 0 and "valid" in checked.output
    small = (
        printed.output.replace("n_paths = 100 ", "n_paths = 20 ")
        .replace("n_times = 1000 ", "n_times = 100 ")
        .replace("# run = [", "run = [")
    )
    assert small.count("n_paths = 20") == 1 and "\nrun = [" in small
    config.write_text(small)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--config", str(config), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    manifest = data["manifest"]
    assert manifest["seed"] == 0 and manifest["device"] == "cpu"
    assert manifest["config_hash"].startswith("sha256:") and len(manifest["config_hash"]) == 71
    assert manifest["started"] <= manifest["finished"]
    assert set(manifest["versions"]) >= {"pathfit", "torch", "python"}


def test_config_hash_changes_with_the_config(tmp_path) -> None:
    hashes = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        config = tmp_path / f"{seed}.toml"
        config.write_text(
            f"seed = {seed}\n[sampling]\nn_paths = 10\nn_times = 50\n"
            '[methods]\nrun = ["least_squares"]\n'
        )
        result = runner.invoke(app, ["run", "--config", str(config), "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output
        hashes.append(json.loads((out / "results.json").read_text())["manifest"]["config_hash"])
    assert hashes[0] != hashes[1]


def test_config_without_an_option_exits_2() -> None:
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
