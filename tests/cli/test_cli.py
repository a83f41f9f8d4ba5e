"""``pathfit run`` through typer's CliRunner: exit codes, results.json, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pathfit.cli import app

SMALL_CONFIG = """\
[sampling]
n_paths = 20
n_times = 100

[methods]
run = ["least_squares", "seed_sgd", "gradient"]
"""

TINY_CONFIG = """\
[sampling]
n_paths = 5
n_times = 10

[methods]
run = ["least_squares"]
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _load(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> tuple[object, dict]:
    folder = tmp_path_factory.mktemp("small")
    config = _write(folder, "small.toml", SMALL_CONFIG)
    result = _invoke("run", "--config", config, "-o", folder / "out")
    assert result.exit_code == 0, result.stdout + result.stderr
    return result, _load(folder / "out")


def test_run_writes_results_json(small_run):
    result, data = small_run
    assert data["schema_version"] == 5
    assert set(data) >= {"config", "truth", "methods", "manifest"}
    assert data["truth"] == {"lam": 0.25}
    assert set(data["manifest"]["versions"]) >= {"pathfit", "torch", "python"}
    assert data["config"]["sampling"]["n_paths"] == 20
    assert data["config"]["sampling"]["n_times"] == 100
    assert data["config"]["seed"] == 0
    assert [row["name"] for row in data["methods"]] == ["least_squares", "seed_sgd", "gradient"]
    for row in data["methods"]:
        for key in (
            "name",
            "estimate",
            "abs_error",
            "ci",
            "level",
            "steps",
            "wall_s",
            "status",
            "message",
        ):
            assert key in row, (row["name"], key)
        assert row["name"] in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr == ""


def test_run_rows_say_what_happened(small_run):
    _, data = small_run
    rows = {row["name"]: row for row in data["methods"]}

    ls = rows["least_squares"]
    assert ls["status"] == "converged"
    assert ls["abs_error"] < 1e-10
    assert abs(ls["estimate"] - 0.25) < 1e-10
    lo, hi = ls["ci"]
    assert ls["level"] == 0.95
    assert lo <= ls["estimate"] <= hi

    seed_sgd = rows["seed_sgd"]
    assert seed_sgd["status"] == "diverged"
    assert seed_sgd["estimate"] is None
    assert seed_sgd["abs_error"] is None
    assert "curvature" in seed_sgd["message"]
    assert "200" in seed_sgd["message"]  # 2/lr at the seed's lr = 0.01

    gradient = rows["gradient"]
    assert gradient["status"] == "converged"
    assert gradient["abs_error"] < 1e-6 * 0.25


def test_seed_option_overrides_the_config_seed(small_run, tmp_path):
    _, seed0 = small_run
    config = _write(tmp_path, "small.toml", SMALL_CONFIG.replace('"seed_sgd", ', ""))
    result = _invoke("run", "--config", config, "--seed", "7", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    seed7 = _load(tmp_path / "out")
    assert seed7["config"]["seed"] == 7
    # and the data were simulated from it: the design's curvature differs
    curvature = {
        name: next(r for r in data["methods"] if r["name"] == "gradient")["stability"]["curvature"]
        for name, data in (("seed0", seed0), ("seed7", seed7))
    }
    assert curvature["seed0"] != curvature["seed7"]


def test_run_without_output_writes_under_runs(tmp_path, monkeypatch):
    config = _write(tmp_path, "tiny.toml", TINY_CONFIG)
    monkeypatch.chdir(tmp_path)
    result = _invoke("run", "--config", config, "--seed", "3")
    assert result.exit_code == 0, result.stderr
    written = list((tmp_path / "runs").glob("*-seed3/results.json"))
    assert len(written) == 1
    assert json.loads(written[0].read_text("utf-8"))["config"]["seed"] == 3


BAD_CONFIGS = {
    "misspelled key": ("[process]\nsigam = 1\n", "process.sigam"),
    "negative sigma": ("[process]\nsigma = -1\n", "process.sigma"),
    "invalid toml": ("seed = = 1\n", "--config"),
    "poly_k without coef": ('[target]\nkind = "poly_k"\n', "target.coef"),
    # strict types: nothing converted silently
    "bool for n_paths": ("[sampling]\nn_paths = true\n", "sampling.n_paths: expected an integer"),
    "string for mu": ('[process]\nmu = "1.0"\n', "process.mu: expected a number"),
    "string for guard": ('[methods.gradient]\nguard = "yes"\n', "methods.gradient.guard"),
    "no method": ("[methods]\nrun = []\n", "methods.run: expected at least one method"),
}


def _assert_one_line_error(result, out: Path, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (out / "results.json").exists()


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exits_2_with_one_line(tmp_path, case):
    text, field = BAD_CONFIGS[case]
    config = _write(tmp_path, "bad.toml", text)
    out = tmp_path / "out"
    result = _invoke("run", "--config", config, "-o", out)
    _assert_one_line_error(result, out, field)


def test_misspelled_key_error_suggests_the_right_one(tmp_path):
    config = _write(tmp_path, "bad.toml", "[process]\nsigam = 1\n")
    result = _invoke("run", "--config", config, "-o", tmp_path / "out")
    _assert_one_line_error(result, tmp_path / "out", "process.sigam", "did you mean 'sigma'")


def test_negative_sigma_error_gives_the_value(tmp_path):
    config = _write(tmp_path, "bad.toml", "[process]\nsigma = -1\n")
    result = _invoke("run", "--config", config, "-o", tmp_path / "out")
    _assert_one_line_error(result, tmp_path / "out", "process.sigma", "found -1")


def test_missing_config_file_exits_2(tmp_path):
    missing = tmp_path / "nope.toml"
    result = _invoke("run", "--config", missing, "-o", tmp_path / "out")
    _assert_one_line_error(result, tmp_path / "out", "--config", str(missing))


@pytest.mark.parametrize("seed", ["-1", "-12"])
def test_negative_seed_exits_2(tmp_path, seed):
    result = _invoke("run", "--seed", seed, "-o", tmp_path / "out")
    _assert_one_line_error(result, tmp_path / "out", "--seed", f"found {seed}")


def test_unknown_device_exits_2_with_one_line(tmp_path):
    """device is a free string in the config; a name torch does not know must still end in one
    line naming the field, not a RuntimeError traceback."""
    config = _write(tmp_path, "bad.toml", 'device = "gpu0"\n' + TINY_CONFIG)
    result = _invoke("run", "--config", config, "-o", tmp_path / "out")
    _assert_one_line_error(result, tmp_path / "out", "device")


def test_output_path_that_is_a_file_exits_2_with_one_line(tmp_path):
    """-o naming an existing file is bad input like any other: one line naming --output."""
    config = _write(tmp_path, "tiny.toml", TINY_CONFIG)
    taken = tmp_path / "taken"
    taken.write_text("not a folder", encoding="utf-8")
    result = _invoke("run", "--config", config, "-o", taken)
    _assert_one_line_error(result, taken, "output")


@pytest.mark.slow
def test_default_run_fits_the_seed_experiment_five_ways(tmp_path):
    result = _invoke("run", "-o", tmp_path)
    assert result.exit_code == 0, result.stderr
    data = _load(tmp_path)
    rows = {row["name"]: row for row in data["methods"]}
    assert list(rows) == ["least_squares", "seed_sgd", "gradient", "seed_network", "pointwise_mlp"]
    assert data["config"]["sampling"] == {
        "n_paths": 100,
        "n_times": 1000,
        "horizon": 10.0,
        "rng": "philox",
    }

    assert rows["least_squares"]["status"] == "converged"
    assert rows["least_squares"]["abs_error"] < 1e-10
    assert rows["seed_sgd"]["status"] == "diverged"
    assert rows["seed_sgd"]["estimate"] is None
    assert rows["gradient"]["status"] == "converged"
    assert rows["gradient"]["abs_error"] < 1e-6 * 0.25
    for name, rtol in (("seed_network", 1e-4), ("pointwise_mlp", 1e-3)):
        assert rows[name]["status"] != "diverged"
        assert rows[name]["abs_error"] <= rtol * 0.25, (name, rows[name])
    # the seed network's note that only its bias is identified is an identifiability warning
    assert any("only the bias" in w for w in rows["seed_network"]["identifiability"]["warnings"])
    assert "Traceback" not in result.stdout + result.stderr


def test_threads_zero_exits_2_with_one_line(tmp_path):
    result = _invoke("run", "--threads", "0", "-o", tmp_path / "out")
    _assert_one_line_error(result, tmp_path / "out", "--threads", "found 0")


def test_threads_zero_in_the_config_exits_2_with_one_line(tmp_path):
    config = _write(tmp_path, "bad.toml", "threads = 0\n" + TINY_CONFIG)
    result = _invoke("run", "--config", config, "-o", tmp_path / "out")
    _assert_one_line_error(result, tmp_path / "out", "threads")


@pytest.mark.parametrize("command", ["run", "fit", "coverage"])
def test_threads_option_shows_in_help(command):
    assert "--threads" in _invoke(command, "--help").stdout


def test_run_ends_with_its_answer(small_run):
    result, data = small_run
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("answer: "))
    assert lines[at] == "answer: lambda = 0.25, exact (noise-free targets)"
    sentences = lines[at + 1 : -1]
    assert 3 <= len(sentences) <= 5 and lines[-1].startswith("results: ")
    assert sentences[0].startswith("  Least squares recovers lambda = 0.25 exactly")
    seed = next(r for r in data["methods"] if r["name"] == "seed_sgd")
    assert any(f"diverged at step {seed['steps']}" in line for line in sentences)
