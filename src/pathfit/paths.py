"""Observed paths: the values x_ij of n paths at m observation times."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pathfit._types import PathValues, Times
from pathfit._validation import check_tensor
from pathfit.exceptions import InputError


@dataclass(frozen=True)
class Paths:
    """Values of ``n_paths`` paths observed at the same ``n_times`` times.

    Attributes:
        values: (n_paths, n_times) tensor; row i is one path, column j one observation time.
        times: (n_times,) tensor of observation times, sorted ascending.

    The time axis is in simulation order (sorted). Training shuffles time indices on its own;
    a ``Paths`` object is never reordered.

    Values and times are checked as ``pathfit._validation.check_tensor`` does: float32 and
    float64 kept, float16 and bfloat16 upcast to float32, integers to float64, complex refused,
    NaN and inf refused, a tensor that requires grad detached. They are not copied: a
    ``Paths`` shares the caller's memory (the paths may be large), so every fit re-validates
    it when it starts (one pass over the values, no copy) and a change made in place after
    construction (an inf, unsorted times) is an ``InputError`` at fit time, not a wrong answer.
    """

    values: PathValues
    times: Times

    def __post_init__(self) -> None:
        values = check_tensor("paths.values", self.values, ndim=2)
        times = check_tensor("paths.times", self.times, ndim=1)
        if values.shape[0] < 1:
            raise InputError("n_paths", values.shape[0], "at least 1 path")
        if values.shape[1] != times.shape[0]:
            raise InputError(
                "paths.times",
                f"{times.shape[0]} times for values of shape {tuple(values.shape)}",
                "one time per column of values",
            )
        if times.shape[0] > 1 and bool((times[1:] < times[:-1]).any()):
            j = int((times[1:] < times[:-1]).nonzero()[0]) + 1
            raise InputError(
                "paths.times",
                f"{times[j].item()} after {times[j - 1].item()}",
                "times sorted ascending",
            )
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "times", times.to(dtype=values.dtype, device=values.device))

    @property
    def n_paths(self) -> int:
        return self.values.shape[0]

    @property
    def n_times(self) -> int:
        return self.values.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def device(self) -> torch.device:
        return self.values.device

    def mean_square(self) -> torch.Tensor:
        """s_j = (1/n) sum_i x_ij^2, the (n_times,) feature the constant-lambda model scales."""
        return self.values.square().mean(dim=0)
