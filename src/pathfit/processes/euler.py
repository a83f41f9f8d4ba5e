"""Any SDE dX = a(t, X) dt + b(t, X) dW, by Euler-Maruyama on a fine internal grid."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pathfit._types import PathValues, Times
from pathfit._validation import check_real
from pathfit.exceptions import InputError
from pathfit.processes._base import AbstractProcess

Coefficient = Callable[[float, torch.Tensor], torch.Tensor | float]
"""a(t, x) or b(t, x): time as a float, x as an (n_paths,) tensor; returns (n_paths,) or a float."""


@dataclass(frozen=True, kw_only=True)
class EulerSDE(AbstractProcess):
    """A user SDE simulated by Euler-Maruyama.

    The internal grid is the union of a uniform grid of step ``dt`` on [0, max(times)] and the
    observation times, so every observation falls on a grid point.

    Attributes:
        drift: a(t, x).
        diffusion: b(t, x).
        x0: starting value.
        dt: largest internal step, > 0.
    """

    drift: Coefficient
    diffusion: Coefficient
    x0: float = 0.0
    dt: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("drift", "diffusion"):
            if not callable(getattr(self, name)):
                raise InputError(name, repr(getattr(self, name)), "a callable f(t, x)")
        check_real("x0", self.x0)
        check_real("dt", self.dt, positive=True)

    def _fill_block(self, out: PathValues, times: Times, generator: torch.Generator) -> None:
        n_paths = out.shape[0]
        horizon = float(times[-1])
        n_uniform = max(1, math.ceil(horizon / self.dt))
        uniform = torch.linspace(
            0.0, horizon, n_uniform + 1, dtype=times.dtype, device=times.device
        )
        grid = torch.unique(torch.cat([uniform, times]))  # sorted, starts at 0
        observed = torch.searchsorted(grid, times)
        steps = torch.diff(grid)
        z = torch.randn(
            (n_paths, steps.shape[0]), generator=generator, dtype=times.dtype, device=times.device
        )
        path = torch.empty((n_paths, grid.shape[0]), dtype=times.dtype, device=times.device)
        x = z.new_full((n_paths,), self.x0)
        path[:, 0] = x
        t_grid = grid.tolist()
        sqrt_steps = steps.sqrt()
        for k in range(steps.shape[0]):
            t = t_grid[k]
            x = x + self.drift(t, x) * steps[k] + self.diffusion(t, x) * sqrt_steps[k] * z[:, k]
            path[:, k + 1] = x
        out.copy_(path[:, observed])
