"""Peak memory known before a run starts: the estimate, the limit and the refusal, in the
library and on the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

import pathfit as pf
from pathfit.app.config import parse_config
from pathfit.app.experiment import fit_data, run_experiment
from pathfit.app.memory import (
    GENERATOR_BYTES,
    PROGRAM_BYTES,
    check_memory,
    estimate_memory,
    memory_limit,
)
from pathfit.cli import app
from pathfit.cli._shared import memory_size
from pathfit.targets import ConstantLam, make_targets

LS_ONLY = {"methods": {"run": ["least_squares"]}}


def _config(n_paths, n_times, **sections):
    return parse_config({"sampling": {"n_paths": n_paths, "n_times": n_times}, **sections})


def test_least_squares_alone_streams_and_its_estimate_grows_with_n_times_not_n_paths():
    small = estimate_memory(_config(1000, 5000, methods={"run": ["least_squares"]}))
    many = estimate_memory(
        _config(
            2000,
            5000,
            methods={"run": ["least_squares"], "least_squares": {"interval": "classical"}},
        )
    )
    assert small.streamed and many.streamed
    big_n = estimate_memory(
        _config(
            10**7,
            5000,
            methods={"run": ["least_squares"], "least_squares": {"interval": "classical"}},
        )
    )
    # classical intervals: nothing of size n_paths is held, so 10^4 times more paths cost nothing
    assert big_n.bytes == many.bytes
    assert big_n.bytes < PROGRAM_BYTES + GENERATOR_BYTES + 200 * 2**20


def test_networks_hold_the_paths_whole_and_cost_more_than_least_squares():
    whole = estimate_memory(_config(1000, 2000))
    assert not whole.streamed
    assert "pointwise_mlp" in whole.what
    assert whole.bytes > estimate_memory(_config(1000, 2000, **LS_ONLY)).bytes
    # held whole, the paths alone are n x m x 8 bytes
    assert whole.bytes > PROGRAM_BYTES + 1000 * 2000 * 8


def test_a_run_over_the_limit_is_refused_before_simulating():
    cfg = _config(10_000_000, 10_000_000)
    with pytest.raises(pf.InputError) as info:
        run_experiment(cfg)
    message = str(info.value)
    assert message.startswith("config: sampling: ")
    assert "10000000 x 10000000" in message and "GiB" in message
    with pytest.raises(pf.InputError, match="the limit given"):
        check_memory(_config(100, 1000), max_memory=2**20)
    assert check_memory(_config(100, 1000), max_memory=2**40).bytes > 0


def test_fit_data_is_refused_by_the_size_of_the_data():
    paths = pf.simulate(pf.ABM(), n_paths=20, n_times=30, horizon=1.0, seed=0)
    targets = make_targets(paths, ConstantLam(0.25))
    with pytest.raises(pf.InputError, match=r"^data\.csv: expected a run that fits"):
        fit_data(_config(100, 1000), paths, targets, None, "data.csv", max_memory=2**20)


def test_the_default_limit_is_a_share_of_the_available_memory():
    limit = memory_limit()
    assert limit is None or limit > 0
    assert memory_limit(12345) == 12345


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("8G", 8 * 2**30),
        ("512MiB", 512 * 2**20),
        ("1.5g", 3 * 2**29),
        ("1000000", 10**6),
        ("2 kb", 2048),
        ("1T", 2**40),
    ],
)
def test_sizes_read_with_binary_units(text, size):
    assert memory_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "5X", "-1G", "0", "1e3", "nan", "9" * 30])
def test_bad_sizes_are_refused(text):
    import typer

    with pytest.raises(typer.BadParameter):
        memory_size(text)


def test_cli_refuses_with_one_line_and_writes_nothing(tmp_path):
    cfg = tmp_path / "huge.toml"
    cfg.write_text("[sampling]\nn_paths = 10000000\nn_times = 10000000\n")
    runner = CliRunner()
    for args in (
        ["config", "--check", str(cfg)],
        ["run", "--config", str(cfg), "-o", str(tmp_path / "out")],
        ["run", "-o", str(tmp_path / "out"), "--max-memory", "1M"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "GiB" in lines[0]
    assert not (tmp_path / "out").exists()
    ok = runner.invoke(app, ["config", "--check", str(cfg), "--max-memory", "1000000T"])
    assert ok.exit_code == 0 and "peak memory about" in ok.output


@pytest.mark.slow
def test_a_streamed_run_stays_within_its_estimate():
    # 20000 x 2500 paths are 0.37 GiB held whole; least squares alone streams them. The
    # process's peak resident memory must stay under the estimate (which includes the program).
    code = (
        "from pathfit._rss import peak_rss as peak\n"
        "from pathfit.app.config import parse_config\n"
        "from pathfit.app.experiment import run_experiment\n"
        "from pathfit.app.memory import estimate_memory\n"
        "cfg = parse_config({'sampling': {'n_paths': 20000, 'n_times': 2500}, 'methods': "
        "{'run': ['least_squares'], 'least_squares': {'interval': 'path_bootstrap', "
        "'n_bootstrap': 100}}, 'threads': 1})\n"
        # the compiled generator loaded first: what it costs is counted apart (GENERATOR_BYTES)
        "import numpy as np\n"
        "from pathfit._philox import _cpu\n"
        "_cpu.fill(0, 0, 0, 0, 0, np.empty((4, 8)))\n"
        "before = peak()\n"
        "out = run_experiment(cfg)\n"
        "print(before, peak(), estimate_memory(cfg).bytes, type(out.paths).__name__)\n"
    )
    output = subprocess.check_output([sys.executable, "-c", code], text=True).split()
    before, peak, estimate = map(int, output[:3])
    assert output[3] == "StreamedPaths"
    assert peak < estimate, (peak / 2**20, estimate / 2**20)
    # the run itself grew the process by far less than the paths held whole (381 MiB);
    # measured: 90-110 MiB
    assert peak - before < 20000 * 2500 * 8 / 2, (peak - before) / 2**20
