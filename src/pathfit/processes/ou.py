"""Ornstein-Uhlenbeck process dX = theta (mu - X) dt + sigma dW."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pathfit._types import PathValues, Times
from pathfit._validation import check_real
from pathfit.processes._base import RECURSIVE, AbstractExactProcess


@dataclass(frozen=True, kw_only=True)
class OU(AbstractExactProcess):
    """Ornstein-Uhlenbeck process, mean-reverting to ``mu`` at rate ``theta``.

    Attributes:
        x0: starting value.
        theta: mean-reversion rate, > 0.
        mu: long-run mean.
        sigma: volatility, >= 0.
    """

    x0: float = 0.0
    theta: float = 1.0
    mu: float = 0.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        check_real("x0", self.x0)
        check_real("theta", self.theta, positive=True)
        check_real("mu", self.mu)
        check_real("sigma", self.sigma, nonnegative=True)

    def _transform_normals(
        self, z: PathValues, times: Times, dt: Times, state: torch.Tensor
    ) -> None:
        # Exact transition over each gap: a linear recurrence, scanned column by column.
        decay = torch.exp(-self.theta * dt).tolist()
        scale = self.sigma * torch.sqrt(-torch.expm1(-2 * self.theta * dt) / (2 * self.theta))
        deviation = state - self.mu  # x - mu
        for j, (a, b) in enumerate(zip(decay, scale.tolist(), strict=True)):
            deviation.mul_(a).add_(z[:, j], alpha=b)
            z[:, j] = deviation
        z.add_(self.mu)
        state.copy_(z[:, -1])

    def _fused_coefficients(
        self, dt: np.ndarray
    ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, float, float]:
        decay = np.exp(-self.theta * dt)
        scale = self.sigma * np.sqrt(-np.expm1(-2 * self.theta * dt) / (2 * self.theta))
        return RECURSIVE, scale, dt, decay, float(self.mu), float(self.x0)

    def mean(self, t: Times) -> Times:
        return self.mu + (self.x0 - self.mu) * torch.exp(-self.theta * t)

    def variance(self, t: Times) -> Times:
        return self.sigma**2 * -torch.expm1(-2 * self.theta * t) / (2 * self.theta)
