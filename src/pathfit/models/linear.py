"""Models linear in their parameters: constant lambda, polynomial lambda(x), polynomial k."""

from __future__ import annotations

import torch

from pathfit._validation import check_int
from pathfit.models._base import AbstractLinearModel


class ConstantLambda(AbstractLinearModel):
    """k_hat_j = lam * s_j with s_j = (1/n) sum_i x_ij^2; one parameter."""

    def __init__(self) -> None:
        super().__init__(powers=(2,), names=("lam",))

    def lam_estimate(self, inputs: torch.Tensor) -> float | None:
        return float(self.coef.detach()[0])

    def lam_gradient(self, inputs: torch.Tensor) -> torch.Tensor | None:
        return torch.ones_like(self.coef.detach())


class PolynomialLambda(AbstractLinearModel):
    """lambda(x) = sum_d c_d x^d of degree ``degree``: k_hat_j = mean_i lambda(x_ij) x_ij^2."""

    def __init__(self, degree: int) -> None:
        degree = check_int("degree", degree, minimum=0)
        super().__init__(
            powers=tuple(d + 2 for d in range(degree + 1)),
            names=tuple(f"c{d}" for d in range(degree + 1)),
        )
        self.degree = degree

    def repr_args(self) -> dict[str, object]:
        return {"degree": self.degree}

    def lam(self, x: torch.Tensor) -> torch.Tensor:
        """lambda(x) elementwise at the current coefficients."""
        out = torch.zeros_like(x)
        for c in reversed(self.coef.detach().to(x.dtype)):
            out = out * x + c
        return out


class PolynomialK(AbstractLinearModel):
    """k_hat_j = mean_i sum_p c_p x_ij^p, a polynomial of degree ``degree`` in x."""

    def __init__(self, degree: int) -> None:
        degree = check_int("degree", degree, minimum=0)
        super().__init__(
            powers=tuple(range(degree + 1)),
            names=tuple(f"c{p}" for p in range(degree + 1)),
        )
        self.degree = degree

    def repr_args(self) -> dict[str, object]:
        return {"degree": self.degree}
