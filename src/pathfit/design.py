"""The aggregated design: the sufficient statistic of every model linear in its parameters.

A model linear in its parameters predicts k_j = sum_b c_b Phi_jb with
Phi_jb = (1/n) sum_i f_b(x_ij). pathfit's linear models use monomial features f_b(x) = x^q_b:
constant lambda is q = (2,), a polynomial lambda(x) of degree d is q = (2, ..., d + 2), and a
polynomial k of degree p is q = (0, ..., p). Phi is a sum over paths, so it can be accumulated
block by block without ever holding all of x.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import torch

from pathfit._random import DEFAULT_STREAM, RandomStream, check_seed, check_stream
from pathfit._threads import fixed_sum
from pathfit._types import Design, PathValues, Times
from pathfit._validation import check_choice, check_dtype, check_int
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.processes import ABM, GBM, OU, AbstractProcess
from pathfit.processes.tiling import (
    PATH_BLOCK,
    TIME_TILE,
    check_times,
    default_workers,
    resolve_workers,
    torch_threads,
)

Backend = Literal["auto", "torch", "triton"]
BACKENDS: tuple[Backend, ...] = ("auto", "torch", "triton")


def _check_powers(powers: Sequence[int]) -> tuple[int, ...]:
    powers = tuple(powers)
    if not powers or any(isinstance(q, bool) or not isinstance(q, int) or q < 0 for q in powers):
        raise InputError("powers", repr(powers), "a non-empty sequence of integers >= 0")
    return powers


def power_sums(values: PathValues, powers: Sequence[int]) -> Design:
    """(n_times, len(powers)) tensor of sum_i x_ij^q for each power q, over the paths given."""
    powers = _check_powers(powers)
    out = values.new_empty((values.shape[1], len(powers)))
    power = values  # x^q for the current q, built up by products; x^0 is never formed
    for q in range(max(powers) + 1):
        if q >= 2:
            power = power * values
        for b in (b for b, wanted in enumerate(powers) if wanted == q):
            out[:, b] = values.shape[0] if q == 0 else fixed_sum(power, dim=0)
    return out


def path_products(
    values: PathValues, powers: Sequence[int], transform: torch.Tensor, columns: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each path's own design against given columns: with t_i = (x_ij^q_b)_jb @ ``transform``
    (n_times, r) for path i, the (n_paths, r, c) products t_i^T ``columns`` ((n_times, c)) and
    the (n_paths, r, r) products t_i^T t_i, for (n_paths, n_times) values (in blocks of paths)."""
    powers = _check_powers(powers)
    n = values.shape[0]
    cross = values.new_empty((n, transform.shape[1], columns.shape[1]))
    gram = values.new_empty((n, transform.shape[1], transform.shape[1]))
    for first in range(0, n, PATH_BLOCK):
        block = values[first : first + PATH_BLOCK]
        t = torch.stack([block**q for q in powers], dim=-1) @ transform
        cross[first : first + block.shape[0]] = t.mT @ columns
        gram[first : first + block.shape[0]] = t.mT @ t
    return cross, gram


def power_design(values: PathValues, powers: Sequence[int]) -> Design:
    """Phi_jb = (1/n) sum_i x_ij^q_b: (n_times, len(powers)) design from (n_paths, n_times) x."""
    return power_sums(values, powers) / values.shape[0]


class DesignAccumulator:
    """Accumulates the power design over blocks of paths.

    Example:
        >>> acc = DesignAccumulator(powers=(2,))
        >>> for block in process.iter_blocks(n_paths, times, seed=0):
        ...     acc.update(block)
        >>> design = acc.design  # equals power_design(all_values, (2,))
    """

    def __init__(self, powers: Sequence[int]) -> None:
        self.powers = _check_powers(powers)
        self._sums: torch.Tensor | None = None
        self.n_paths = 0

    def update(self, block: PathValues) -> None:
        """Add a (block_paths, n_times) block of path values."""
        sums = power_sums(block, self.powers)
        if self._sums is None:
            self._sums = sums
        elif sums.shape != self._sums.shape:
            raise InputError(
                "block",
                f"shape {tuple(block.shape)}",
                f"{self._sums.shape[0]} times, as in earlier blocks",
            )
        else:
            self._sums += sums
        self.n_paths += block.shape[0]

    @property
    def design(self) -> Design:
        if self._sums is None:
            raise InputError("design", "no blocks", "at least one update() before reading")
        return self._sums / self.n_paths


def accumulate_design(blocks: Iterable[PathValues], powers: Sequence[int]) -> Design:
    """The power design of all blocks together, holding one block at a time."""
    acc = DesignAccumulator(powers)
    for block in blocks:
        acc.update(block)
    return acc.design


