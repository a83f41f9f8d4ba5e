"""Curvature of the MSE loss: exact for linear models, by power iteration for networks."""

from __future__ import annotations

from collections.abc import Callable

import torch

from pathfit._threads import svdvals
from pathfit._types import Design


def linear_curvature(design: Design, per_sample: bool) -> tuple[float, str]:
    """Largest Hessian eigenvalue of the MSE of a linear model, and how it was found.

    Full batch: the Hessian of (1/m) |Phi c - k|^2 is 2 Phi^T Phi / m. One sample j (or a
    minibatch, whose Hessian is an average of these): at most 2 max_j |Phi_j|^2.
    """
    if per_sample:
        value = 2 * float(design.square().sum(dim=1).max())
        return value, "exact per-sample curvature 2 max_j |Phi_j|^2"
    sigma_max = float(svdvals(design)[0])  # one thread: the step must not depend on threads
    return 2 * sigma_max * sigma_max / design.shape[0], "exact full-batch curvature 2 |Phi|_2^2 / m"


def power_iteration_curvature(
    loss_fn: Callable[[], torch.Tensor],
    params: list[torch.Tensor],
    *,
    n_iter: int = 50,
    rtol: float = 1e-4,
    seed: int = 0,
) -> tuple[float, str]:
    """Largest |eigenvalue| of the Hessian of ``loss_fn`` at the current parameters, by power
    iteration on Hessian-vector products (double backward)."""
    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    generator = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in params]
    estimate = 0.0
    for _ in range(n_iter):
        norm = torch.sqrt(sum((x * x).sum() for x in v))
        v = [x / norm for x in v]
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        new = float(torch.sqrt(sum((x * x).sum() for x in hv)))
        converged = abs(new - estimate) <= rtol * max(new, 1e-300)
        estimate, v = new, [x.detach() for x in hv]
        if converged or new == 0.0:
            break
    return estimate, "power iteration on Hessian-vector products at the initial parameters"
