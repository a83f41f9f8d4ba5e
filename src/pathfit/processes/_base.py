"""The abstract diffusion process and the sampling entry points shared by every family.

The paths are made tile by tile (``pathfit.processes.tiling``): the values do not depend on how
the work is split, and memory stays at a few tiles whatever n_paths x n_times. Their normals come
from the random stream ``rng`` names (``pathfit._random``): "philox" (the default, the GPU
kernel's) or "legacy".
"""

from __future__ import annotations

import abc
import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch

from pathfit import _philox, _random
from pathfit._random import DEFAULT_STREAM, RandomStream, check_stream
from pathfit._types import PathValues, Times
from pathfit._validation import check_device, check_dtype, check_int, check_real, check_tensor
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.processes import tiling
from pathfit.processes.tiling import PATH_BLOCK, TIME_TILE, check_times

R = TypeVar("R")

CUMULATIVE, CUMULATIVE_EXP, RECURSIVE = 0, 1, 2
"""The exact transitions the compiled pass knows (``_fused_coefficients``): y_j = state +
sum_(k <= j) (scale_k z_k + drift_k) (ABM), its exp (GBM, y = log x), and
x_j - offset = decay_j (x_(j-1) - offset) + scale_j z_j (OU)."""


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

    def _counters(self, tile: int) -> tuple[int, int]:
        """(first counter, third counter word) of tile ``tile``'s normals in the "philox"
        stream: by default the tile's own normals numbered from 0, under c2 = tile + 1 (the
        exact processes number theirs by time index instead, as the GPU kernel does)."""
        return 0, tile + 1

    @abc.abstractmethod
    def _advance(
        self, z: PathValues, times: Times, t_start: float, state: torch.Tensor
    ) -> PathValues:
        """Values (block_paths, tile_times) at ``times`` from normals ``z`` (block_paths,
        _n_normals), starting from ``state`` at ``t_start``; ``state`` is updated in place to
        the state at the tile's last time. May work in place in ``z``."""

    # --- tiles ----------------------------------------------------------------------------

    def _tile(
        self,
        seed: int,
        block: int,
        tile: int,
        times: Times,
        state: torch.Tensor,
        rng: RandomStream = DEFAULT_STREAM,
    ) -> PathValues:
        """The values of one tile: the block's paths at the tile's times."""
        start = tile * TIME_TILE
        tile_times = times[start : start + TIME_TILE]
        t_start = float(times[start - 1]) if start > 0 else 0.0
        shape = (state.shape[0], self._n_normals(tile_times, t_start))
        if rng == "philox":
            first_counter, c2 = self._counters(tile)
            z = _random.counter_normals(
                seed, block * PATH_BLOCK, first_counter, shape, times.dtype, times.device, c2
            )
        else:
            key = (_random.PATHS, block, tile)
            z = _random.normals(seed, key, shape, times.dtype, times.device)
        return self._advance(z.to(times.device), tile_times, t_start, state)

    def map_tiles(
        self,
        n_paths: int,
        times: Times,
        seed: int,
        reduce: Callable[[int, int, PathValues], R],
        workers: int | None = None,
        rng: RandomStream = DEFAULT_STREAM,
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
            rng: the random stream of the normals, "philox" or "legacy".
        """
        n_paths = check_int("n_paths", n_paths, minimum=1)
        times = check_times(times)
        seed = _random.resolve_seed(seed)
        rng = check_stream("rng", rng)
        return self._map_tiles(n_paths, times, seed, reduce, workers, rng)

    def _map_tiles(
        self,
        n_paths: int,
        times: Times,
        seed: int,
        reduce: Callable[[int, int, PathValues], R],
        workers: int | None,
        rng: RandomStream = DEFAULT_STREAM,
    ) -> Iterator[tuple[int, int, R]]:
        return tiling.map_tiles(
            n_paths,
            times,
            lambda n: self._initial_state(n, times),
            lambda block, tile, state: self._tile(seed, block, tile, times, state, rng),
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
        rng: RandomStream = DEFAULT_STREAM,
    ) -> Iterator[PathValues]:
        """Yield the paths block by block: (<= PATH_BLOCK, n_times) tensors.

        Concatenated, the blocks equal ``sample_paths(n_paths, times, seed=seed).values``; use
        this to reduce paths as they are made without holding all of them.
        """
        n_paths = check_int("n_paths", n_paths, minimum=1)
        times = check_times(times)
        # validated here, at the call, not at the first next(): _blocks is the generator
        seed = _random.resolve_seed(seed, generator)
        return self._blocks(n_paths, times, seed, check_stream("rng", rng))

    def _blocks(
        self, n_paths: int, times: Times, seed: int, rng: RandomStream
    ) -> Iterator[PathValues]:
        n_tiles = tiling.n_tiles(times.shape[0])
        for block, n_block in enumerate(tiling.block_sizes(n_paths)):
            state = self._initial_state(n_block, times)
            values = [self._tile(seed, block, tile, times, state, rng) for tile in range(n_tiles)]
            yield torch.cat(values, dim=1) if n_tiles > 1 else values[0]

    def sample_paths(
        self,
        n_paths: int,
        times: Times,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        workers: int | None = None,
        rng: RandomStream = DEFAULT_STREAM,
    ) -> Paths:
        """Simulate ``n_paths`` paths observed at ``times`` (sorted, >= 0).

        Args:
            n_paths: number of independent paths.
            times: (n_times,) tensor of sorted observation times; its dtype and device are used.
            seed: integer seed; the same seed gives identical values.
            generator: alternatively, a torch generator from which the seed is drawn.
            workers: threads that fill tiles on the CPU (default: one per core, at most
                torch's thread count).
            rng: the random stream of the normals: "philox" (the default; the GPU kernel's
                stream, the same paths on every device) or "legacy" (pathfit's earlier CPU
                stream, to reproduce earlier results).

        Returns:
            Paths with ``values`` (n_paths, n_times).
        """
        n_paths = check_int("n_paths", n_paths, minimum=1)
        times = check_times(times)
        seed = _random.resolve_seed(seed, generator)
        rng = check_stream("rng", rng)
        values = times.new_empty((n_paths, times.shape[0]))

        def store(block: int, tile: int, tile_values: PathValues) -> None:
            rows = slice(block * PATH_BLOCK, block * PATH_BLOCK + tile_values.shape[0])
            values[rows, tile * TIME_TILE : tile * TIME_TILE + tile_values.shape[1]] = tile_values

        for _ in self._map_tiles(n_paths, times, seed, store, workers, rng):
            pass
        return Paths(values, times)

    def fused_power_sums(
        self,
        n_paths: int,
        times: Times,
        seed: int,
        powers: Sequence[int],
        workers: int | None = None,
    ) -> Iterator[tuple[int, int, torch.Tensor]] | None:
        """(block, tile, sums) for every tile, as ``map_tiles`` with a reduction to
        sum_i x_ij^q (tile_times, len(powers)), in one compiled pass per tile that never
        writes the paths out; or None where there is no such pass (this family, float32 or
        GPU times, no numba): then reduce ``map_tiles``' values. "philox" stream only.

        A building block of ``pathfit.design``, like ``tiling.map_tiles``: it takes checked
        arguments (n_paths >= 1, times from ``check_times``, a seed in [0, 2^64), non-empty
        powers >= 0) and checks nothing itself, so that a small problem pays no second check.
        """
        return None

    def fused_power_sums_total(
        self, n_paths: int, times: Times, seed: int, powers: Sequence[int]
    ) -> torch.Tensor | None:
        """The sum of ``fused_power_sums``' tiles, (n_times, len(powers)), in one compiled
        call on the calling thread; or None where there is no compiled pass."""
        return None

    def fused_power_sums_datasets(
        self,
        n_paths: int,
        times: Times,
        seeds: Sequence[int],
        powers: Sequence[int],
        workers: int,
    ) -> torch.Tensor | None:
        """``fused_power_sums_total`` of R datasets at once, (R, n_times, len(powers)); None
        where there is no compiled pass."""
        return None

    def fused_pass_applies(self, times: Times) -> bool:
        """Whether the ``fused_power_sums`` family has a compiled pass for times like these
        (their dtype and device)."""
        return False

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

    def _counters(self, tile: int) -> tuple[int, int]:
        # one normal per time: counter j is time index j, the GPU kernel's layout
        return tile * TIME_TILE, 0

    def _fused_coefficients(
        self, dt: np.ndarray
    ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, float, float] | None:
        """(kind, scale, drift, decay, offset, start) of the compiled pass (``processes._fused``)
        over gaps ``dt`` (any shape, float64), in NumPy as ``_transform_normals`` computes them
        in torch (so the values agree with the tiled path's to rounding: torch's float64 sqrt
        is not correctly rounded); ``start`` is the state at t = 0. None: no such pass."""
        return None

    def fused_power_sums(
        self,
        n_paths: int,
        times: Times,
        seed: int,
        powers: Sequence[int],
        workers: int | None = None,
    ) -> Iterator[tuple[int, int, torch.Tensor]] | None:
        plan = self._fused_plan(times, powers)
        if plan is None:
            return None
        kernel, column, order, (kind, scale, drift, decay, offset, _) = plan
        k0, k1 = _philox.split_seed(seed)

        def sums(block: int, tile: int, state: torch.Tensor) -> torch.Tensor:
            columns = slice(tile * TIME_TILE, tile * TIME_TILE + TIME_TILE)
            out = np.zeros((column.max() + 1, scale[columns].shape[0]))
            kernel.tile_power_sums(
                k0, k1, block * PATH_BLOCK // 4, tile * TIME_TILE, kind, scale[columns],
                drift[columns], decay[columns], offset, state.numpy(), column, out,
            )  # fmt: skip
            return torch.from_numpy(out[order].T)

        return tiling.map_tiles(
            n_paths,
            times,
            lambda n: self._initial_state(n, times),
            sums,
            lambda block, tile, tile_sums: tile_sums,
            workers,
            torch_ops=False,
        )

    def fused_power_sums_total(
        self, n_paths: int, times: Times, seed: int, powers: Sequence[int]
    ) -> torch.Tensor | None:
        """(n_times, len(powers)) sum over all paths of x_ij^q: ``fused_power_sums``' tiles
        added up in its order (the same bits), on the calling thread in one compiled call; or
        None as there. Checks nothing (see ``fused_power_sums``)."""
        total = self.fused_power_sums_datasets(n_paths, times.unsqueeze(0), [seed], powers, 1)
        return None if total is None else total[0]

    def fused_power_sums_datasets(
        self,
        n_paths: int,
        times: Times,
        seeds: Sequence[int],
        powers: Sequence[int],
        workers: int,
    ) -> torch.Tensor | None:
        """(R, n_times, len(powers)): ``fused_power_sums_total`` of R datasets with times
        (R, n_times) and their seeds, the same bits, the datasets shared out in contiguous runs
        over ``workers`` threads, one compiled call per run; or None where there is no
        compiled pass. Checks nothing (see ``fused_power_sums``)."""
        plan = self._fused_plan(times, powers)
        if plan is None:
            return None
        kernel, column, order, (kind, scale, drift, decay, offset, start) = plan
        keys = np.array([_philox.split_seed(s) for s in seeds], dtype=np.int64).reshape(-1, 2)
        out = np.zeros((len(seeds), column.max() + 1, times.shape[-1]))

        def run(rows: slice) -> None:
            kernel.datasets_power_sums(
                keys[rows], PATH_BLOCK, TIME_TILE, n_paths, kind, scale[rows], drift[rows],
                decay[rows], offset, start, column, out[rows],
            )  # fmt: skip

        workers = max(1, min(workers, len(seeds)))
        if workers == 1:
            run(slice(None))
        else:
            bounds = np.linspace(0, len(seeds), workers + 1).astype(int)
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, [slice(a, b) for a, b in itertools.pairwise(bounds)]))
        if order != list(range(out.shape[1])):
            out = out[:, order]
        return torch.from_numpy(out.transpose(0, 2, 1))

    def fused_pass_applies(self, times: Times) -> bool:
        return self._fused_plan(times[..., :1], (0,)) is not None

    def _fused_plan(self, times: Times, powers: Sequence[int]) -> tuple | None:
        """(kernel module, column of each power, order of the columns, coefficients) of the
        compiled pass over ``times`` ((..., n_times), float64 on the CPU), or None."""
        if times.device.type != "cpu" or times.dtype != torch.float64:
            return None
        try:
            from pathfit.processes import _fused  # imports numba: on first use only
        except ImportError:  # pragma: no cover - numba is a dependency
            return None
        # every gap from the time before (t_0 = 0), as each tile computes its own
        values = times.numpy()
        dt = np.empty_like(values)
        dt[..., 0] = values[..., 0]
        np.subtract(values[..., 1:], values[..., :-1], out=dt[..., 1:])
        coefficients = self._fused_coefficients(dt)
        if coefficients is None:
            return None
        column, order = _power_columns(tuple(powers))
        return _fused, column, order, coefficients

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


@functools.lru_cache(maxsize=64)
def _power_columns(powers: tuple[int, ...]) -> tuple[np.ndarray, list[int]]:
    """For the compiled pass: the column of each distinct power q (-1: not wanted), indexed by
    q, and the column of each of ``powers`` in turn (a power may repeat)."""
    distinct = sorted(set(powers))
    column = np.full(distinct[-1] + 1, -1, dtype=np.int64)
    column[distinct] = np.arange(len(distinct))
    return column, [distinct.index(q) for q in powers]


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
    rng: RandomStream = DEFAULT_STREAM,
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
    return process.sample_paths(n_paths, times, seed=seed, rng=rng)