def streamed_design(
    process: AbstractProcess,
    n_paths: int,
    times: Times,
    powers: Sequence[int],
    *,
    seed: int,
    workers: int | None = None,
    backend: Backend = "auto",
    rng: RandomStream = DEFAULT_STREAM,
) -> Design:
    """Simulate ``n_paths`` paths of ``process`` and reduce them to their power design, never
    holding more than a few tiles of paths.

    On the CPU the tiles are filled by ``workers`` threads (default: one per core, at most
    torch's thread count) and reduced in a fixed order, so the result does not depend on the
    threads and equals (to rounding)
    ``power_design(process.sample_paths(n_paths, times, seed=seed).values, powers)``. On a CUDA
    device with Triton, ``backend="auto"`` runs one fused kernel that draws its normals
    in-kernel and never writes x to memory; it draws the "philox" stream, so its Phi equals the
    tiled path's to its float32 rounding (about 1e-6), and is in law only what ``"legacy"``
    gives; ``backend="torch"`` forces the tiled torch path everywhere.

    Args:
        process: the diffusion.
        n_paths: number of paths.
        times: (n_times,) sorted observation times; their dtype and device are used.
        powers: the monomial powers q_b of the design's columns.
        seed: integer seed.
        workers: CPU threads (torch backend).
        backend: "auto", "torch" or "triton".
        rng: the random stream of the tiled path, "philox" or "legacy".

    Returns:
        (n_times, len(powers)) tensor Phi_jb = (1/n) sum_i x_ij^q_b.
    """
    powers = _check_powers(powers)
    n_paths = check_int("n_paths", n_paths, minimum=1)
    seed = check_seed("seed", seed)
    check_choice("backend", backend, BACKENDS)
    rng = check_stream("rng", rng)
    times = check_times(times)
    fusable = isinstance(process, ABM | GBM | OU) and len(powers) <= 8 and max(powers) <= 8
    if backend != "torch" and times.is_cuda and fusable:
        from pathfit.kernels import triton_design  # imports Triton: only ever on CUDA

        if triton_design.available():
            # the times were checked above: no second read-back from the device
            design = triton_design.fused_design(process, n_paths, times, powers, seed, check=False)
            return design.to(times.dtype)
    if backend == "triton":
        raise InputError(
            "backend",
            "'triton'",
            "a CUDA device with Triton and an ABM, GBM or OU process with at most 8 powers",
        )
    if rng == "philox" and resolve_workers(workers, n_paths, times) == 1:
        total = process.fused_power_sums_total(n_paths, times, seed, powers)
        if total is not None:  # one compiled call: no per-tile overhead
            return total / n_paths
    sums = times.new_zeros((times.shape[0], len(powers)))
    for _, tile, tile_sums in _tile_power_sums(process, n_paths, times, seed, powers, workers, rng):
        sums[tile * TIME_TILE : tile * TIME_TILE + tile_sums.shape[0]] += tile_sums
    return sums / n_paths


def _tile_power_sums(
    process: AbstractProcess,
    n_paths: int,
    times: Times,
    seed: int,
    powers: tuple[int, ...],
    workers: int | None,
    rng: RandomStream,
) -> Iterator[tuple[int, int, Design]]:
    """(block, tile, sum over the tile's paths of x^q) for every tile: one compiled pass per
    tile where the process has one (ABM, GBM, OU in float64 on the CPU, "philox" stream),
    else the tiles' values reduced by ``power_sums``."""
    fused = None
    if rng == "philox":
        fused = process.fused_power_sums(n_paths, times, seed, powers, workers)
    if fused is not None:
        return fused
    return process.map_tiles(
        n_paths, times, seed, lambda b, t, values: power_sums(values, powers), workers, rng
    )


