"""Gradient check: autograd against central finite differences, in float64.

The seed question's first failure was a hand-coded derivative that was wrong. Any model whose
backward pass is written by hand (a custom ``torch.autograd.Function``, say) can be checked
here before its training is trusted.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from pathfit._random import check_seed
from pathfit.estimators import check_data, min_times
from pathfit.models import (
    AbstractModel,
)
from pathfit.paths import Paths
from pathfit.targets import Targets

DEFAULT_RTOL = 1e-5


@dataclass(frozen=True)
class TensorCheck:
    """The check of one parameter tensor."""

    name: str
    n_elements: int
    max_relative_error: float
    worst_index: tuple[int, ...]
    autograd: float
    finite_difference: float
    passed: bool


@dataclass
class GradientCheck:
    """The result of :func:`check_gradients` for one model."""

    model: str
    rtol: float
    tensors: list[TensorCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors)

    @property
    def message(self) -> str:
        failed = [t for t in self.tensors if not t.passed]
        if not failed:
            worst = max((t.max_relative_error for t in self.tensors), default=0.0)
            return (
                f"{self.model}: autograd matches central differences in every parameter tensor "
                f"(largest relative error {worst:.1e} <= {self.rtol:g})"
            )
        t = max(failed, key=lambda t: t.max_relative_error)
        return (
            f"{self.model}: the gradient of {t.name}{list(t.worst_index)} is wrong: autograd "
            f"gives {t.autograd:.6g}, central differences {t.finite_difference:.6g} (relative "
            f"error {t.max_relative_error:.2g} > {self.rtol:g}); check its backward pass"
        )

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "passed": self.passed,
            "message": self.message,
            "tensors": [t.__dict__ | {"worst_index": list(t.worst_index)} for t in self.tensors],
        }


def check_gradients(
    model: AbstractModel,
    paths: Paths,
    targets: Targets | torch.Tensor,
    *,
    rtol: float = DEFAULT_RTOL,
    perturb: float = 0.1,
    seed: int = 0,
    max_times: int = 64,
) -> GradientCheck:
    """Compare the autograd gradient of the MSE loss with central finite differences.

    The check runs in float64 on a copy of the model whose parameters are perturbed (by
    ``perturb`` times a standard normal, relative to their size), so that no gradient is zero
    by symmetry of the initialisation and a wrong backward cannot hide. It uses at most
    ``max_times`` time points, evenly spaced.

    Returns:
        A GradientCheck with, per parameter tensor, the largest relative error
        |g_auto - g_fd| / max(|g_auto|, |g_fd|, floor, noise / rtol), floor = 1e-6 x the
        largest gradient, noise = 4 eps |loss| / h the rounding error of the central
        difference with step h (so a difference within that rounding passes).
    """
    seed = check_seed("seed", seed)
    model = copy.deepcopy(model).to(torch.float64)
    paths64 = Paths(paths.values.to(torch.float64), paths.times.to(torch.float64))
    paths64, k = check_data(paths64, targets, min_times(model))
    model.adapt(paths64)
    inputs = model.prepare(paths64)
    if k.shape[0] > max_times:
        keep = torch.linspace(0, k.shape[0] - 1, max_times).round().long()
        inputs, k = inputs[keep], k[keep]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
            p.add_(perturb * noise * (p.abs() + 0.1))

    def loss() -> torch.Tensor:
        return (model(inputs) - k).square().mean()

    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    value = loss()
    grads = torch.autograd.grad(value, [p for _, p in named], allow_unused=True)
    # a central difference of a loss computed to rounding is itself uncertain by about
    # eps |loss| / h: differences below that say nothing about the backward pass
    rounding = 4 * torch.finfo(torch.float64).eps * abs(float(value.detach()))
    floor = 1e-6 * max((float(g.abs().max()) for g in grads if g is not None), default=1.0)
    report = GradientCheck(model=type(model).__name__, rtol=rtol)
    with torch.no_grad():
        for (name, p), g in zip(named, grads, strict=True):
            auto = torch.zeros_like(p) if g is None else g
            numeric = torch.empty_like(p)
            noise = torch.empty_like(p)
            flat, flat_numeric, flat_noise = p.view(-1), numeric.view(-1), noise.view(-1)
            for i in range(flat.numel()):
                h = 1e-6 * max(1.0, abs(float(flat[i])))
                flat_noise[i] = rounding / h / rtol
                original = float(flat[i])
                flat[i] = original + h
                up = float(loss())
                flat[i] = original - h
                down = float(loss())
                flat[i] = original
                flat_numeric[i] = (up - down) / (2 * h)
            scale = torch.maximum(torch.maximum(auto.abs(), numeric.abs()), torch.tensor(floor))
            scale = torch.maximum(scale, noise)
            error = (auto - numeric).abs() / scale
            worst = int(error.view(-1).argmax())
            index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), p.shape))
            max_error = float(error.view(-1)[worst])
            report.tensors.append(
                TensorCheck(
                    name=name,
                    n_elements=p.numel(),
                    max_relative_error=max_error,
                    worst_index=index,
                    autograd=float(auto.view(-1)[worst]),
                    finite_difference=float(numeric.view(-1)[worst]),
                    passed=math.isfinite(max_error) and max_error <= rtol,
                )
            )
    return report
