"""The main job: simulate the configured experiment (or take given data) and fit it every
applicable way.

This is the library side of ``pathfit run`` and ``pathfit fit``: it takes a checked
:class:`RunConfig`, returns a :class:`RunOutcome`, and knows nothing of the terminal or of files.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from pathfit.app.build import (
    build_process,
    build_spec,
    lambda_x_networks,
    linear_model,
    make_estimator,
    selected_methods,
    streams,
)
from pathfit.app.memory import check_memory
from pathfit.app.outcome import (
    LambdaXOutcome,
    MethodOutcome,
    RunOutcome,
    lam_curve_outcome,
    mean_lam_observed,
    method_truth,
)
from pathfit.design import StreamedPaths
from pathfit.diagnostics import identify
from pathfit.estimators import LeastSquares
from pathfit.estimators.selection import select_by_holdout
from pathfit.exceptions import ConvergenceWarning, PathfitError
from pathfit.models import PolynomialLambda
from pathfit.paths import Paths
from pathfit.processes import sample_times, simulate
from pathfit.targets import AbstractLinearSpec, PolynomialLam, Targets, make_targets

if TYPE_CHECKING:
    from pathfit.app.config import RunConfig

OnMethod = Callable[[str], None]
"""Called with each method's name before it runs (for a progress display)."""


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def simulate_experiment(config: RunConfig) -> tuple[Paths, Targets, AbstractLinearSpec]:
    """The configured experiment's paths, targets and true specification, as ``run`` makes
    them."""
    spec = build_spec(config)
    paths = simulate(
        build_process(config),
        n_paths=config.sampling.n_paths,
        n_times=config.sampling.n_times,
        horizon=config.sampling.horizon,
        seed=config.seed,
        dtype=config.dtype,
        device=config.device,
        rng=config.sampling.rng,
    )
    targets = make_targets(paths, spec, noise_std=config.target.noise_std, seed=config.seed)
    return paths, targets, spec


def stream_experiment(config: RunConfig) -> tuple[StreamedPaths, Targets, AbstractLinearSpec]:
    """``simulate_experiment`` keeping only the paths' power sums and first paths: the same
    times, paths (summed tile by tile) and target noise, in memory of order n_times."""
    spec = build_spec(config)
    s = config.sampling
    times = sample_times(
        s.n_times, s.horizon, seed=config.seed, dtype=config.dtype, device=config.device
    )
    highest = max(*linear_model(config).powers, *spec.powers)
    paths = StreamedPaths.simulate(
        build_process(config),
        n_paths=s.n_paths,
        times=times,
        seed=config.seed,
        max_power=2 * highest,  # the spread of the per-path terms, for the intervals
        rng=s.rng,
    )
    targets = make_targets(paths, spec, noise_std=config.target.noise_std, seed=config.seed)
    return paths, targets, spec


def run_experiment(
    config: RunConfig, on_method: OnMethod | None = None, max_memory: int | None = None
) -> RunOutcome:
    """Simulate the configured experiment and fit it with each selected method (and the
    lambda(x) experiment when ``[lambda_x] coef`` is set). When every method fits the design
    alone (``streams``), the paths are never held whole: memory of order n_times.

    A run whose estimated peak memory exceeds ``max_memory`` bytes (default: 80% of the
    available memory) is refused with an InputError before anything is simulated.
    """
    check_memory(config, max_memory)
    started = now()
    start = time.perf_counter()
    data = stream_experiment(config) if streams(config) else simulate_experiment(config)
    paths, targets, spec = data
    simulate_s = time.perf_counter() - start
    methods = fit_methods(config, paths, targets, spec, on_method)
    lambda_x = None
    if config.lambda_x.coef:
        if on_method is not None:
            on_method("lambda(x)")
        lambda_x = run_lambda_x(config, paths)
    return RunOutcome(
        config=config,
        truth=spec,
        methods=methods,
        paths=paths,
        targets=targets,
        source=None,
        simulate_s=simulate_s,
        started=started,
        finished=now(),
        lambda_x=lambda_x,
    )


def fit_data(
    config: RunConfig,
    paths: Paths,
    targets: Targets,
    truth: AbstractLinearSpec | None,
    source: str,
    on_method: OnMethod | None = None,
    max_memory: int | None = None,
) -> RunOutcome:
    """Fit given paths and targets (``pathfit fit``) with each method the config selects; the
    config's target section names the model family, ``truth`` is the true specification when
    it is known. Refused like ``run_experiment`` when the methods' working memory on data of
    this size would exceed ``max_memory``."""
    sized = config.model_copy(
        update={
            "sampling": config.sampling.model_copy(
                update={"n_paths": paths.n_paths, "n_times": paths.n_times}
            ),
            "dtype": str(paths.dtype).removeprefix("torch."),
        }
    )
    check_memory(sized, max_memory, source=source, held_whole=True)
    started = now()
    methods = fit_methods(config, paths, targets, truth, on_method)
    return RunOutcome(
        config=config,
        truth=truth,
        methods=methods,
        paths=paths,
        targets=targets,
        source=source,
        simulate_s=0.0,
        started=started,
        finished=now(),
    )


