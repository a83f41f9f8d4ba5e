"""The abstract diffusion process and the sampling entry points shared by every family."""

from __future__ import annotations

import abc
from collections.abc import Iterator

import torch

from pathfit import _random
from pathfit._types import PathValues, Times
from pathfit._validation import check_dtype, check_int, check_real, check_tensor
from pathfit.exceptions import InputError
from pathfit.paths import Paths

PATH_BLOCK = 256
"""Paths are drawn in blocks of this many, each block from its own random stream, so that a
materialized simulation and a chunked one (``iter_blocks``) give the same values."""


class AbstractProcess(abc.ABC):
    """A one-dimensional diffusion dX = a(t, X) dt + b(t, X) dW started at ``x0`` at t = 0."""

    x0: float

    @abc.abstractmethod
    def _fill_block(self, out: PathValues, times: Times, generator: torch.Generator) -> None:
        """Overwrite ``out`` (block_paths, n_times) with paths at sorted ``times``, drawn from
        ``generator``."""

    def _blocks(
        self, n_paths: int, times: Times, seed: int, out: PathValues | None = None
    ) -> Iterator[PathValues]:
        """Fill the paths block by block, into ``out`` when given, else into new tensors."""
        for block, start in enumerate(range(0, n_paths, PATH_BLOCK)):
            stop = min(start + PATH_BLOCK, n_paths)
            if out is None:
                view = times.new_empty((stop - start, times.shape[0]))
            else:
                view = out[start:stop]
            self._fill_block(
                view, times, _random.stream(seed, _random.PATHS, block, device=times.device)
            )
            yield view

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
        times = _check_times(times)
        # validated here, at the call, not at the first next(): _blocks is the generator
        return self._blocks(n_paths, times, _random.resolve_seed(seed, generator))

    def sample_paths(
        self,
        n_paths: int,
        times: Times,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Paths:
        """Simulate ``n_paths`` paths observed at ``times`` (sorted, >= 0).

        Args:
            n_paths: number of independent paths.
            times: (n_times,) tensor of sorted observation times; its dtype and device are used.
            seed: integer seed; the same seed gives identical values.
            generator: alternatively, a torch generator from which the seed is drawn.

        Returns:
            Paths with ``values`` (n_paths, n_times).
        """
        n_paths = check_int("n_paths", n_paths, minimum=1)
        times = _check_times(times)
        values = times.new_empty((n_paths, times.shape[0]))
        for _ in self._blocks(n_paths, times, _random.resolve_seed(seed, generator), values):
            pass
        return Paths(values, times)

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
    def _transform_normals(self, z: PathValues, times: Times, dt: Times) -> None:
        """Turn standard normals ``z`` (block_paths, n_times), one per gap dt_j = t_j - t_(j-1)
        with t_0 = 0, into the values at ``times``, in place."""

    def _fill_block(self, out: PathValues, times: Times, generator: torch.Generator) -> None:
        torch.randn(out.shape, generator=generator, dtype=out.dtype, device=out.device, out=out)
        self._transform_normals(out, times, torch.diff(times, prepend=times.new_zeros(1)))


def sample_times(
    n_times: int,
    horizon: float,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | str = torch.float64,
    device: torch.device | str = "cpu",
) -> Times:
    """``n_times`` observation times drawn uniformly on (0, horizon], sorted ascending."""
    n_times = check_int("n_times", n_times, minimum=1)
    horizon = check_real("horizon", horizon, positive=True)
    dtype = check_dtype("dtype", dtype)
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


def _check_times(times: object) -> Times:
    times = check_tensor("times", times, ndim=1)
    if times.shape[0] < 1:
        raise InputError("times", "an empty array", "at least one observation time")
    if bool((times < 0).any()):
        raise InputError("times", f"{times.min().item()}", "times >= 0")
    if times.shape[0] > 1 and bool((times[1:] < times[:-1]).any()):
        raise InputError("times", "unsorted times", "times sorted ascending")
    return times
