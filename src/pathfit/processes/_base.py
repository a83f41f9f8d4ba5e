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
    def _simulate_block(self, n_paths: int, times: Times, generator: torch.Generator) -> PathValues:
        """(n_paths, n_times) values at sorted ``times``, drawn from ``generator``."""

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
        seed = _random.resolve_seed(seed, generator)
        for block, start in enumerate(range(0, n_paths, PATH_BLOCK)):
            size = min(PATH_BLOCK, n_paths - start)
            stream = _random.stream(seed, _random.PATHS, block, device=times.device)
            yield self._simulate_block(size, times, stream)

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
        blocks = list(self.iter_blocks(n_paths, times, seed=seed, generator=generator))
        return Paths(torch.cat(blocks), _check_times(times))

    def mean(self, t: Times) -> Times:
        """E[X_t]; exact for the families that have it."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form mean")

    def variance(self, t: Times) -> Times:
        """Var[X_t]; exact for the families that have it."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form variance")

    def second_moment(self, t: Times) -> Times:
        """E[X_t^2] = Var[X_t] + E[X_t]^2."""
        return self.variance(t) + self.mean(t).square()


class AbstractExactProcess(AbstractProcess):
    """A process simulated with its exact transition between consecutive observation times."""

    @abc.abstractmethod
    def _from_increments(self, times: Times, dt: Times, z: PathValues) -> PathValues:
        """Values at ``times`` given standard normals ``z`` (n_paths, n_times), one per step."""

    def _simulate_block(self, n_paths: int, times: Times, generator: torch.Generator) -> PathValues:
        z = torch.randn(
            (n_paths, times.shape[0]), generator=generator, dtype=times.dtype, device=times.device
        )
        dt = torch.diff(times, prepend=times.new_zeros(1))
        return self._from_increments(times, dt, z)


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