def fit_methods(
    config: RunConfig,
    paths: Paths | StreamedPaths,
    targets: Targets,
    truth: AbstractLinearSpec | None,
    on_method: OnMethod | None = None,
) -> tuple[MethodOutcome, ...]:
    """Each selected method's outcome on the data. A method whose fit raises a PathfitError
    (data it cannot fit) records the error and the others go on; when every method fails, the
    first error is raised."""
    outcomes = []
    lam_mean = mean_lam_observed(truth, paths)
    grid = x_grid((paths.sample if isinstance(paths, StreamedPaths) else paths).values)
    for name in selected_methods(config):
        if on_method is not None:
            on_method(name)
        estimator = make_estimator(name, config, paths.n_paths)
        compared = method_truth(estimator.model, truth, lam_mean)
        try:
            with warnings.catch_warnings():
                # the outcome reports status and message; a warning would say it twice
                warnings.simplefilter("ignore", ConvergenceWarning)
                estimator.fit(paths, targets)
        except PathfitError as err:
            outcomes.append(MethodOutcome(name, estimator, None, error=err, truth=compared))
            continue
        outcomes.append(
            MethodOutcome(
                name=name,
                estimator=estimator,
                result=estimator.result_,
                identifiability=identify(estimator.model_, paths),
                truth=compared,
                lam_curve=lam_curve_outcome(estimator, grid, truth),
            )
        )
    failed = [o.error for o in outcomes if o.error is not None]
    if failed and len(failed) == len(outcomes):
        raise failed[0]
    return tuple(outcomes)


def run_lambda_x(config: RunConfig, paths: Paths) -> LambdaXOutcome:
    """Recover a lambda(x) that depends on x: polynomial degree and MLP width chosen on
    held-out times; coefficient errors, lambda(x) errors and hold-out losses."""
    cfg = config.lambda_x
    spec = PolynomialLam(tuple(cfg.coef))
    noise = config.target.noise_std if cfg.noise_std is None else cfg.noise_std
    targets = make_targets(paths, spec, noise_std=noise, seed=config.seed + 1)
    # every degree the training times can determine (the hold-out takes its share first)
    n_train = paths.n_times - max(1, round(cfg.holdout * paths.n_times))
    degrees = {
        f"degree {d}": LeastSquares(
            PolynomialLambda(d), interval="classical", threads=config.threads
        )
        for d in range(min(cfg.max_degree + 1, n_train))
    }
    by_degree = select_by_holdout(degrees, paths, targets, holdout=cfg.holdout, seed=config.seed)
    networks = lambda_x_networks(config)
    by_width = select_by_holdout(networks, paths, targets, holdout=cfg.holdout, seed=config.seed)
    for selection, what in ((by_degree, "polynomial degree"), (by_width, "MLP width")):
        if not selection.best:
            raise PathfitError(f"lambda(x): no {what} predicted the held-out times finitely")
    best = by_degree.estimators[by_degree.best]
    chosen = LeastSquares(
        best.model, level=config.methods.level, seed=config.seed, threads=config.threads
    )
    chosen.fit(paths, targets)
    mlp = by_width.estimators[by_width.best]
    grid = x_grid(paths.values)
    truth = spec.lam(grid)
    with torch.no_grad():
        mlp_lam = mlp.model_.lam(grid)
    return LambdaXOutcome(
        truth=spec,
        noise_std=noise,
        x_range=(float(grid[0]), float(grid[-1])),
        by_degree=by_degree,
        by_width=by_width,
        least_squares=chosen,
        mlp=mlp,
        mlp_width=dict(zip(networks, cfg.widths, strict=True))[by_width.best],
        ls_max_lam_error=float((chosen.model_.lam(grid) - truth).abs().max()),
        mlp_max_lam_error=float((mlp_lam - truth).abs().max()),
        ls_curve=lam_curve_outcome(chosen, grid, spec),
        mlp_curve=lam_curve_outcome(mlp, grid, spec),
    )


def x_grid(values: torch.Tensor, n: int = 201) -> torch.Tensor:
    """Points spanning the central 98% of the observed x, where lambda(x) is supported."""
    flat = values.detach().reshape(-1)
    sample = flat if flat.numel() <= 1_000_000 else flat[:: flat.numel() // 1_000_000 + 1]
    levels = torch.tensor([0.01, 0.99], dtype=values.dtype, device=values.device)
    lo, hi = torch.quantile(sample, levels).tolist()
    return torch.linspace(lo, hi, n, dtype=values.dtype, device=values.device)
