"""The command line's surface: a light import, --version, closed choices, shared options, and
tables that fit in 80 columns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pathfit
from pathfit.cli import app

POLY = """\
[sampling]
n_paths = 20
n_times = 60

[target]
kind = "poly_lambda"
coef = [0.1, 0.0, 0.05]
noise_std = 0.01

[methods]
run = ["least_squares", "gradient"]
"""


def _invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_importing_the_cli_imports_no_heavy_library():
    # a fresh interpreter: this test session has imported torch long ago
    code = (
        "import sys, pathfit.cli; "
        "print([m for m in ('torch', 'scipy', 'matplotlib', 'numpy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["--version"]])
def test_help_and_version_import_no_heavy_library(args):
    code = (
        "import sys\n"
        "from pathfit.cli import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (0, None), exit.code\n"
        "heavy = [m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    result = _invoke(flag)
    assert result.exit_code == 0
    assert result.stdout == f"pathfit {pathfit.__version__}\n"


def test_help_lists_closed_choices_and_no_bool_metavar():
    for command, choices in (
        ("simulate", "<long|wide>"),
        ("fit", "<raise|omit>"),
        ("coverage", "<iid|population|ar1|heteroscedastic>"),
    ):
        result = _invoke(command, "--help")
        assert result.exit_code == 0
        assert choices in result.stdout, result.stdout
        assert "<bool>" not in result.stdout
    assert "-c, --config FILE" in _invoke("run", "--help").stdout


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", "-o", "x.csv", "--layout", "diagonal"],
        ["fit", "x.csv", "--missing", "ignore"],
        ["coverage", "--noise", "gaussian"],
    ],
)
def test_a_value_outside_a_closed_choice_exits_2(args, tmp_path):
    result = _invoke(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "is not one of" in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args", [["run", "--foo"], ["nonesuch"], ["fit"], ["simulate"], ["run", "--seed", "x"]]
)
def test_usage_errors_are_one_line_with_exit_2(args):
    result = _invoke(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_an_empty_output_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke("run", "-o", "")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --output: expected a folder name, found ''"
    assert list(tmp_path.iterdir()) == []


def test_polynomial_tables_fit_in_80_columns_and_messages_are_not_wrapped(tmp_path: Path):
    config = tmp_path / "poly.toml"
    config.write_text(POLY, encoding="utf-8")
    result = _invoke("run", "-c", config, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    names = tuple(f"{m['name']}: " for m in data["methods"])
    answer = lines.index(next(line for line in lines if line.startswith("answer: ")))
    # the answer closes the output: a headline, then its sentences, one whole line each
    assert all(line.startswith("  ") for line in lines[answer + 1 : -1])
    table = [line for line in lines[:answer] if not line.startswith(names)]
    assert max(len(line) for line in table) <= 80, "\n".join(table)
    assert "\u2026" not in result.stdout  # nothing cut short
    for method in data["methods"]:
        # every coefficient is on a row of its own, with its interval
        for name in method["param_names"]:
            row = next(line for line in lines if f"{name} = " in line)
            assert row.count("[") == 1, row
        # each warning is one whole line, however long
        for warning in method["identifiability"]["warnings"]:
            assert f"{method['name']}: {warning}" in lines
    # the last line names both files whole, however long the folder's name
    assert lines[-1].startswith("results: ") and lines[-1].endswith("report.html")


def test_results_are_written_before_anything_is_printed(tmp_path: Path):
    # `pathfit run | head -1`: the pipe closes after the first line; the results must be on
    # disk already (they were written after the tables, and lost with the closed pipe)
    config = tmp_path / "tiny.toml"
    config.write_text(
        '[sampling]\nn_paths = 5\nn_times = 20\n[methods]\nrun = ["least_squares"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    command = (
        f"{sys.executable} -c 'from pathfit.cli import app; app()' "
        f"run -c {config} -o {out} -q | head -c 1 > /dev/null"
    )
    subprocess.run(["bash", "-c", command], check=True, timeout=300)
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in data["methods"]] == ["least_squares"]
    assert (out / "report.html").exists()
