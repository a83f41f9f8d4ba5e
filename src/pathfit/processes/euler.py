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

    def _grid(self, times: Times, t_start: float) -> tuple[Times, torch.Tensor]:
        """The internal grid from t_start through the tile's times (multiples of dt and the
        times themselves), and the grid index of each time."""
        first, last = math.floor(t_start / self.dt) + 1, math.ceil(float(times[-1]) / self.dt)
        uniform = torch.arange(first, max(first, last), dtype=times.dtype, device=times.device)
        start = times.new_full((1,), t_start)
        grid = torch.unique(torch.cat([start, uniform * self.dt, times]))
        grid = grid[grid >= t_start]
        return grid, torch.searchsorted(grid, times)

    def _n_normals(self, times: Times, t_start: float) -> int:
        return self._grid(times, t_start)[0].shape[0] - 1

    def _advance(
        self, z: PathValues, times: Times, t_start: float, state: torch.Tensor
    ) -> PathValues:
        grid, observed = self._grid(times, t_start)
        path = z.new_empty((z.shape[0], grid.shape[0]))
        x = state.clone()
        path[:, 0] = x
        steps = torch.diff(grid)
        sqrt_steps = steps.sqrt()
        for k, t in enumerate(grid[:-1].tolist()):
            x = x + self.drift(t, x) * steps[k] + self.diffusion(t, x) * sqrt_steps[k] * z[:, k]
            path[:, k + 1] = x
        state.copy_(x)
        return path[:, observed]
