"""`pathfit study`: the examples, a small run end to end, and bad input as one line, exit 2."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pathfit.cli import app

SMALL = """seed = 2
[sampling]
n_paths = 20
n_times = 100
[target]
noise_std = 0.05
[methods.least_squares]
interval = "classical"
[study]
replicates = 4
methods = ["least_squares"]
chunk_seconds = 0.02
[grid]
"sampling.n_paths" = [10, 20]
"""


def _invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("name", ["stability", "coverage", "scaling"])
def test_example_prints_a_complete_study_file(name):
    result = _invoke("study", "example", name)
    assert result.exit_code == 0, result.stderr
    document = tomllib.loads(result.stdout)
    assert {"study", "grid"} & set(document)
    assert result.stdout.startswith("# pathfit study")


def test_a_small_study_runs_writes_shards_study_json_and_a_report(tmp_path: Path):
    study_file = tmp_path / "s.toml"
    study_file.write_text(SMALL, encoding="utf-8")
    out = tmp_path / "out"
    result = _invoke("study", "run", study_file, "-o", out, "--workers", 1, "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "chunks computed" in result.stdout
    assert list((out / "parts").glob("*.parquet"))
    data = json.loads((out / "study.json").read_text(encoding="utf-8"))
    assert data["axes"] == ["sampling.n_paths"] and data["runs"][0]["workers"] == 1
    assert (out / "report.html").exists()
    again = _invoke("study", "report", out)
    assert again.exit_code == 0, again.stderr


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda text: text.replace("[10, 20]", "[10, -1]"), 'axis "sampling.n_paths" = -1'),
        (lambda text: text.replace("replicates = 4", "replicates = 0"), "study.replicates"),
        (lambda text: text + '"sampling.n_pahts" = [1]\n', "sampling.n_pahts"),
        (lambda text: text.replace("[grid]", "[grid\n"), "valid TOML"),
    ],
)
def test_a_bad_study_file_is_one_line_and_exit_2(tmp_path: Path, edit, named):
    study_file = tmp_path / "s.toml"
    study_file.write_text(edit(SMALL), encoding="utf-8")
    result = _invoke("study", "run", study_file, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert named in lines[0]
    assert not (tmp_path / "out").exists()


def test_unknown_example_and_missing_folder_are_one_line_and_exit_2(tmp_path: Path):
    for args in (("study", "example", "nonesuch"), ("study", "report", tmp_path / "none")):
        result = _invoke(*args)
        assert result.exit_code == 2, result.stdout + result.stderr
        assert len(result.stderr.splitlines()) == 1
