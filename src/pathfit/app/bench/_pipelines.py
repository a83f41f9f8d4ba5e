"""The job every throughput figure times, written four ways.

The job: draw n_times sorted uniform times on (0, horizon], simulate n_paths paths of the
arithmetic Brownian motion x_t = x0 + mu t + sigma W_t at them, and reduce the paths to
s_j = (1/n) sum_i x_ij^2, in float64. Every call does the whole job, times included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pathfit.app.config import RunConfig
from pathfit.design import power_design, streamed_design
from pathfit.processes import ABM, sample_times

_SEED_EXPERIMENT = RunConfig()
HORIZON = _SEED_EXPERIMENT.sampling.horizon
"""The seed experiment's horizon, 10."""
LAM = _SEED_EXPERIMENT.target.lam
"""The seed experiment's lambda, 0.25."""


def seed_process() -> ABM:
    """The seed experiment's process: ABM(x0=0, mu=0.5, sigma=1)."""
    p = _SEED_EXPERIMENT.process
    return ABM(x0=p.x0, mu=p.mu, sigma=p.sigma)


def numpy_design(
    process: ABM, n_paths: int, n_times: int, horizon: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The reference: the job written the plain way in NumPy (only the process's x0, mu and
    sigma are read).

    Returns:
        (times, s): (n_times,) sorted times and (n_times,) s_j = (1/n) sum_i x_ij^2.
    """
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, horizon, n_times))
    dt = np.diff(times, prepend=0.0)
    z = rng.standard_normal((n_paths, n_times))
    x = process.x0 + process.mu * times + process.sigma * np.cumsum(z * np.sqrt(dt), axis=1)
    return times, (x**2).mean(axis=0)


def torch_design(
    process: ABM, n_paths: int, n_times: int, horizon: float, seed: int, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same in plain torch, all paths held at once: (times, s), each (n_times,)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    times = torch.sort(
        horizon * torch.rand(n_times, generator=generator, device=device, dtype=torch.float64)
    ).values
    dt = torch.diff(times, prepend=times.new_zeros(1))
    z = torch.randn((n_paths, n_times), generator=generator, device=device, dtype=torch.float64)
    x = process.x0 + process.mu * times + process.sigma * torch.cumsum(z * dt.sqrt(), dim=1)
    return times, (x * x).mean(dim=0)


def pathfit_streamed(
    process: ABM, n_paths: int, n_times: int, horizon: float, seed: int, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """pathfit as a user calls it: ``sample_times`` then ``streamed_design``, which never holds
    all the paths (one fused kernel on CUDA with Triton). Returns (times, s), each (n_times,)."""
    times = sample_times(n_times, horizon, seed=seed, device=device)
    return times, streamed_design(process, n_paths, times, (2,), seed=seed)[:, 0]


def pathfit_materialized(
    process: ABM, n_paths: int, n_times: int, horizon: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """pathfit with every path held: ``power_design(sample_paths(...).values, (2,))``."""
    times = sample_times(n_times, horizon, seed=seed)
    values = process.sample_paths(n_paths, times, seed=seed).values
    return times, power_design(values, (2,))[:, 0]


def torchsde_available() -> bool:
    try:
        import torchsde  # noqa: F401
    except ImportError:
        return False
    return True


def torchsde_design(
    process: ABM, n_paths: int, n_times: int, horizon: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """torchsde's Euler solver on the same process and times (step horizon / n_times); needs
    torchsde installed."""
    import torchsde

    class _ABM(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.full_like(y, process.mu)

        def g(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.full_like(y, process.sigma)

    generator = torch.Generator().manual_seed(seed)
    times = torch.sort(horizon * torch.rand(n_times, generator=generator, dtype=torch.float64))
    grid = torch.cat([torch.zeros(1, dtype=torch.float64), times.values])
    y0 = torch.full((n_paths, 1), process.x0, dtype=torch.float64)
    torch.manual_seed(seed)  # torchsde's Brownian motion draws from the global stream
    ys = torchsde.sdeint(_ABM(), y0, grid, method="euler", dt=horizon / n_times)
    return times.values, ys[1:, :, 0].square().mean(dim=1)


@dataclass(frozen=True, kw_only=True)
class Agreement:
    """Untimed check, per shape, that the candidates compute what they claim.

    Attributes:
        stream_vs_materialized: max |streamed - materialized| / max |materialized|, same seed:
            rounding only.
        pathfit_ratio: mean over j of pathfit's s_j / E[x_j^2] (exact); near 1 within
            sampling error (about 0.1 for 100 paths).
        numpy_ratio: the same for the NumPy reference.
    """

    stream_vs_materialized: float
    pathfit_ratio: float
    numpy_ratio: float


def check_agreement(process: ABM, n_paths: int, n_times: int, horizon: float) -> Agreement:
    times, streamed = pathfit_streamed(process, n_paths, n_times, horizon, 0)
    _, materialized = pathfit_materialized(process, n_paths, n_times, horizon, 0)
    np_times, np_s = numpy_design(process, n_paths, n_times, horizon, 0)
    np_exact = (process.x0 + process.mu * np_times) ** 2 + process.sigma**2 * np_times
    return Agreement(
        stream_vs_materialized=float(
            (streamed - materialized).abs().max() / materialized.abs().max()
        ),
        pathfit_ratio=float((streamed / process.second_moment(times)).mean()),
        numpy_ratio=float(np.mean(np_s / np_exact)),
    )