def simulate_designs(
    process: AbstractProcess,
    *,
    n_paths: int,
    n_times: int,
    horizon: float,
    seeds: Sequence[int],
    powers: Sequence[int],
    dtype: torch.dtype | str = torch.float64,
    workers: int | None = None,
    rng: RandomStream = DEFAULT_STREAM,
) -> tuple[Times, Design]:
    """Times and power designs of R independent datasets, one per seed, in one call.

    Dataset r is exactly what ``simulate(process, ..., seed=seeds[r])`` would give, reduced to
    its design: the datasets are spread over ``workers`` CPU threads (default:
    ``default_workers()``, one per core up to torch's thread count), each simulating its
    datasets tile by tile, so no dataset's paths are ever held whole.

    Returns:
        times (R, n_times) and designs (R, n_times, len(powers)).
    """
    from pathfit.processes import sample_times

    powers = _check_powers(powers)
    dtype = check_dtype("dtype", dtype)
    n_paths = check_int("n_paths", n_paths, minimum=1)
    seeds = [check_seed(f"seeds[{r}]", s) for r, s in enumerate(seeds)]
    rng = check_stream("rng", rng)
    if not seeds:
        raise InputError("seeds", "[]", "at least one seed")

    def one(seed: int) -> tuple[Times, Design]:
        times = sample_times(n_times, horizon, seed=seed, dtype=dtype)
        sums = times.new_zeros((times.shape[0], len(powers)))
        for _, tile, tile_sums in _tile_power_sums(process, n_paths, times, seed, powers, 1, rng):
            sums[tile * TIME_TILE : tile * TIME_TILE + tile_sums.shape[0]] += tile_sums
        return times, sums / n_paths

    workers = max(1, min(len(seeds), workers or default_workers()))
    if rng == "philox" and process.fused_pass_applies(torch.zeros(1, dtype=dtype)):
        # each thread takes a contiguous run of datasets: their times, then all their paths in
        # one compiled call (a dataset of the seed's size, 1e5 points, takes about 0.5 ms: too
        # little to hand out one by one, each dataset's Python holding the others up)
        def run(chunk: list[int]) -> tuple[Times, Design]:
            times = torch.stack(
                [sample_times(n_times, horizon, seed=s, dtype=dtype) for s in chunk]
            )
            sums = process.fused_power_sums_datasets(n_paths, times, chunk, powers, 1)
            return times, sums / n_paths

        bounds = [len(seeds) * k // workers for k in range(workers + 1)]
        chunks = [seeds[a:b] for a, b in itertools.pairwise(bounds)]
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(run, chunks))
        return torch.cat([t for t, _ in parts]), torch.cat([d for _, d in parts])
    with torch_threads(1), ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, seeds))
    return torch.stack([t for t, _ in results]), torch.stack([d for _, d in results])


# Paths a streamed run keeps whole, for its figures and the range of x (a 5000-time run keeps
# 1024 x 5000 values: 41 MB in float64).
SAMPLE_PATHS = 1024


