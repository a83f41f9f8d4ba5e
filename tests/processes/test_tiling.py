"""The tiling engine: every tile once, in a fixed order, state carried, threads irrelevant."""

from __future__ import annotations

import pytest
import torch

from pathfit.exceptions import InputError
from pathfit.processes import ABM, OU, PATH_BLOCK, TIME_TILE, sample_times, tiling

F64 = torch.float64


def _counting_tiles(
    n_paths: int, n_times: int, workers: int
) -> list[tuple[int, int, torch.Tensor]]:
    """map_tiles over a fake process whose path i takes the values 1000 i + 1, + 2, ...: each
    tile continues from the state the previous tile of its block left."""
    times = torch.linspace(0.0, 1.0, n_times, dtype=F64)

    def initial_state(n: int) -> torch.Tensor:
        return torch.zeros(n, dtype=F64)

    def fill(block: int, tile: int, state: torch.Tensor) -> torch.Tensor:
        width = min(TIME_TILE, n_times - tile * TIME_TILE)
        rows = torch.arange(state.shape[0], dtype=F64) + block * PATH_BLOCK
        values = state[:, None] + 1000 * rows[:, None] + torch.arange(1, width + 1, dtype=F64)
        state += width
        return values

    def reduce(block: int, tile: int, values: torch.Tensor) -> torch.Tensor:
        return values

    return list(tiling.map_tiles(n_paths, times, initial_state, fill, reduce, workers))


@pytest.mark.parametrize("workers", [1, 3])
def test_map_tiles_visits_every_tile_once_in_order_and_carries_the_state(workers: int) -> None:
    n_paths, n_times = 2 * PATH_BLOCK + 5, TIME_TILE + 7
    tiles = _counting_tiles(n_paths, n_times, workers)
    assert [(block, tile) for block, tile, _ in tiles] == [
        (block, tile) for tile in range(2) for block in range(3)
    ]
    values = torch.empty((n_paths, n_times), dtype=F64)
    for block, tile, tile_values in tiles:
        rows = slice(block * PATH_BLOCK, block * PATH_BLOCK + tile_values.shape[0])
        values[rows, tile * TIME_TILE : tile * TIME_TILE + tile_values.shape[1]] = tile_values
    expected = 1000 * torch.arange(n_paths, dtype=F64)[:, None] + torch.arange(1, n_times + 1)
    assert torch.equal(values, expected)


def test_block_sizes_and_tile_count() -> None:
    assert tiling.block_sizes(2 * PATH_BLOCK + 5) == [PATH_BLOCK, PATH_BLOCK, 5]
    assert tiling.block_sizes(PATH_BLOCK) == [PATH_BLOCK]
    assert [tiling.n_tiles(n) for n in (1, TIME_TILE, TIME_TILE + 1)] == [1, 1, 2]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_process_map_tiles_gives_its_sampled_paths(workers: int) -> None:
    process = OU(x0=1.0, theta=0.8, mu=-0.5, sigma=0.7)
    n_paths, times = PATH_BLOCK + 3, sample_times(TIME_TILE + 5, 2.0, seed=1)
    values = times.new_full((n_paths, times.shape[0]), float("nan"))

    def store(block: int, tile: int, tile_values: torch.Tensor) -> None:
        rows = slice(block * PATH_BLOCK, block * PATH_BLOCK + tile_values.shape[0])
        values[rows, tile * TIME_TILE : tile * TIME_TILE + tile_values.shape[1]] = tile_values

    for _ in process.map_tiles(n_paths, times, 6, store, workers):
        pass
    assert torch.equal(values, process.sample_paths(n_paths, times, seed=6).values)


def test_a_process_map_tiles_checks_its_inputs_at_the_call() -> None:
    times = torch.tensor([0.5, 1.0], dtype=F64)
    with pytest.raises(InputError, match="n_paths"):
        ABM().map_tiles(0, times, 0, lambda block, tile, values: None)
    with pytest.raises(InputError, match="sorted"):
        ABM().map_tiles(3, times.flip(0), 0, lambda block, tile, values: None)
    with pytest.raises(InputError, match="seed"):
        ABM().map_tiles(3, times, -1, lambda block, tile, values: None)


def test_torch_threads_sets_the_count_inside_and_restores_it() -> None:
    before = torch.get_num_threads()
    with tiling.torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before
    with tiling.torch_threads(None):
        assert torch.get_num_threads() == before
