"""Output folders that cannot collide or mix: a new folder per run, one complete set of results
or nothing, no silent overwrite, every output path checked before any work."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pathfit.cli import app
from pathfit.outputs import FIGURE_NAMES, OUTPUT_NAMES

SMALL = """\
[sampling]
n_paths = 20
n_times = 50

[methods]
run = ["least_squares"]
"""


def _invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (hidden ones too) with the bytes of its files."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def _assert_refused(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: --output: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def test_the_report_writes_only_files_pathfit_knows_as_its_own():
    from pathfit.report import build

    source = Path(build.__file__).read_text(encoding="utf-8")
    # gradient.png: the stability figure's name before pathfit 0.3, still removed on --overwrite
    assert set(re.findall(r'"(\w+\.png)"', source)) == set(FIGURE_NAMES) - {"gradient.png"}
    assert FIGURE_NAMES <= OUTPUT_NAMES


def test_two_runs_with_one_seed_in_one_second_get_two_folders(tmp_path, config, monkeypatch):
    """The name another run took this very second is not reused: the run makes the next one
    (the clock is stopped so that both runs start in the same second)."""
    from pathfit.cli import _shared

    now = dt.datetime(2030, 1, 2, 3, 4, 5)
    clock = types.SimpleNamespace(now=lambda: now)
    monkeypatch.setattr(_shared, "dt", types.SimpleNamespace(datetime=clock))
    monkeypatch.chdir(tmp_path)
    taken = tmp_path / "runs" / "20300102-030405-run-seed3"
    taken.mkdir(parents=True)
    (taken / "results.json").write_text("{}")  # the other run's, not to be touched
    result = _invoke("run", "-c", config, "--seed", "3", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    second = tmp_path / "runs" / "20300102-030405-run-seed3-2"
    assert json.loads((second / "results.json").read_text("utf-8"))["config"]["seed"] == 3
    assert f"results: {Path('runs', second.name, 'results.json')}" in result.stdout
    assert _snapshot(taken) == {"results.json": b"{}"}
    # nothing staged is left behind
    assert not list((tmp_path / "runs").glob("*/.pathfit-staging-*"))


def test_a_folder_holding_results_is_refused_and_left_as_it_was(tmp_path, config):
    out = tmp_path / "out"
    first = _invoke("run", "-c", config, "-o", out, "-q")
    assert first.exit_code == 0, first.stdout + first.stderr
    before = _snapshot(out)
    line = _assert_refused(
        _invoke("run", "-c", config, "-o", out, "--seed", "5", "-q"),
        "results.json",
        "report.html",
        "--overwrite",
    )
    assert str(out) in line
    assert _snapshot(out) == before


def test_overwrite_replaces_the_set_and_keeps_the_users_files(tmp_path, config):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("gradient.png", "losses.png", "coverage.json", "results.json"):
        (out / name).write_text("an earlier run's")
    (out / "notes.txt").write_text("mine")
    (out / "mine.png").write_text("mine too")
    result = _invoke("run", "-c", config, "-o", out, "--seed", "4", "--overwrite", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    names = {p.name for p in out.iterdir()}
    assert "gradient.png" not in names and "losses.png" not in names  # stale figures gone
    assert "coverage.json" not in names  # another command's result would mix with this one
    assert {"results.json", "report.html", "summary.md", "paths.png"} <= names
    assert json.loads((out / "results.json").read_text("utf-8"))["config"]["seed"] == 4
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "mine.png").read_text() == "mine too"
    assert not [name for name in names if name.startswith(".")]


@pytest.mark.parametrize("name", ["results.json", "report.html", "paths.png"])
def test_a_folder_where_a_result_must_go_is_refused_before_any_work(tmp_path, config, name):
    out = tmp_path / "out"
    (out / name).mkdir(parents=True)
    _assert_refused(
        _invoke("run", "-c", config, "-o", out, "--overwrite", "-q"), name, "not a plain file"
    )
    assert _snapshot(out) == {name: None}


def test_a_dangling_link_is_refused(tmp_path, config):
    out = tmp_path / "out"
    out.symlink_to(tmp_path / "gone")
    _assert_refused(_invoke("run", "-c", config, "-o", out, "-q"), str(out), "missing")
    assert out.is_symlink() and not (tmp_path / "gone").exists()


def test_an_empty_output_is_refused(tmp_path, config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _assert_refused(_invoke("run", "-c", config, "-o", "", "-q"), "a folder name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.toml"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_folder_that_cannot_be_written_is_refused(tmp_path, config):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _assert_refused(_invoke("run", "-c", config, "-o", locked / "out", "-q"), "written")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_special_file_system_is_refused_before_any_work(config):
    """/proc takes no new folder whoever asks (root too): refused with one line, no traceback."""
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    _assert_refused(_invoke("run", "-c", config, "-o", "/proc/pathfit-out", "-q"), "/proc")


def test_a_failed_run_leaves_nothing_in_a_new_folder(tmp_path):
    """Bad input found after the folder was opened (here the data file) leaves no trace."""
    out = tmp_path / "new" / "out"
    result = _invoke("fit", tmp_path / "missing.csv", "-o", out, "-q")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_oserror_after_the_checks_is_one_line(tmp_path, config, monkeypatch):
    """An OSError the checks could not foresee (here a disk that fills up) is one line."""
    from pathfit import outputs

    def full(plan):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "write_files_atomic", full)
    out = tmp_path / "out"
    result = _invoke("run", "-c", config, "-o", out, "-q")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.splitlines() == ["error: [Errno 28] No space left on device"]
    assert "Traceback" not in result.stdout + result.stderr
    assert not out.exists()


def test_coverage_refuses_a_folder_with_results_and_overwrites_when_asked(tmp_path, config):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("{}")
    args = ("coverage", "-c", config, "-r", "2", "-o", out, "-q")
    _assert_refused(_invoke(*args), "results.json")
    result = _invoke(*args, "--overwrite")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["coverage.json", "report.html"]


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path, monkeypatch):
    import pathfit.app.experiment as experiment

    def broken(*args, **kwargs):
        raise ValueError("something\nunforeseen")

    monkeypatch.setattr(experiment, "run_experiment", broken)
    runner = CliRunner()
    out = str(tmp_path / "out")
    result = runner.invoke(app, ["run", "-o", out, "-q"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: internal error, ValueError: something unforeseen (pathfit --debug shows "
        "where; please report it)"
    ]
    assert not (tmp_path / "out").exists()  # the staging folder went with the error
    result = runner.invoke(app, ["--debug", "run", "-o", out, "-q"])
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output
    assert "in broken" in result.output
    assert result.output.strip().splitlines()[-1].startswith("error: internal error")
    monkeypatch.setenv("PATHFIT_DEBUG", "1")
    assert "Traceback" in runner.invoke(app, ["run", "-o", out, "-q"]).output