@dataclass(frozen=True, eq=False)
class StreamedPaths:
    """Simulated paths kept only as their per-time power sums and their first few paths.

    What a model linear in its parameters needs of the paths is their aggregated design, a sum
    over paths; what its intervals need is at most the spread of its per-path terms (sums of
    higher powers) and, for the path bootstrap, designs reweighted path by path, which
    :meth:`weighted_sums` computes by simulating the same paths again (the tiles' random
    streams are named by the seed, so the second pass sees the very same values). So
    ``LeastSquares`` fits n x m paths in memory of order m, not n x m.

    Build one with :meth:`simulate`. Sums are accumulated tile by tile in a fixed order, so they
    equal those of the materialized paths to rounding, whatever the threads.

    Attributes:
        process: the diffusion simulated.
        times: (n_times,) observation times.
        n_paths: number of paths.
        seed: the seed of the simulation.
        sums: (n_times, max_power + 1) tensor of sum_i x_ij^q for q = 0 .. max_power.
        sample: the first ``min(n_paths, SAMPLE_PATHS)`` paths, exactly as simulated.
        peak: the largest |x| over all paths.
        workers: CPU threads that simulate (None: the default).
        rng: the random stream of the paths' normals ("philox" or "legacy").
    """

    process: AbstractProcess
    times: Times
    n_paths: int
    seed: int
    sums: torch.Tensor
    sample: Paths
    peak: float
    workers: int | None = None
    rng: RandomStream = DEFAULT_STREAM

    @classmethod
    def simulate(
        cls,
        process: AbstractProcess,
        *,
        n_paths: int,
        times: Times,
        seed: int,
        max_power: int,
        n_sample: int = SAMPLE_PATHS,
        workers: int | None = None,
        rng: RandomStream = DEFAULT_STREAM,
    ) -> StreamedPaths:
        """Simulate ``n_paths`` paths at ``times`` and keep the sums of x^q up to
        ``max_power`` (twice the highest power of a design, for its intervals)."""
        n_paths = check_int("n_paths", n_paths, minimum=1)
        max_power = check_int("max_power", max_power, minimum=0)
        seed = check_seed("seed", seed)
        rng = check_stream("rng", rng)
        times = check_times(times)
        powers = tuple(range(max_power + 1))
        sums = times.new_zeros((times.shape[0], max_power + 1))
        kept = min(n_paths, n_sample)
        sample = times.new_empty((kept, times.shape[0]))

        def reduce(block: int, tile: int, values: PathValues) -> tuple[Design, float]:
            first = block * PATH_BLOCK
            if first < kept:
                columns = slice(tile * TIME_TILE, tile * TIME_TILE + values.shape[1])
                sample[first : first + values.shape[0], columns] = values[: kept - first]
            return power_sums(values, powers), float(values.abs().max())

        peak = 0.0
        for _, tile, (tile_sums, tile_peak) in process.map_tiles(
            n_paths, times, seed, reduce, workers, rng
        ):
            sums[tile * TIME_TILE : tile * TIME_TILE + tile_sums.shape[0]] += tile_sums
            peak = max(peak, tile_peak)
        sample_paths = Paths(sample, times)
        return cls(process, times, n_paths, seed, sums, sample_paths, peak, workers, rng)

    @property
    def n_times(self) -> int:
        return self.times.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.times.dtype

    @property
    def device(self) -> torch.device:
        return self.times.device

    @property
    def max_power(self) -> int:
        return self.sums.shape[1] - 1

    def _columns(self, powers: Sequence[int], why: str) -> list[int]:
        powers = _check_powers(powers)
        if max(powers) > self.max_power:
            raise InputError(
                "powers",
                repr(powers),
                f"powers up to {self.max_power}, the highest these streamed paths kept ({why})",
            )
        return list(powers)

    def power_sums(self, powers: Sequence[int]) -> Design:
        """(n_times, len(powers)) sum_i x_ij^q for each power q."""
        return self.sums[:, self._columns(powers, "a design")]

    def design(self, powers: Sequence[int]) -> Design:
        """Phi_jb = (1/n) sum_i x_ij^q_b, as ``power_design`` gives it on the whole paths."""
        return self.power_sums(powers) / self.n_paths

    def mean_square(self) -> torch.Tensor:
        """s_j = (1/n) sum_i x_ij^2."""
        return self.design((2,))[:, 0]

    def term_variance(self, coef: torch.Tensor, powers: Sequence[int]) -> torch.Tensor:
        """(n_times,) sample variance over paths of phi_ij = sum_b coef_b x_ij^q_b, from the
        power sums (needs powers up to 2 max(powers))."""
        powers = _check_powers(powers)
        self._columns([2 * max(powers)], "twice the design's highest, for the spread")
        n = self.n_paths
        if n < 2:
            return self.times.new_full((self.n_times,), math.inf)
        coef = coef.to(self.sums)
        means = self.sums / n
        second = sum(
            a * b * means[:, qa + qb]
            for a, qa in zip(coef, powers, strict=True)
            for b, qb in zip(coef, powers, strict=True)
        )
        first = sum(c * means[:, q] for c, q in zip(coef, powers, strict=True))
        # raw moments: the difference loses digits when the spread is tiny against the mean
        return torch.as_tensor((second - first * first) * n / (n - 1)).clamp_min(0)

    def path_products(
        self, powers: Sequence[int], transform: torch.Tensor, columns: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``path_products`` of the paths, simulated again tile by tile: each tile adds its
        times' share to every path's products."""
        powers = _check_powers(powers)
        r = transform.shape[1]
        cross = self.sums.new_zeros((self.n_paths, r, columns.shape[1]))
        gram = self.sums.new_zeros((self.n_paths, r, r))

        def reduce(block: int, tile: int, values: PathValues) -> tuple[torch.Tensor, ...]:
            times = slice(tile * TIME_TILE, tile * TIME_TILE + values.shape[1])
            return path_products(values, powers, transform, columns[times])

        for block, _, (tile_cross, tile_gram) in self.process.map_tiles(
            self.n_paths, self.times, self.seed, reduce, self.workers, self.rng
        ):
            paths = slice(block * PATH_BLOCK, block * PATH_BLOCK + tile_cross.shape[0])
            cross[paths] += tile_cross
            gram[paths] += tile_gram
        return cross, gram

    def weighted_sums(self, weights: torch.Tensor, powers: Sequence[int]) -> torch.Tensor:
        """(R, n_times, len(powers)) sum_i w_ri x_ij^q for each row r of the (R, n_paths)
        ``weights``: the paths simulated again, tile by tile, each tile weighted as it is made."""
        powers = _check_powers(powers)
        weights = weights.to(self.sums)
        out = self.sums.new_zeros((weights.shape[0], self.n_times, len(powers)))

        def reduce(block: int, tile: int, values: PathValues) -> torch.Tensor:
            w = weights[:, block * PATH_BLOCK : block * PATH_BLOCK + values.shape[0]]
            by_power = {}
            power = None
            for q in range(max(powers) + 1):
                power = torch.ones_like(values) if power is None else power * values
                if q in powers:
                    by_power[q] = w @ power
            return torch.stack([by_power[q] for q in powers], dim=-1)

        for _, tile, tile_sums in self.process.map_tiles(
            self.n_paths, self.times, self.seed, reduce, self.workers, self.rng
        ):
            out[:, tile * TIME_TILE : tile * TIME_TILE + tile_sums.shape[1]] += tile_sums
        return out
