"""The prior over datasets an amortized estimator is trained on, and the simulator that draws
from it with pathfit's own batched simulation."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from pathfit.design import simulate_designs
from pathfit.exceptions import InputError
from pathfit.processes import ABM, GBM, OU, AbstractProcess

Range = tuple[float, float]

# datasets of one simulate_designs call: the same process and size, their own seeds
GROUP = 16


@dataclass(frozen=True)
class Prior:
    """Where the datasets come from: the process and its parameters, the horizon, the number
    of paths and of times, the coefficients of lambda(x) and the noise on k.

    Ranges are drawn uniformly, or log-uniformly for the positive scales (sigma, theta, the
    sizes, the noise level). The coefficients of lambda(x) = sum_d c_d x^d (``degree`` 0: one
    constant lambda) are independent Gaussians, so that the exact posterior is known for iid
    noise. ``noise_level`` is the noise standard deviation relative to the rms of k at the
    mean coefficients (independent of the coefficients drawn).

    Attributes:
        processes: process kinds drawn uniformly ("abm", "gbm", "ou").
        x0, mu, sigma, theta: parameter ranges (x0 for GBM is ``gbm_x0``).
        horizon: range of the horizon T (times uniform on (0, T]).
        n_paths, n_times: ranges of the sizes (log-uniform integers).
        degree: degree of lambda(x).
        coef_mean, coef_sd: the Gaussian prior of each coefficient (one per degree).
        noise: noise kinds drawn uniformly; "iid" (independent Gaussian on each k_j) is the
            one implemented.
        noise_level: range of the iid noise standard deviation relative to the rms of k at
            the prior's mean coefficients.
    """

    processes: tuple[str, ...] = ("abm", "ou", "gbm")
    x0: Range = (-1.0, 1.0)
    gbm_x0: Range = (0.5, 2.0)
    mu: Range = (-1.0, 1.0)
    sigma: Range = (0.3, 2.0)
    theta: Range = (0.2, 2.0)
    horizon: Range = (1.0, 10.0)
    n_paths: tuple[int, int] = (20, 200)
    n_times: tuple[int, int] = (100, 2000)
    degree: int = 0
    coef_mean: tuple[float, ...] = (0.25,)
    coef_sd: tuple[float, ...] = (0.1,)
    noise: tuple[str, ...] = ("iid",)
    noise_level: Range = (1e-3, 1e-1)

    def __post_init__(self) -> None:
        for name in ("processes", "noise"):
            allowed = ("abm", "gbm", "ou") if name == "processes" else ("iid",)
            kinds = getattr(self, name)
            if not kinds or any(k not in allowed for k in kinds):
                raise InputError(f"prior.{name}", repr(kinds), f"a non-empty subset of {allowed}")
        for name in ("x0", "gbm_x0", "mu", "sigma", "theta", "horizon", "noise_level"):
            lo, hi = getattr(self, name)
            positive = name in ("gbm_x0", "sigma", "theta", "horizon", "noise_level")
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi) or (positive and lo <= 0):
                raise InputError(
                    f"prior.{name}",
                    repr((lo, hi)),
                    "a finite range lo <= hi" + (" with lo > 0" if positive else ""),
                )
        for name, least in (("n_paths", 2), ("n_times", 2)):
            lo, hi = getattr(self, name)
            if not (isinstance(lo, int) and isinstance(hi, int) and least <= lo <= hi):
                raise InputError(f"prior.{name}", repr((lo, hi)), f"integers {least} <= lo <= hi")
        if not isinstance(self.degree, int) or not 0 <= self.degree <= 3:
            raise InputError("prior.degree", repr(self.degree), "an integer from 0 to 3")
        for name in ("coef_mean", "coef_sd"):
            values = getattr(self, name)
            if len(values) != self.degree + 1 or not all(math.isfinite(v) for v in values):
                raise InputError(
                    f"prior.{name}",
                    repr(values),
                    f"{self.degree + 1} finite values, one per degree",
                )
        if any(sd <= 0 for sd in self.coef_sd):
            raise InputError("prior.coef_sd", repr(self.coef_sd), "standard deviations > 0")

    @property
    def n_params(self) -> int:
        return self.degree + 1

    @property
    def powers(self) -> tuple[int, ...]:
        """The design powers of lambda(x) x^2: (2, ..., degree + 2)."""
        return tuple(range(2, self.degree + 3))

    @property
    def summary_powers(self) -> tuple[int, ...]:
        """Every power the embedding reads: 1 up to twice the highest power of the design (the
        spread of the per-path terms)."""
        return tuple(range(1, 2 * self.powers[-1] + 1))

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prior:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError("prior", f"keys {unknown}", f"keys among {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @classmethod
    def quick(cls) -> Prior:
        """A small prior for a quick run: ABM only, constant lambda, iid noise."""
        return cls(processes=("abm",), n_paths=(20, 200), n_times=(100, 1000))


@dataclass(frozen=True)
class Simulated:
    """A batch of datasets of one size: times (B, m), path power sums' means (B, m, Q) over
    ``summary_powers``, targets (B, m), true coefficients (B, p), noise std (B,), n_paths.
    """

    times: torch.Tensor
    moments: torch.Tensor
    targets: torch.Tensor
    coef: torch.Tensor
    noise_std: torch.Tensor
    n_paths: int


def _uniform(g: torch.Generator, lo: float, hi: float, log: bool = False) -> float:
    u = float(torch.rand((), generator=g, dtype=torch.float64))
    if log:
        return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    return lo + u * (hi - lo)


def _size(g: torch.Generator, lo: int, hi: int) -> int:
    return min(hi, max(lo, round(_uniform(g, lo, hi + 0.999, log=True) - 0.4999)))


def draw_process(prior: Prior, g: torch.Generator) -> AbstractProcess:
    kind = prior.processes[int(torch.randint(len(prior.processes), (), generator=g))]
    mu = _uniform(g, *prior.mu)
    sigma = _uniform(g, *prior.sigma, log=True)
    if kind == "abm":
        return ABM(x0=_uniform(g, *prior.x0), mu=mu, sigma=sigma)
    if kind == "gbm":
        # a GBM's drift and volatility are rates: keep x within a few orders of magnitude
        return GBM(x0=_uniform(g, *prior.gbm_x0), mu=0.2 * mu, sigma=0.25 * sigma)
    return OU(
        x0=_uniform(g, *prior.x0), theta=_uniform(g, *prior.theta, log=True), mu=mu, sigma=sigma
    )


def simulate_batch(
    prior: Prior,
    n_datasets: int,
    generator: torch.Generator,
    *,
    n_paths: int | None = None,
    n_times: int | None = None,
) -> Simulated:
    """``n_datasets`` datasets of one size (drawn from the prior unless given), in groups of
    GROUP sharing a process, each with its own seed, coefficients and noise."""
    g = generator
    n = n_paths if n_paths is not None else _size(g, *prior.n_paths)
    m = n_times if n_times is not None else _size(g, *prior.n_times)
    times, moments = [], []
    for start in range(0, n_datasets, GROUP):
        size = min(GROUP, n_datasets - start)
        process = draw_process(prior, g)
        horizon = _uniform(g, *prior.horizon)
        seeds = [int(s) for s in torch.randint(0, 2**62, (size,), generator=g)]
        t, d = simulate_designs(
            process,
            n_paths=n,
            n_times=m,
            horizon=horizon,
            seeds=seeds,
            powers=prior.summary_powers,
        )
        times.append(t)
        moments.append(d)
    times_t, moments_t = torch.cat(times), torch.cat(moments)
    mean = torch.tensor(prior.coef_mean, dtype=torch.float64)
    sd = torch.tensor(prior.coef_sd, dtype=torch.float64)
    coef = mean + sd * torch.randn((n_datasets, prior.n_params), generator=g, dtype=torch.float64)
    design = moments_t[..., [q - 1 for q in prior.powers]]
    clean = (design @ coef.unsqueeze(-1)).squeeze(-1)
    # the noise level is relative to k at the prior's mean coefficients, not at the drawn
    # ones: the noise then says nothing about the coefficients, and the posterior with the
    # noise known is exactly the conjugate Gaussian one
    typical = (design @ mean).square().mean(dim=1).sqrt()
    level = torch.tensor(
        [_uniform(g, *prior.noise_level, log=True) for _ in range(n_datasets)], dtype=torch.float64
    )
    noise_std = level * typical
    eps = torch.randn(clean.shape, generator=g, dtype=torch.float64)
    targets = clean + noise_std.unsqueeze(1) * eps
    return Simulated(times_t, moments_t, targets, coef, noise_std, n)
