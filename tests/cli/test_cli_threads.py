"""``--threads`` on every command that computes: refused below 1 or when not an integer (one
line on stderr naming it, exit 2, nothing written), honoured for the whole command (torch's
count and the threads that simulate), the caller's count restored, the results the same."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import pathfit.app.bench as bench_package
from pathfit.app import checks, experiment
from pathfit.app.bench import Plan, run_plan
from pathfit.cli import app
from pathfit.processes import tiling

COMPUTING = ["run", "simulate", "fit", "coverage", "check", "bench"]

TINY_CONFIG = """\
[sampling]
n_paths = 5
n_times = 10

[methods]
run = ["least_squares"]
"""
# 4 blocks of 64 paths and 153600 points: the simulation runs on a pool of threads
POOLED_CONFIG = """\
[sampling]
n_paths = 256
n_times = 600
"""
TINY_PLAN = Plan(
    shapes=((20, 50),),
    repeats=1,
    min_time_s=0.0,
    stage_shape=(20, 50),
    stream_points=0,
    fit_shape=(20, 50),
    batched_replicates=2,
    looped_replicates=1,
    seed_max_steps=3,
    run_repeats=0,
    run_repeats_1thread=0,
    cold_repeats=0,
)


def _invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _arguments(command: str, tmp_path: Path) -> list[object]:
    """The least a command needs to run (before --threads)."""
    config = _write(tmp_path, "tiny.toml", TINY_CONFIG)
    return {
        "run": ["run", "-c", config, "-o", tmp_path / "out"],
        "simulate": ["simulate", "-c", config, "-o", tmp_path / "out.npz"],
        "fit": ["fit", tmp_path / "data.npz", "-c", config, "-o", tmp_path / "out"],
        "coverage": ["coverage", "-c", config, "-r", 2, "-o", tmp_path / "out"],
        "check": ["check", "-c", config],
        "bench": ["bench", "--quick", "-o", tmp_path / "out"],
    }[command]


def test_every_command_that_computes_has_threads():
    names = {command.name or command.callback.__name__ for command in app.registered_commands}
    assert names - {"config"} == set(COMPUTING)
    for command in COMPUTING:
        assert "--threads" in _invoke(command, "--help").stdout, command


@pytest.mark.parametrize("command", COMPUTING)
@pytest.mark.parametrize(
    ("value", "shown"), [("0", "found 0"), ("-2", "found -2"), ("two", "'two'"), ("1.5", "'1.5'")]
)
def test_bad_threads_is_one_line_naming_it_with_exit_2(command, value, shown, tmp_path):
    result = _invoke(*_arguments(command, tmp_path), "--threads", value)
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "--threads" in lines[0]
    assert shown in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "out.npz").exists()


def _spy(monkeypatch, module, name: str, seen: list[tuple[int, int]]) -> None:
    """Record (torch threads, simulation threads) when module.name is called, then call it."""
    real = getattr(module, name)

    def spy(*args, **kwargs):
        seen.append((torch.get_num_threads(), tiling.default_workers()))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)


@pytest.mark.parametrize("threads", [1, 3])
def test_simulate_runs_on_threads_and_restores_the_count(threads, tmp_path, monkeypatch):
    seen: list[tuple[int, int]] = []
    _spy(monkeypatch, experiment, "simulate_experiment", seen)
    before = torch.get_num_threads()
    args = _arguments("simulate", tmp_path)
    result = _invoke(*args, "--threads", threads)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert seen == [(threads, min(threads, tiling.available_cores()))]
    assert torch.get_num_threads() == before


def test_check_runs_on_threads_and_restores_the_count(tmp_path, monkeypatch):
    seen: list[tuple[int, int]] = []
    _spy(monkeypatch, checks, "check_builtin_models", seen)
    before = torch.get_num_threads()
    result = _invoke(*_arguments("check", tmp_path), "--threads", 3)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert seen[0][0] == 3
    assert torch.get_num_threads() == before


def test_the_threads_of_the_config_bound_the_simulation(tmp_path, monkeypatch):
    seen: list[tuple[int, int]] = []
    _spy(monkeypatch, experiment, "simulate_experiment", seen)
    config = _write(tmp_path, "one.toml", "threads = 1\n" + TINY_CONFIG)
    result = _invoke("simulate", "-c", config, "-o", tmp_path / "out.npz")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert seen == [(1, 1)]


def test_bench_threads_sets_the_threads_of_the_plan(tmp_path, monkeypatch):
    """--threads N is Plan.threads: every measure not marked '1 thread' runs on N."""
    plans: list[Plan] = []

    def tiny(plan, progress=None, *, quick=False):
        plans.append(plan)
        return run_plan(dataclasses.replace(TINY_PLAN, threads=plan.threads), progress)

    monkeypatch.setattr(bench_package._run, "run_plan", tiny)
    before = torch.get_num_threads()
    result = _invoke("bench", "--quick", "--threads", 3, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert [plan.threads for plan in plans] == [3]
    assert torch.get_num_threads() == before
    assert (tmp_path / "out" / "bench.json").exists()


def test_simulate_writes_the_same_data_on_one_and_two_threads(tmp_path):
    config = _write(tmp_path, "pooled.toml", POOLED_CONFIG)
    arrays = []
    for threads in (1, 2):
        out = tmp_path / f"data{threads}.npz"
        result = _invoke("simulate", "-c", config, "-o", out, "--threads", threads)
        assert result.exit_code == 0, result.stdout + result.stderr
        with np.load(out) as data:
            arrays.append({name: data[name].copy() for name in data.files})
    assert arrays[0].keys() == arrays[1].keys()
    for name in arrays[0]:
        assert np.array_equal(arrays[0][name], arrays[1][name]), name
