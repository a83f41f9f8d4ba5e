"""The coverage harness: do the intervals cover the truth as often as they claim?

Simulates R independent datasets of a configured experiment, fits each with the selected
methods and counts how often each interval holds the true coefficients. The kinds of noise:

- ``iid``: k built from the simulated paths plus independent Gaussian noise on each k_j. Its
  standard deviation is the config's ``target.noise_std`` when that is > 0. When it is 0 (the
  default: noise-free targets, whose intervals are degenerate) it is 1% of each replicate's
  mean |k_j|, and the report says so (``noise_std_source = "fallback"``);
- ``ar1``: the same, the noise a stationary AR(1) along the sorted times with coefficient
  ``phi`` (default 0.6) and that standard deviation at each time;
- ``heteroscedastic``: independent noise whose sd is proportional to |k_j|, that standard
  deviation on average;
- ``population``: k is the exact expectation of the process (lambda E[x(t)^2] for a constant
  lambda) and only the design comes from the n simulated paths; ``target.noise_std`` is not
  added (``noise_std_source = "none"``).

The methods are those of ``methods.run``, each with its configured section (interval choice
included); with ``methods.run`` unset, least_squares and gradient (the networks take a second
or so per fit: name them in ``methods.run`` to test them). A linear model's intervals are
checked on its coefficients; a network's (seed_network, pointwise_mlp: linearized intervals)
on its one lambda, against the true lambda, or for a lambda(x) against its x^2-weighted mean
over the replicate's observed x, which is what one lambda estimates. The classical
least-squares interval (``least_squares_classical``) is always added as a reference column.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from scipy import special

from pathfit._json import json_safe
from pathfit.app.build import (
    build_process,
    build_spec,
    linear_model,
    make_estimator,
    selected_methods,
)
from pathfit.app.config import RunConfig
from pathfit.app.experiment import now
from pathfit.app.outcome import manifest, mean_lam_observed
from pathfit.choices import NOISE_KINDS, NoiseKind
from pathfit.estimators import FitResult, LeastSquares
from pathfit.exceptions import ConvergenceWarning, InputError
from pathfit.processes import simulate
from pathfit.processes.tiling import available_cores, torch_threads
from pathfit.targets import (
    ConstantLam,
    make_targets,
    population_targets,
)

SCHEMA_VERSION = 2
"""The version of coverage.json's layout."""

DEFAULT_METHODS = ("least_squares", "gradient")
"""What is tested when ``methods.run`` is unset."""
REFERENCE = "least_squares_classical"
"""Least squares with the classical interval: always added, as a reference column."""
IID_NOISE_FRACTION = 0.01
"""Noise sd as a fraction of the replicate's mean |k_j| when ``target.noise_std`` is 0."""
DEFAULT_PHI = 0.6
"""The AR(1) coefficient of ``ar1`` noise when none is given."""

NoiseStdSource = Literal["target.noise_std", "fallback", "none"]


@dataclass(frozen=True)
class Record:
    """One method's fit of one replicate: its result, seconds, the true one lambda (networks)
    and the replicate's seed."""

    result: FitResult
    seconds: float
    one_lam: float | None
    seed: int


@dataclass
class CoverageRow:
    """How one method's intervals fared over the replicates.

    Attributes:
        coverage, coverage_ci95: the share of intervals (over replicates and parameters) that
            held the truth, and its exact binomial 95% interval.
        mean_ci_width: the intervals' mean width; ``exact_width`` the width 2 z sd that the
            estimates' true spread calls for (z the level's normal quantile, sd that of the
            errors over the replicates, per parameter and averaged), and ``width_ratio`` the
            first over the second: below 1 the intervals claim more than the data hold.
        bias, error_sd: mean and sd of the estimate minus the truth, per parameter.
        fits: per replicate, its seed, estimates, intervals, interval method and whether
            each interval held the truth.
    """

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
    exact_width: float = math.nan
    width_ratio: float = math.nan
    bias: dict[str, float] = field(default_factory=dict)
    error_sd: dict[str, float] = field(default_factory=dict)
    fits: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CoverageReport:
    """What the harness measured and how: the rows, the noise level used and why, the methods
    skipped and why, and what made the result (config, seed, times).

    Attributes:
        noise_std: sd of the iid noise added to each k_j: ``target.noise_std``, or under the
            fallback the mean over replicates of 1% of each replicate's mean |k_j|; None under
            population noise.
        noise_std_source: "target.noise_std", "fallback" (target.noise_std = 0) or "none".
        noise_std_note: one sentence saying which noise level was used and why.
        skipped: selected methods that were not tested, with the reason.
    """

    replicates: int
    level: float
    noise: NoiseKind
    phi: float | None
    true: dict[str, Any]
    methods: list[CoverageRow]
    seconds: float
    config: RunConfig
    noise_std: float | None
    noise_std_source: NoiseStdSource
    noise_std_note: str
    skipped: dict[str, str]
    started: str
    finished: str

    @property
    def seed(self) -> int:
        return self.config.seed

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "schema_version": SCHEMA_VERSION,
                "replicates": self.replicates,
                "level": self.level,
                "noise": self.noise,
                "phi": self.phi,
                "noise_std": self.noise_std,
                "noise_std_source": self.noise_std_source,
                "noise_std_note": self.noise_std_note,
                "seed": self.seed,
                "true": self.true,
                "seconds": self.seconds,
                "methods": [row.__dict__ for row in self.methods],
                "skipped": [{"name": k, "reason": v} for k, v in self.skipped.items()],
                "config": self.config.model_dump(),
                "manifest": manifest(self.config, started=self.started, finished=self.finished),
            }
        )


