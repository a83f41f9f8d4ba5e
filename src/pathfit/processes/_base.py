"""The abstract diffusion process and the sampling entry points shared by every family.

The paths are made tile by tile (``pathfit.processes.tiling``): the values do not depend on how
the work is split, and memory stays at a few tiles whatever n_paths x n_times.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

from pathfit import _random
from pathfit._types import PathValues, Times
from pathfit._validation import check_device, check_dtype, check_int, check_real, check_tensor
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.processes import tiling
from pathfit.processes.tiling import PATH_BLOCK, TIME_TILE, check_times

R = TypeVar("R")


class AbstractProcess(abc.ABC):
    """A one-dimensional diffusion dX = a(t, X) dt + b(t, X) dW started at ``x0`` at t = 0.

    A family says how to start (``_initial_state``), how many normals a tile needs
    (``_n_normals``) and how to turn them into values (``_advance``); the tiling, the random
    streams and the threads are shared.
    """

    x0: float

    def _initial_state(self, n_paths: int, like: Times) -> torch.Tensor:
        """(n_paths,) state at t = 0 carried between time tiles (x0 itself by default)."""
        return like.new_full((n_paths,), self.x0)

    def _n_normals(self, times: Times, t_start: float) -> int:
        """Normals per path for a tile of ``times`` that starts after ``t_start``."""
        return times.shape[0]

    @abc.abstractmethod
    def _advance(
        self, z: PathValues, times: Times, t_start: float, state: torch.Tensor
    ) -> PathValues:
        """Values (block_paths, tile_times) at ``times`` from normals ``z`` (block_paths,
        _n_normals), starting from ``state`` at ``t_start``; ``state`` is updated in place to
        the state at the tile's last time. May work in place in ``z``."""

    # --- tiles ----------------------------------------------------------------------------

    def _tile(
        self, seed: int, block: int, tile: int, times: Times, state: torch.Tensor
    ) -> PathValues:
        """The values of one tile: the block's paths at the tile's times."""
        start = tile * TIME_TILE
        tile_times = times[start : start + TIME_TILE]
        t_start = float(times[start - 1]) if start > 0 else 0.0
        shape = (state.shape[0], self._n_normals(tile_times, t_start))
        z = _random.normals(seed, (_random.PATHS, block, tile), shape, times.dtype, times.device)
        return self._advance(z.to(times.device), tile_times, t_start, state)

    def map_tiles(
        self,
        n_paths: int,
        times: Times,
        seed: int,
        reduce: Callable[[int, int, PathValues], R],
        workers: int | None = None,
    ) -> Iterator[tuple[int, int, R]]:
        """Simulate ``n_paths`` paths at ``times`` tile by tile and yield
        (block, tile, reduce(block, tile, values)) for every tile, in a fixed order.

        Use this to reduce the paths as they are made, on ``workers`` CPU threads; the tiles'
        values are those of ``sample_paths(n_paths, times, seed=seed)`` (rows
        block * PATH_BLOCK on, columns tile * TIME_TILE on).

        Args:
            n_paths: number of paths.
            times: (n_times,) sorted observation times >= 0; their dtype and device are used.
            seed: integer seed.
            reduce: what to keep of a tile's values (<= PATH_BLOCK, <= TIME_TILE); called on
                the worker threads.
            workers: CPU threads (default: one per core where that pays, at most torch's
                thread count).
        """
        n_paths = check_int("n_paths", n_paths, minimum=1)
        times = check_times(times)
        seed = _random.resolve_seed(seed)
        return self._map_tiles(n_paths, times, seed, reduce, workers)

    def _map_tiles(
        self,
        n_paths: int,
        times: Times,
        seed: int,
        reduce: Callable[[int, int, PathValues], R],
        workers: int | None,
    ) -> Iterator[tuple[int, int, R]]:
        return tiling.map_tiles(
            n_paths,
            times,
            lambda n: self._initial_state(n, times),
            lambda block, tile, state: self._tile(seed, block, tile, times, state),
            reduce,
            workers,
        )

    def iter_blocks(
        self,
        n_paths: int,
        times: Times,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Iterator[PathValues]:
        """Yield the paths block by block: (<= PATH_BLOCK, n_times) tensors.

        Concatenated, the blocks equal ``sample_paths(n_paths, times, seed=seed).values``; use
        this to reduce paths as they are made without holding all of them.
        """
        n_paths = check_int("n_paths", n_paths, minimum=1)
        times = check_times(times)
        # validated here, at the call, not at the first next(): _blocks is the generator
        return self._blocks(n_paths, times, _random.resolve_seed(seed, generator))

    def _blocks(self, n_paths: int, times: Times, seed: int) -> Iterator[PathValues]:
        n_tiles = tiling.n_tiles(times.shape[0])
        for block, n_block in enumerate(tiling.block_sizes(n_paths)):
            state = self._initial_state(n_block, times)
            values = [self._tile(seed, block, tile, times, state) for tile in range(n_tiles)]
            yield torch.cat(values, dim=1) if n_tiles > 1 else values[0]

    def sample_paths(
        self,
        n_paths: int,
        times: Times,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        workers: int | None = None,
    ) -> Paths:
        """Simulate ``n_paths`` paths observed at ``times`` (sorted, >= 0).

        Args:
            n_paths: number of independent paths.
            times: (n_times,) tensor of sorted observation times; its dtype and device are used.
            seed: integer seed; the same seed gives identical values.
            generator: alternatively, a torch generator from which the seed is drawn.
            workers: threads that fill tiles on the CPU (default: one per core, at most
                torch's thread count).

        Returns:
            Paths with ``values`` (n_paths, n_times).
        """
        n_paths = check_int("n_paths", n_paths, minimum=1)
        times = check_times(times)
        seed = _random.resolve_seed(seed, generator)
        values = times.new_empty((n_paths, times.shape[0]))

        def store(block: int, tile: int, tile_values: PathValues) -> None:
            rows = slice(block * PATH_BLOCK, block * PATH_BLOCK + tile_values.shape[0])
            values[rows, tile * TIME_TILE : tile * TIME_TILE + tile_values.shape[1]] = tile_values

        for _ in self._map_tiles(n_paths, times, seed, store, workers):
            pass
        return Paths(values, times)

    # --- exact moments ----------------------------------------------------------------------

    def mean(self, t: Times) -> Times:
        """E[X_t]; exact for the families that have it."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form mean")

    def variance(self, t: Times) -> Times:
        """Var[X_t]; exact for the families that have it."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form variance")

    def second_moment(self, t: Times) -> Times:
        """E[X_t^2] = Var[X_t] + E[X_t]^2."""
        return self.raw_moment(2, t)

    def raw_moment(self, q: int, t: Times) -> Times:
        """E[X_t^q] for the processes whose law at t is Gaussian (ABM, OU); others override."""
        mean, variance = self.mean(t), self.variance(t)
        # Gaussian raw moments: M_q = mean M_(q-1) + (q - 1) variance M_(q-2)
        previous, current = torch.ones_like(mean), mean
        if q == 0:
            return previous
        for order in range(2, q + 1):
            previous, current = current, mean * current + (order - 1) * variance * previous
        return current


