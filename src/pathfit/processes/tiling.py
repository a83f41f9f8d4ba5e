"""The tiling engine: paths made and reduced tile by tile, on a pool of threads.

Paths are simulated in tiles of at most PATH_BLOCK paths by TIME_TILE times. Each tile draws
its normals from a random stream of its own, named by the seed and the tile's (block, tile)
position, and a path's state is carried from one time tile to the next. So the values do not
depend on how the work is split: a materialized simulation, a block-by-block one and a streamed
reduction run on several threads all see the same paths, and memory stays at a few tiles
whatever n_paths x n_times.

This module knows nothing of the processes: ``map_tiles`` is given how to start a block and how
to fill one of its tiles (``AbstractProcess.map_tiles`` gives its own).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

from pathfit._threads import torch_threads as torch_threads
from pathfit._types import PathValues, Times
from pathfit._validation import check_tensor
from pathfit.exceptions import InputError

PATH_BLOCK = 64
"""Paths per tile."""
TIME_TILE = 4096
"""Observation times per tile."""

R = TypeVar("R")


def n_tiles(n_times: int) -> int:
    """The number of time tiles that cover ``n_times`` times."""
    return -(-n_times // TIME_TILE)


def block_sizes(n_paths: int) -> list[int]:
    """The number of paths in each block: PATH_BLOCK each, the last one what is left."""
    return [min(PATH_BLOCK, n_paths - start) for start in range(0, n_paths, PATH_BLOCK)]


def map_tiles(
    n_paths: int,
    times: Times,
    initial_state: Callable[[int], torch.Tensor],
    fill: Callable[[int, int, torch.Tensor], PathValues],
    reduce: Callable[[int, int, PathValues], R],
    workers: int | None = None,
    *,
    torch_ops: bool = True,
) -> Iterator[tuple[int, int, R]]:
    """Yield (block, tile, reduce(block, tile, values)) for every tile, tile by tile and
    block by block within a tile (a fixed order, whatever the threads do).

    Args:
        n_paths: number of paths, cut into blocks of PATH_BLOCK.
        times: (n_times,) checked observation times (``check_times``), cut into tiles of
            TIME_TILE; on the CPU the tiles are filled by a pool of threads.
        initial_state: the state at t = 0 of a block of that many paths, carried from one
            time tile to the next.
        fill: the values (block_paths, tile_times) of tile ``tile`` of block ``block``, from
            the block's state, which it updates to the state at the tile's last time.
        reduce: what to keep of a tile's values.
        workers: threads on the CPU (None: ``default_workers()`` where that pays, else one).
        torch_ops: whether ``fill`` and ``reduce`` run torch operators: then torch runs on
            one thread meanwhile. A compiled fill says False: changing torch's thread count
            costs the next vectorized torch function (exp, sqrt) milliseconds to restart its
            pool, more than a small problem takes in all.
    """
    states = [initial_state(n) for n in block_sizes(n_paths)]
    workers = _workers(workers, len(states), n_paths * times.shape[0], times.device)

    def work(block: int, tile: int) -> R:
        return reduce(block, tile, fill(block, tile, states[block]))

    with torch_threads(1 if times.device.type == "cpu" and torch_ops else None):
        # A tile is small: torch's own threads would only fight ours for the cores.
        if workers == 1:
            for tile in range(n_tiles(times.shape[0])):
                for block in range(len(states)):
                    yield block, tile, work(block, tile)
            return
        # At most 2 x workers tiles in flight: a pool.map over every block would hold each
        # finished result until the caller took it, as many as the blocks of a tile when the
        # caller waits for a core (a path bootstrap's weighted tiles are 3 MB each).
        window = 2 * workers
        with ThreadPoolExecutor(workers) as pool:
            for tile in range(n_tiles(times.shape[0])):
                pending: collections.deque[tuple[int, Future[R]]] = collections.deque()
                for block in range(len(states)):
                    pending.append((block, pool.submit(work, block, tile)))
                    if len(pending) >= window:
                        done, future = pending.popleft()
                        yield done, tile, future.result()
                while pending:
                    done, future = pending.popleft()
                    yield done, tile, future.result()


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system says, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers() -> int:
    """The threads a pool fills tiles on by default: one per core this process may use, at
    most torch's thread count, so that the caller's ``torch.set_num_threads`` (``--threads``)
    bounds the simulation too."""
    return max(1, min(available_cores(), torch.get_num_threads()))


def resolve_workers(workers: int | None, n_paths: int, times: Times) -> int:
    """The threads ``map_tiles`` fills tiles on for these arguments."""
    n_blocks = len(block_sizes(n_paths))
    return _workers(workers, n_blocks, n_paths * times.shape[0], times.device)


def _workers(workers: int | None, n_blocks: int, n_points: int, device: torch.device) -> int:
    if device.type != "cpu":
        return 1  # GPU work is already asynchronous
    if workers is None:
        # a thread pool pays off from a few blocks and ~1e5 points on (measured: 1000 x 1000
        # runs 1.6x faster on 2 threads, 100 x 1000 in two uneven blocks 1.5x slower)
        many = n_blocks >= 4 and n_points >= 1 << 17
        workers = default_workers() if many else 1
    return max(1, min(workers, n_blocks))


def check_times(times: object) -> Times:
    """``times`` as a non-empty (n_times,) tensor of sorted times >= 0, or InputError."""
    times = check_tensor("times", times, ndim=1)
    if times.shape[0] < 1:
        raise InputError("times", "an empty array", "at least one observation time")
    # on the CPU through NumPy: a few microseconds, where torch's operators take tens
    values = times.detach().numpy() if times.device.type == "cpu" else times
    if bool((values < 0).any()):
        raise InputError("times", f"{float(values.min())}", "times >= 0")
    if values.shape[0] > 1 and bool((values[1:] < values[:-1]).any()):
        raise InputError("times", "unsorted times", "times sorted ascending")
    return times
