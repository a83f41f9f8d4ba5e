"""lambda(x) as a fit learned it, on a grid of x, with a pointwise band."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pathfit._json import json_safe
from pathfit.estimators._uncertainty import Linearized, Uncertainty
from pathfit.linalg import ScaledSVD
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


SENSITIVITY_NOISE = 1e-3
"""The hypothetical noise of ``lam_x_identification``: k known to 0.1% of its rms."""
IDENTIFIED_WITHIN = 0.03
"""lambda(x) counts as identified where that noise leaves a band within 3% of |lambda|."""


def lam_x_identification(
    model: PointwiseMLP, values: torch.Tensor, jacobian: torch.Tensor, k_hat: torch.Tensor
) -> str:
    """One sentence, with numbers, on how well aggregates of these paths pin lambda(x) down.

    Recovering lambda(x) from k_j = mean_i lambda(x_ij) x_ij^2 is a deconvolution: k sees
    lambda only through averages over the spread of x at each time. The sentence carries a
    hypothetical noise of SENSITIVITY_NOISE x rms(k) through the linearized fit to the band of
    lambda_theta(x) on the central 90% of the observed x (a property of the paths and the
    network, not of the noise in these targets), and says where that band is wider than
    IDENTIFIED_WITHIN of |lambda|: there the aggregates do not determine lambda(x). Weight
    directions that do not move k_hat at all are left out, so this is a lower bound.
    """
    flat = values.reshape(-1)
    lo, hi = (float(q) for q in torch.quantile(flat[:1_000_000], flat.new_tensor([0.05, 0.95])))
    x = torch.linspace(lo, hi, 101, dtype=values.dtype)
    svd = ScaledSVD.of(jacobian)
    rank = int(svd.rank)
    with torch.no_grad():
        lam = model.lam(x).abs().clamp_min(1e-300)
        coordinates = model.lam_jacobian(x) @ (svd.vh[:rank] / svd.norms).T  # (grid, rank)
    sigma = SENSITIVITY_NOISE * float(k_hat.square().mean().sqrt())
    half = 1.96 * sigma * (coordinates / svd.s[:rank]).norm(dim=-1)
    relative = half / lam
    worst = int(relative.argmax())
    share = float((relative > IDENTIFIED_WITHIN).double().mean())
    head = (
        f"lambda(x) from aggregates: with k known to {SENSITIVITY_NOISE:.1%} (iid), the 95% band "
        f"of lambda_theta(x) on the central 90% of the observed x, [{lo:.3g}, {hi:.3g}], would "
        f"be +/-{float(relative.median()):.2%} of |lambda| at the median x and "
        f"+/-{float(relative[worst]):.2%} at worst (x = {float(x[worst]):.3g})"
    )
    if share == 0:
        return head + f": identified there to {IDENTIFIED_WITHIN:.0%}"
    return (
        head + f": on {share:.0%} of that range the aggregates do not pin lambda(x) down to "
        f"{IDENTIFIED_WITHIN:.0%} (a deconvolution: k sees lambda only through averages over "
        "the spread of x at each time)"
    )
