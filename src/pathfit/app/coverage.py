"""The coverage harness: do the intervals cover the truth as often as they claim?

Simulates R independent datasets of a configured experiment, fits each with the selected
methods and counts how often each interval holds the true coefficients. Two kinds of noise:

- ``iid``: k built from the simulated paths plus independent Gaussian noise on each k_j with
  standard deviation 1% of the mean |k|;
- ``population``: k is the exact expectation of the process (lambda E[x(t)^2] for a constant
  lambda) and only the design comes from the n simulated paths.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import stats

from pathfit._json import json_safe
from pathfit.app.build import build_process, build_spec, linear_model, make_estimator
from pathfit.app.config import RunConfig
from pathfit.choices import NOISE_KINDS, NoiseKind
from pathfit.estimators import FitResult, LeastSquares
from pathfit.exceptions import ConvergenceWarning, InputError
from pathfit.processes import simulate
from pathfit.processes.tiling import available_cores, torch_threads
from pathfit.targets import AbstractLinearSpec, make_targets, population_targets

COVERAGE_METHODS = ("least_squares", "gradient", "least_squares_classical")
IID_NOISE_FRACTION = 0.01


@dataclass
class CoverageRow:
    """How one method's intervals fared over the replicates."""

    name: str
    interval: str
    intervals_used: dict[str, int]
    coverage: float
    coverage_ci95: tuple[float, float]
    mean_abs_error: float
    mean_ci_width: float
    seconds_per_fit: float
    n_fits: int
    n_without_interval: int = 0
    coverage_by_param: dict[str, float] = field(default_factory=dict)


@dataclass
class CoverageReport:
    replicates: int
    level: float
    noise: NoiseKind
    true: dict[str, Any]
    methods: list[CoverageRow]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "replicates": self.replicates,
                "level": self.level,
                "noise": self.noise,
                "true": self.true,
                "seconds": self.seconds,
                "methods": [row.__dict__ for row in self.methods],
            }
        )


def clopper_pearson(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for a proportion."""
    alpha = 1 - level
    lo = 0.0 if hits == 0 else float(stats.beta.ppf(alpha / 2, hits, n - hits + 1))
    hi = 1.0 if hits == n else float(stats.beta.ppf(1 - alpha / 2, hits + 1, n - hits))
    return lo, hi


def run_coverage(
    config: RunConfig,
    *,
    replicates: int = 1000,
    noise: NoiseKind = "iid",
    methods: tuple[str, ...] = COVERAGE_METHODS,
    on_replicate: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> CoverageReport:
    """Fit ``replicates`` independent datasets of ``config`` and count interval coverage.

    Replicate r is simulated from its own seed, derived from ``config.seed`` and r; the
    replicates run on ``workers`` threads (default: one per core).
    """
    if noise not in NOISE_KINDS:
        raise InputError("--noise", repr(noise), " or ".join(NOISE_KINDS))
    for name in methods:
        if name not in COVERAGE_METHODS:
            raise InputError("methods", repr(name), "one of " + ", ".join(COVERAGE_METHODS))
    if replicates < 1:
        raise InputError("--replicates", replicates, "at least 1 replicate")
    spec = build_spec(config)
    process = build_process(config)
    truth = spec.params
    level = config.methods.level
    seeds = np.random.SeedSequence(config.seed).generate_state(replicates, np.uint32)
    records: dict[str, list[tuple[FitResult, float]]] = {name: [] for name in methods}

    def replicate(seed: int) -> list[tuple[FitResult, float]]:
        """Simulate one dataset and fit it with every method; returns (result, seconds)."""
        paths = simulate(
            process,
            n_paths=config.sampling.n_paths,
            n_times=config.sampling.n_times,
            horizon=config.sampling.horizon,
            seed=seed,
            dtype=config.dtype,
            device=config.device,
        )
        if noise == "population":
            targets: Any = population_targets(process, spec, paths.times)
        else:
            exact = make_targets(paths, spec)
            std = IID_NOISE_FRACTION * float(exact.values.abs().mean())
            targets = make_targets(paths, spec, noise_std=std, seed=seed)
        fits = []
        for name in methods:
            estimator = (
                LeastSquares(linear_model(config), level=level, interval="classical", seed=seed)
                if name == "least_squares_classical"
                else make_estimator(name, config.model_copy(update={"seed": seed}), paths.n_paths)
            )
            fit_start = time.perf_counter()
            estimator.fit(paths, targets)
            fits.append((estimator.result_, time.perf_counter() - fit_start))
        return fits

    start = time.perf_counter()
    # Replicates are independent: spread them over the cores, each on one torch thread (or the
    # config's threads), and collect them in order so that the report does not depend on the
    # threads.
    with (
        warnings.catch_warnings(),
        torch_threads(config.threads or 1),
        ThreadPoolExecutor(workers or available_cores()) as pool,
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for r, fits in enumerate(pool.map(replicate, [int(s) for s in seeds.tolist()])):
            if on_replicate is not None:
                on_replicate(r)
            for name, record in zip(methods, fits, strict=True):
                records[name].append(record)
    rows = [_row(name, records[name], truth, spec) for name in methods]
    true = {"lam": spec.coef[0]} if config.target.kind == "constant" else {"coef": list(spec.coef)}
    return CoverageReport(replicates, level, noise, true, rows, time.perf_counter() - start)


def _row(
    name: str,
    records: list[tuple[FitResult, float]],
    truth: torch.Tensor,
    spec: AbstractLinearSpec,
) -> CoverageRow:
    names = records[0][0].param_names or tuple(f"c{b}" for b in range(truth.numel()))
    hits = np.zeros(truth.numel())
    counted = 0
    errors, widths = [], []
    used: Counter[str] = Counter()
    for result, _ in records:
        used[result.interval or "none"] += 1
        if result.params is not None:
            errors.append(float(np.max(np.abs(np.array(result.params) - truth.numpy()))))
        if result.ci is None:
            continue
        counted += 1
        for b, (lo, hi) in enumerate(result.ci):
            hits[b] += lo <= float(truth[b]) <= hi
        widths.append(float(np.mean([hi - lo for lo, hi in result.ci])))
    total = int(hits.sum())
    n = counted * truth.numel()
    return CoverageRow(
        name=name,
        interval=used.most_common(1)[0][0],
        intervals_used=dict(used),
        coverage=total / n if n else float("nan"),
        coverage_ci95=clopper_pearson(total, n) if n else (float("nan"), float("nan")),
        mean_abs_error=float(np.mean(errors)) if errors else float("nan"),
        mean_ci_width=float(np.mean(widths)) if widths else float("nan"),
        seconds_per_fit=float(np.mean([s for _, s in records])),
        n_fits=len(records),
        n_without_interval=len(records) - counted,
        coverage_by_param={
            param: float(hits[b] / counted) if counted else float("nan")
            for b, param in enumerate(names)
        },
    )
