"""Streamed designs: the same numbers as the materialized paths, whatever the split."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from pathfit.design import power_design, simulate_designs, streamed_design
from pathfit.exceptions import InputError
from pathfit.processes import ABM, GBM, OU, PATH_BLOCK, TIME_TILE, EulerSDE, sample_times, simulate

F64 = torch.float64
PROCESSES = [
    ABM(x0=0.2, mu=0.5, sigma=1.0),
    GBM(x0=1.0, mu=0.1, sigma=0.3),
    OU(x0=1.0, theta=0.8, mu=-0.5, sigma=0.7),
]


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: type(p).__name__)
def test_streamed_equals_materialized_across_blocks_and_time_tiles(process) -> None:
    # several path blocks and several time tiles, neither a multiple of its tile size
    n_paths, n_times = 2 * PATH_BLOCK + 7, 2 * TIME_TILE + 123
    times = sample_times(n_times, 3.0, seed=5)
    powers = (0, 1, 2, 3)
    materialized = power_design(process.sample_paths(n_paths, times, seed=9).values, powers)
    streamed = streamed_design(process, n_paths, times, powers, seed=9)
    scale = materialized.abs().clamp_min(1.0)
    assert float(((streamed - materialized).abs() / scale).max()) <= 1e-12


def test_threads_do_not_change_the_result() -> None:
    process, times = PROCESSES[0], sample_times(TIME_TILE + 5, 2.0, seed=1)
    one = streamed_design(process, 3 * PATH_BLOCK + 1, times, (2, 4), seed=3, workers=1)
    two = streamed_design(process, 3 * PATH_BLOCK + 1, times, (2, 4), seed=3, workers=2)
    three = streamed_design(process, 3 * PATH_BLOCK + 1, times, (2, 4), seed=3, workers=3)
    assert torch.equal(one, two) and torch.equal(one, three)


@pytest.mark.slow
def test_paths_carry_across_time_tiles() -> None:
    # A path continues through a tile boundary: its increments there have the right variance
    # (independent restarts at x0 would make the increment across the boundary huge).
    process = ABM(x0=0.0, mu=0.0, sigma=1.0)
    times = torch.arange(1, 2 * TIME_TILE + 1, dtype=F64) * 1e-3
    values = process.sample_paths(4000, times, seed=2).values
    step = values[:, TIME_TILE] - values[:, TIME_TILE - 1]  # across the boundary, dt = 1e-3
    # chi-square bound on 4000 draws at a false-failure probability below 1e-9
    assert 0.85e-3 < float(step.var()) < 1.15e-3


@pytest.mark.slow
def test_euler_carries_its_state_across_time_tiles() -> None:
    process = EulerSDE(drift=lambda t, x: 0.5, diffusion=lambda t, x: 1.0, dt=0.01)
    times = torch.linspace(0.001, 3.0, TIME_TILE + 10, dtype=F64)
    values = process.sample_paths(2000, times, seed=4).values
    # E x_T = 0.5 T = 1.5, sd of the mean sqrt(3 / 2000) = 0.039: 6 sd bound
    assert abs(float(values[:, -1].mean()) - 1.5) < 6 * (3 / 2000) ** 0.5


def test_backend_triton_without_cuda_is_an_input_error() -> None:
    times = sample_times(10, 1.0, seed=0)
    with pytest.raises(InputError, match="backend"):
        streamed_design(PROCESSES[0], 10, times, (2,), seed=0, backend="triton")


def test_simulate_designs_equals_one_dataset_at_a_time() -> None:
    process = PROCESSES[0]
    seeds = [11, 12, 13]
    times, designs = simulate_designs(
        process, n_paths=70, n_times=300, horizon=4.0, seeds=seeds, powers=(1, 2)
    )
    for r, seed in enumerate(seeds):
        paths = simulate(process, n_paths=70, n_times=300, horizon=4.0, seed=seed)
        assert torch.equal(times[r], paths.times)
        torch.testing.assert_close(
            designs[r], power_design(paths.values, (1, 2)), rtol=1e-12, atol=1e-12
        )


@pytest.mark.slow
def test_streaming_memory_stays_bounded() -> None:
    # 5e7 points would take 400 MB materialized; streamed, the process grows by far less.
    code = (
        "import torch\n"
        "from pathfit._rss import peak_rss\n"
        "from pathfit.design import streamed_design\n"
        "from pathfit.processes import ABM, sample_times\n"
        "times = sample_times(10000, 10.0, seed=0)\n"
        "streamed_design(ABM(mu=0.5), 4, times[:8], (2,), seed=0)  # the generator loaded\n"
        "before = peak_rss()\n"
        "streamed_design(ABM(mu=0.5), 5000, times, (2,), seed=0)\n"
        "after = peak_rss()\n"
        "print((after - before) / 2**20)\n"
    )
    grown_mib = float(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB while streaming"
