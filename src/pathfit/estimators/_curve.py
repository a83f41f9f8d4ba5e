"""lambda(x) as a fit learned it, on a grid of x, with a pointwise band."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pathfit._json import json_safe
from pathfit.estimators._uncertainty import Linearized, Uncertainty
from pathfit.models import AbstractModel, PointwiseMLP, PolynomialLambda


@dataclass(frozen=True)
class LamCurve:
    """A learned lambda(x) on a grid, with its pointwise ``level`` band where there is one.

    Attributes:
        x: (n,) the grid.
        lam: (n,) lambda_hat(x).
        stderr: (n,) standard errors of lambda_hat(x), or None (``note`` says why).
        lower, upper: (n,) the band lam -/+ quantile * stderr, or None.
        level: the band's confidence level.
        interval: how the covariance was obtained (as for the estimates), or None.
        note: why there is no band ("" where there is one).
    """

    x: torch.Tensor
    lam: torch.Tensor
    stderr: torch.Tensor | None
    lower: torch.Tensor | None
    upper: torch.Tensor | None
    level: float
    interval: str | None
    note: str = ""

    def summary(self) -> dict[str, Any]:
        """A JSON-safe dict: lists of floats, null where there is no band."""

        def listed(values: torch.Tensor | None) -> list[float] | None:
            return None if values is None else [float(v) for v in values.detach().cpu()]

        return json_safe(
            {
                "x": listed(self.x),
                "lam": listed(self.lam),
                "stderr": listed(self.stderr),
                "lower": listed(self.lower),
                "upper": listed(self.upper),
                "level": self.level,
                "interval": self.interval,
                "note": self.note,
            }
        )


def lam_curve(
    model: AbstractModel,
    x: torch.Tensor,
    *,
    level: float,
    uncertainty: Uncertainty | None = None,
    linearized: Linearized | None = None,
) -> LamCurve | None:
    """The curve of a fitted model that learns a lambda(x): a polynomial lambda(x), whose band
    comes from the coefficients' covariance (``uncertainty``), or a pointwise MLP, whose band
    comes from its linearization (``linearized``). None for any other model."""
    x = x.to(dtype=next(model.parameters()).dtype).reshape(-1)
    with torch.no_grad():
        if isinstance(model, PolynomialLambda):
            lam = model.lam(x)
            gradients = torch.stack([x**d for d in range(model.degree + 1)], dim=-1)
            found = uncertainty
            stderr = None
            if found is not None and found.cov is not None:
                cov = found.cov.to(x.dtype)
                stderr = ((gradients @ cov) * gradients).sum(dim=-1).clamp_min(0).sqrt()
        elif isinstance(model, PointwiseMLP):
            lam = model.lam(x)
            found = None if linearized is None else linearized.uncertainty
            stderr = None if linearized is None else linearized.stderr(model.lam_jacobian(x))
        else:
            return None
    if found is None or stderr is None:
        note = "no covariance" if found is None else found.note
        return LamCurve(
            x, lam, None, None, None, level, None if found is None else found.method, note
        )
    half = found.quantile * stderr
    return LamCurve(x, lam, stderr, lam - half, lam + half, level, found.method)