class AbstractExactProcess(AbstractProcess):
    """A process simulated with its exact transition between consecutive observation times."""

    @abc.abstractmethod
    def _transform_normals(
        self, z: PathValues, times: Times, dt: Times, state: torch.Tensor
    ) -> None:
        """Turn normals ``z`` (block_paths, tile_times), one per gap dt_j = t_j - t_(j-1), into
        the values at ``times`` in place, starting from ``state`` (updated in place)."""

    def _advance(
        self, z: PathValues, times: Times, t_start: float, state: torch.Tensor
    ) -> PathValues:
        dt = torch.diff(times, prepend=times.new_full((1,), t_start))
        self._transform_normals(z, times, dt, state)
        return z

    def values_from_normals(self, normals: PathValues, times: Times) -> PathValues:
        """The paths' values at ``times`` driven by given standard normals, through the exact
        transition: normal z_ij moves path i over the gap t_j - t_(j-1) (t_0 = 0), from x0.

        ``sample_paths`` is this transition driven by its own tiled streams; other streams
        (the fused GPU kernel's Philox normals, say) give the same law.

        Args:
            normals: (n_paths, n_times) standard normals; not changed.
            times: (n_times,) sorted times >= 0; their dtype and device are used.

        Returns:
            (n_paths, n_times) values.
        """
        times = check_times(times)
        normals = check_tensor("normals", normals, ndim=2)
        if normals.shape[1] != times.shape[0]:
            raise InputError(
                "normals",
                f"shape {tuple(normals.shape)}",
                f"(n_paths, {times.shape[0]}): one normal per path and time",
            )
        z = normals.to(dtype=times.dtype, device=times.device, copy=True)
        return self._advance(z, times, 0.0, self._initial_state(z.shape[0], times))


def sample_times(
    n_times: int,
    horizon: float,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | str = torch.float64,
    device: torch.device | str = "cpu",
) -> Times:
    """``n_times`` observation times drawn uniformly on (0, horizon], sorted ascending, of
    ``dtype`` (float32 or float64) on ``device`` ('cpu' or 'cuda'; a device this machine does
    not have is an InputError)."""
    n_times = check_int("n_times", n_times, minimum=1)
    horizon = check_real("horizon", horizon, positive=True)
    dtype = check_dtype("dtype", dtype)
    device = check_device("device", device)
    seed = _random.resolve_seed(seed, generator)
    stream = _random.stream(seed, _random.TIMES, device=device)
    u = torch.rand(n_times, generator=stream, dtype=dtype, device=device)
    return torch.sort(horizon * (1 - u)).values


def simulate(
    process: AbstractProcess,
    *,
    n_paths: int,
    n_times: int,
    horizon: float,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | str = torch.float64,
    device: torch.device | str = "cpu",
) -> Paths:
    """Draw random observation times on (0, horizon] and simulate paths observed at them.

    Example:
        >>> paths = simulate(ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=1000, horizon=10.0,
        ...                  seed=0)
        >>> paths.values.shape
        torch.Size([100, 1000])
    """
    seed = _random.resolve_seed(seed, generator)
    times = sample_times(n_times, horizon, seed=seed, dtype=dtype, device=device)
    return process.sample_paths(n_paths, times, seed=seed)