def coverage_methods(config: RunConfig) -> tuple[tuple[str, ...], dict[str, str]]:
    """The methods to test, the reference column last, and the selected ones skipped (with the
    reason: none today, every method reports an interval)."""
    if config.methods.run is None:
        return (*DEFAULT_METHODS, REFERENCE), {}
    return (*selected_methods(config), REFERENCE), {}


def clopper_pearson(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for a proportion."""
    alpha = 1 - level
    lo = 0.0 if hits == 0 else float(special.betaincinv(hits, n - hits + 1, alpha / 2))
    hi = 1.0 if hits == n else float(special.betaincinv(hits + 1, n - hits, 1 - alpha / 2))
    return lo, hi


def run_coverage(
    config: RunConfig,
    *,
    replicates: int = 1000,
    noise: NoiseKind = "iid",
    phi: float | None = None,
    on_replicate: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> CoverageReport:
    """Fit ``replicates`` independent datasets of ``config`` and count interval coverage.

    Replicate r is simulated from its own seed, derived from ``config.seed`` and r; the
    replicates run on ``workers`` threads (default: one per core). The methods and the noise
    level follow the config (see the module docstring); ``phi`` is the AR(1) coefficient of
    ``ar1`` noise (default 0.6) and is refused with any other noise.
    """
    if noise not in NOISE_KINDS:
        raise InputError("--noise", repr(noise), " or ".join(NOISE_KINDS))
    if replicates < 1:
        raise InputError("--replicates", replicates, "at least 1 replicate")
    if noise != "ar1" and phi is not None:
        raise InputError("--phi", phi, f"no --phi with --noise {noise} (it is for --noise ar1)")
    if noise == "ar1":
        phi = DEFAULT_PHI if phi is None else phi
        if not (isinstance(phi, int | float) and -1 < phi < 1):
            raise InputError("--phi", phi, "an AR(1) coefficient in (-1, 1)")
    started = now()
    methods, skipped = coverage_methods(config)
    configured_std = config.target.noise_std
    spec = build_spec(config)
    truth = spec.params
    level = config.methods.level
    seeds = np.random.SeedSequence(config.seed).generate_state(replicates, np.uint32)
    records: dict[str, list[Record]] = {name: [] for name in methods}
    stds: list[float] = []

    def replicate(seed: int) -> tuple[float, list[Record]]:
        return fit_replicate(config, methods, seed, noise=noise, phi=phi)

    start = time.perf_counter()
    # Replicates are independent: spread them over the cores, each on one torch thread (or the
    # config's threads, with as many fewer replicates at a time), and collect them in order so
    # that the report does not depend on the threads.
    threads = config.threads or 1
    with (
        warnings.catch_warnings(),
        torch_threads(threads),
        ThreadPoolExecutor(workers or max(1, available_cores() // threads)) as pool,
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for r, (std, fits) in enumerate(pool.map(replicate, [int(s) for s in seeds.tolist()])):
            if on_replicate is not None:
                on_replicate(r)
            stds.append(std)
            for name, record in zip(methods, fits, strict=True):
                records[name].append(record)
    rows = [_row(name, records[name], truth, level) for name in methods]
    true = {"lam": spec.coef[0]} if config.target.kind == "constant" else {"coef": list(spec.coef)}
    noise_std, source, note = _noise_level(noise, configured_std, stds)
    return CoverageReport(
        replicates=replicates,
        level=level,
        noise=noise,
        phi=phi,
        true=true,
        methods=rows,
        seconds=time.perf_counter() - start,
        config=config,
        noise_std=noise_std,
        noise_std_source=source,
        noise_std_note=note,
        skipped=skipped,
        started=started,
        finished=now(),
    )


def fit_replicate(
    config: RunConfig,
    methods: Sequence[str],
    seed: int,
    *,
    noise: NoiseKind = "iid",
    phi: float | None = None,
    fallback: bool = True,
) -> tuple[float, list[Record]]:
    """Simulate one dataset of ``config`` from ``seed`` and fit it with each of ``methods``
    (``least_squares_classical``: least squares with the classical interval); returns the
    observation noise's sd (0 under population noise) and one record per method. With
    ``fallback``, ``target.noise_std = 0`` means noise of 1% of the mean |k_j| (the harness's
    rule); without, noise-free targets."""
    spec = build_spec(config)
    process = build_process(config)
    paths = simulate(
        process,
        n_paths=config.sampling.n_paths,
        n_times=config.sampling.n_times,
        horizon=config.sampling.horizon,
        seed=seed,
        dtype=config.dtype,
        device=config.device,
        rng=config.sampling.rng,
    )
    std = 0.0
    if noise == "population":
        targets: Any = population_targets(process, spec, paths.times)
    else:
        std = config.target.noise_std
        if std == 0 and fallback:
            std = IID_NOISE_FRACTION * float(make_targets(paths, spec).values.abs().mean())
        targets = make_targets(paths, spec, noise_std=std, noise=noise, phi=phi or 0.0, seed=seed)
    one_lam = float(spec.coef[0]) if isinstance(spec, ConstantLam) else None
    one_lam = mean_lam_observed(spec, paths) if one_lam is None else one_lam
    fits = []
    for name in methods:
        estimator = (
            LeastSquares(
                linear_model(config), level=config.methods.level, interval="classical", seed=seed
            )
            if name == REFERENCE
            else make_estimator(name, config.model_copy(update={"seed": seed}), paths.n_paths)
        )
        fit_start = time.perf_counter()
        estimator.fit(paths, targets)
        fits.append(Record(estimator.result_, time.perf_counter() - fit_start, one_lam, seed))
    return std, fits


def _noise_level(
    noise: NoiseKind, configured: float, stds: list[float]
) -> tuple[float | None, NoiseStdSource, str]:
    """The noise level used, where it came from and one sentence saying why."""
    if noise == "population":
        return None, "none", "population noise: k is the exact expectation, no noise is added"
    kind = {
        "iid": "iid noise",
        "ar1": "AR(1) noise along the sorted times",
        "heteroscedastic": "independent noise with sd proportional to |k_j|",
    }[noise]
    sd = "mean sd" if noise == "heteroscedastic" else "sd"
    if configured > 0:
        return configured, "target.noise_std", f"{kind} of {sd} target.noise_std on each k_j"
    return (
        float(np.mean(stds)),
        "fallback",
        f"target.noise_std = 0 (noise-free targets give degenerate intervals): {kind} of {sd} "
        f"{IID_NOISE_FRACTION:.0%} of each replicate's mean |k_j|; noise_std is their mean",
    )


def _row(name: str, records: list[Record], truth: torch.Tensor, level: float) -> CoverageRow:
    """Coverage of the coefficients (linear models) or of the one lambda (networks), with the
    errors' spread and each replicate's record."""
    first = records[0].result
    one_lam = first.params is None
    if one_lam:
        names: tuple[str, ...] = ("lam",)
    else:
        names = first.param_names or tuple(f"c{b}" for b in range(truth.numel()))
    hits = np.zeros(len(names))
    counted = 0
    errors, widths, fits = [], [], []
    used: Counter[str] = Counter()
    for record in records:
        result = record.result
        used[result.interval or "none"] += 1
        if one_lam:
            true = np.array([np.nan if record.one_lam is None else record.one_lam])
            estimate = None if result.lam is None else [result.lam]
            intervals = None if result.lam_ci is None else [result.lam_ci]
        else:
            true, estimate, intervals = truth.numpy(), result.params, result.ci
        if estimate is not None:
            errors.append(np.array(estimate, dtype=float) - true)
        held = None
        if intervals is not None:
            counted += 1
            held = [bool(lo <= float(true[b]) <= hi) for b, (lo, hi) in enumerate(intervals)]
            hits += held
            widths.append(float(np.mean([hi - lo for lo, hi in intervals])))
        fits.append(
            {
                "seed": record.seed,
                "estimate": estimate,
                "ci": intervals,
                "interval": result.interval,
                "covered": held,
                "bias": result.bias,
                "bias_corrected": result.bias_corrected,
            }
        )
    total = int(hits.sum())
    n = counted * len(names)
    error = np.array(errors).reshape(-1, len(names)) if errors else np.full((0, len(names)), np.nan)
    sd = error.std(axis=0, ddof=1) if error.shape[0] > 1 else np.full(len(names), np.nan)
    exact = float(2 * special.ndtri(0.5 + level / 2) * np.mean(sd))
    mean_width = float(np.mean(widths)) if widths else float("nan")
    return CoverageRow(
        name=name,
        interval=used.most_common(1)[0][0],
        intervals_used=dict(used),
        coverage=total / n if n else float("nan"),
        coverage_ci95=clopper_pearson(total, n) if n else (float("nan"), float("nan")),
        mean_abs_error=float(np.abs(error).max(axis=1).mean()) if errors else float("nan"),
        mean_ci_width=mean_width,
        seconds_per_fit=float(np.mean([r.seconds for r in records])),
        n_fits=len(records),
        n_without_interval=len(records) - counted,
        coverage_by_param={
            param: float(hits[b] / counted) if counted else float("nan")
            for b, param in enumerate(names)
        },
        exact_width=exact,
        width_ratio=mean_width / exact if exact > 0 else float("nan"),
        bias={param: float(error[:, b].mean()) for b, param in enumerate(names)},
        error_sd={param: float(sd[b]) for b, param in enumerate(names)},
        fits=fits,
    )
