"""The abstract lambda models.

A model maps the inputs of a batch of time indices to predictions k_hat_j. Its ``prepare``
turns paths into time-major inputs once per fit (row j belongs to time j), so that training can
index any batch of times cheaply: ``model(inputs[batch])``.
"""

from __future__ import annotations

import abc

import torch
from torch import nn

from pathfit.design import StreamedPaths, power_design
from pathfit.paths import Paths


class AbstractModel(nn.Module, abc.ABC):
    """A model of the aggregate targets, trained by pathfit's estimators."""

    def repr_args(self) -> dict[str, object]:
        """The constructor arguments that make this model, for its repr."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.repr_args().items())
        return f"{type(self).__name__}({args})"

    def adapt(self, paths: Paths) -> None:
        """Fit whatever the model takes from its training data besides its parameters (input
        scaling, say). Estimators call it once per fit, before ``prepare``; a no-op here."""

    @abc.abstractmethod
    def prepare(self, paths: Paths) -> torch.Tensor:
        """Time-major inputs: a tensor whose row j holds what the model needs for time j.
        Pure: it never changes the model, so it serves training and prediction alike."""

    @abc.abstractmethod
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch,) predictions k_hat for (batch, ...) rows of ``prepare``'s output."""

    @abc.abstractmethod
    def lam_estimate(self, inputs: torch.Tensor) -> float | None:
        """The model's single-number lambda estimate over all inputs, or None if it has none."""

    def predict_with_lam(self, inputs: torch.Tensor) -> tuple[torch.Tensor, float | None]:
        """(k_hat, lambda estimate) at the current parameters without gradients: one pass
        where the model can share it."""
        with torch.no_grad():
            return self(inputs), self.lam_estimate(inputs)

    @abc.abstractmethod
    def jacobian(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, n_params) derivatives of ``forward(inputs)`` in the trainable parameters,
        flattened in the order of ``parameters()``."""

    def path_terms(self, inputs: torch.Tensor) -> torch.Tensor | None:
        """(n_paths, batch) each path's term of k_hat, where k_hat_j is their mean over the
        paths (what a path-clustered covariance needs); None for a model that reads all paths
        at once."""
        return None

    def predict_and_jacobian(
        self, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, float | None, torch.Tensor]:
        """(k_hat, lambda estimate, Jacobian): ``predict_with_lam`` and ``jacobian`` at once,
        from one forward pass where the model can share it."""
        k_hat, lam = self.predict_with_lam(inputs)
        return k_hat, lam, self.jacobian(inputs).detach()

    def lam_gradient(self, inputs: torch.Tensor) -> torch.Tensor | None:
        """(n_params,) derivative of ``lam_estimate(inputs)`` in the parameters, or None if the
        model has no single-number lambda."""
        return None

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class AbstractLinearModel(AbstractModel):
    """k_hat_j = sum_b coef_b Phi_jb with the monomial design Phi_jb = mean_i x_ij^q_b.

    Its inputs are the design rows, so closed-form least squares and the exact curvature
    2 Phi^T Phi / m apply to it.
    """

    def __init__(self, powers: tuple[int, ...], names: tuple[str, ...]) -> None:
        super().__init__()
        self.powers = powers
        self.names = names
        self.coef = nn.Parameter(torch.zeros(len(powers), dtype=torch.float64))

    def prepare(self, paths: Paths | StreamedPaths) -> torch.Tensor:  # type: ignore[override]
        if isinstance(paths, StreamedPaths):
            return paths.design(self.powers)
        return power_design(paths.values, self.powers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs @ self.coef

    def jacobian(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def lam_estimate(self, inputs: torch.Tensor) -> float | None:
        return None
