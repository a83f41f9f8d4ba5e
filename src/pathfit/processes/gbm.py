"""Geometric Brownian motion dX = mu X dt + sigma X dW."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pathfit._types import PathValues, Times
from pathfit._validation import check_real
from pathfit.processes._base import CUMULATIVE_EXP, AbstractExactProcess


@dataclass(frozen=True, kw_only=True)
class GBM(AbstractExactProcess):
    """Geometric Brownian motion: X_t = x0 exp((mu - sigma^2 / 2) t + sigma W_t).

    Attributes:
        x0: starting value, > 0.
        mu: drift rate.
        sigma: volatility, >= 0.
    """

    x0: float = 1.0
    mu: float = 0.0
    sigma: float = 0.2

    def __post_init__(self) -> None:
        check_real("x0", self.x0, positive=True)
        check_real("mu", self.mu)
        check_real("sigma", self.sigma, nonnegative=True)

    def _initial_state(self, n_paths: int, like: Times) -> torch.Tensor:
        return like.new_full((n_paths,), math.log(self.x0))  # the state is log x

    def _transform_normals(
        self, z: PathValues, times: Times, dt: Times, state: torch.Tensor
    ) -> None:
        log_drift = (self.mu - 0.5 * self.sigma**2) * dt
        z.mul_(self.sigma * dt.sqrt()).add_(log_drift).cumsum_(dim=1).add_(state.unsqueeze(1))
        state.copy_(z[:, -1])
        z.exp_()

    def _fused_coefficients(
        self, dt: np.ndarray
    ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, float, float]:
        log_drift = (self.mu - 0.5 * self.sigma**2) * dt
        log_x0 = math.log(self.x0)
        return CUMULATIVE_EXP, self.sigma * np.sqrt(dt), log_drift, dt, 0.0, log_x0

    def mean(self, t: Times) -> Times:
        return self.x0 * torch.exp(self.mu * t)

    def raw_moment(self, q: int, t: Times) -> Times:
        """E[X_t^q] = x0^q exp(q mu t + q (q - 1) sigma^2 t / 2), from the lognormal law."""
        return self.x0**q * torch.exp(q * self.mu * t + 0.5 * q * (q - 1) * self.sigma**2 * t)

    def variance(self, t: Times) -> Times:
        return self.x0**2 * torch.exp(2 * self.mu * t) * torch.expm1(self.sigma**2 * t)
