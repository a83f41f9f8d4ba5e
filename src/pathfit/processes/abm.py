"""Arithmetic Brownian motion dX = mu dt + sigma dW."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pathfit._types import PathValues, Times
from pathfit._validation import check_real
from pathfit.processes._base import CUMULATIVE, AbstractExactProcess


@dataclass(frozen=True, kw_only=True)
class ABM(AbstractExactProcess):
    """Arithmetic Brownian motion: X_t = x0 + mu t + sigma W_t.

    Attributes:
        x0: starting value.
        mu: drift per unit time.
        sigma: volatility, >= 0.
    """

    x0: float = 0.0
    mu: float = 0.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        check_real("x0", self.x0)
        check_real("mu", self.mu)
        check_real("sigma", self.sigma, nonnegative=True)

    def _transform_normals(
        self, z: PathValues, times: Times, dt: Times, state: torch.Tensor
    ) -> None:
        z.mul_(self.sigma * dt.sqrt()).add_(self.mu * dt).cumsum_(dim=1).add_(state.unsqueeze(1))
        state.copy_(z[:, -1])

    def _fused_coefficients(
        self, dt: np.ndarray
    ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, float, float]:
        return CUMULATIVE, self.sigma * np.sqrt(dt), self.mu * dt, dt, 0.0, float(self.x0)

    def mean(self, t: Times) -> Times:
        return self.x0 + self.mu * t

    def variance(self, t: Times) -> Times:
        return self.sigma**2 * t
