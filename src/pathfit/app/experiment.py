"""The main job: simulate the configured experiment and fit it every applicable way.

This is the library side of ``pathfit run``: it takes a validated :class:`RunConfig`, returns
a :class:`RunOutput`, and knows nothing of the terminal or of files.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import pathfit
from pathfit.app.build import build_process, build_spec, make_estimator, selected_methods
from pathfit.app.config import RunConfig
from pathfit.diagnostics.identifiability import identify
from pathfit.estimators import FitResult, GradientFit, LeastSquares
from pathfit.estimators._result import json_safe
from pathfit.estimators.selection import select_by_holdout
from pathfit.exceptions import ConvergenceWarning, InputError
from pathfit.models import PointwiseMLP, PolynomialLambda
from pathfit.paths import Paths
from pathfit.processes import simulate
from pathfit.targets import AbstractLinearSpec, ConstantLam, PolynomialLam, Targets, make_targets


@dataclass
class RunOutput:
    """Everything ``pathfit run`` and ``pathfit fit`` report.

    ``true`` is empty when the truth is unknown (a data file without one). The paths, targets
    and fitted estimators are kept for the report; ``to_json`` leaves them out.
    """

    config: RunConfig
    true: dict[str, Any]
    rows: list[dict[str, Any]]
    results: list[FitResult]
    simulate_s: float
    paths: Paths
    targets: Targets
    estimators: list[LeastSquares | GradientFit]
    lambda_x: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "config": self.config.model_dump(),
                "true": self.true,
                "methods": self.rows,
                "lambda_x": self.lambda_x,
                "simulate_s": self.simulate_s,
                "versions": versions(),
            }
        )


def versions() -> dict[str, str]:
    return {
        "pathfit": pathfit.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def manifest(config: RunConfig, *, started: str, finished: str) -> dict[str, Any]:
    """Who made a result and from what: versions, seed, device, a hash of the config, and when."""
    canonical = json.dumps(config.model_dump(), sort_keys=True)
    return {
        "versions": versions(),
        "seed": config.seed,
        "device": config.device,
        "config_hash": "sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
        "started": started,
        "finished": finished,
    }


def _simulate(config: RunConfig) -> Paths:
    check_device(config.device)
    return simulate(
        build_process(config),
        n_paths=config.sampling.n_paths,
        n_times=config.sampling.n_times,
        horizon=config.sampling.horizon,
        seed=config.seed,
        dtype=config.dtype,
        device=config.device,
    )


def check_device(name: str) -> torch.device:
    """The torch device ``name`` names, if this machine has it."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError("device", repr(name), "a torch device such as 'cpu' or 'cuda'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device", repr(name), "an available device (no CUDA here)")
    if device.type not in ("cpu", "cuda"):
        raise InputError("device", repr(name), "'cpu' or 'cuda'")
    return device


def simulate_experiment(config: RunConfig) -> tuple[Paths, Targets, dict[str, Any]]:
    """The configured experiment's paths, targets and true parameters, as ``run`` makes them."""
    spec = build_spec(config)
    paths = _simulate(config)
    targets = make_targets(paths, spec, noise_std=config.target.noise_std, seed=config.seed)
    return paths, targets, _truth(config, spec, paths)


def run_experiment(
    config: RunConfig,
    on_method: Callable[[str], None] | None = None,
) -> RunOutput:
    """Simulate the configured experiment and fit it with each selected method.

    Args:
        config: a validated RunConfig.
        on_method: called with each method's name before it runs (for progress display).
    """
    spec = build_spec(config)
    selected_methods(config)  # fail on a bad method list before simulating
    start = time.perf_counter()
    paths, targets, _ = simulate_experiment(config)
    simulate_s = time.perf_counter() - start
    out = fit_all(config, paths, targets, spec, on_method)
    out.simulate_s = simulate_s
    if config.lambda_x.coef:
        if on_method is not None:
            on_method("lambda(x)")
        out.lambda_x = run_lambda_x(config, paths)
    return out


def fit_all(
    config: RunConfig,
    paths: Paths,
    targets: Targets,
    spec: AbstractLinearSpec | None,
    on_method: Callable[[str], None] | None = None,
) -> RunOutput:
    """Fit paths and targets with each method the config selects.

    Args:
        config: the methods and their settings (the target section names the model family).
        paths, targets: the data, simulated or read from a file.
        spec: the true specification when it is known (errors are then reported), else None.
        on_method: called with each method's name before it runs.
    """
    results, rows, estimators = [], [], []
    for name in selected_methods(config):
        if on_method is not None:
            on_method(name)
        estimator = make_estimator(name, config, paths)
        with warnings.catch_warnings():
            # the row reports status and message; a warning would say it twice
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(paths, targets)
        estimators.append(estimator)
        results.append(estimator.result_)
        rows.append(_row(estimator, config, spec, paths))
    return RunOutput(
        config=config,
        true={} if spec is None else _truth(config, spec, paths),
        rows=rows,
        results=results,
        simulate_s=0.0,
        paths=paths,
        targets=targets,
        estimators=estimators,
    )


def _truth(config: RunConfig, spec: AbstractLinearSpec, paths: Paths) -> dict[str, Any]:
    if config.target.kind == "constant":
        return {"lam": config.target.lam}
    key = "lam_coef" if config.target.kind == "poly_lambda" else "k_coef"
    out: dict[str, Any] = {key: list(spec.coef)}
    if isinstance(spec, PolynomialLam):
        out["lam_mean_observed"] = float(spec.lam(paths.values).mean())
    return out


def _row(
    estimator: LeastSquares | GradientFit,
    config: RunConfig,
    spec: AbstractLinearSpec | None,
    paths: Paths,
) -> dict[str, Any]:
    result = estimator.result_
    ci_key = f"ci{round(config.methods.level * 100)}"
    row: dict[str, Any] = {"name": result.method, "model": result.model}
    scalar = config.target.kind == "constant" or result.params is None
    if result.status == "diverged":
        row.update(estimate=None, abs_error=None, **{ci_key: None})
    elif scalar:
        truth = None
        if isinstance(spec, ConstantLam):
            truth = spec.value
        elif isinstance(spec, PolynomialLam):
            truth = float(spec.lam(paths.values).mean())
        row.update(
            estimate=result.lam,
            abs_error=None if result.lam is None or truth is None else abs(result.lam - truth),
            **{ci_key: list(result.lam_ci) if result.lam_ci else None},
        )
    else:
        assert result.params is not None
        errors = (
            None
            if spec is None
            else max(abs(a - b) for a, b in zip(result.params, spec.coef, strict=True))
        )
        row.update(
            estimate=result.params,
            abs_error=errors,
            **{ci_key: [list(c) for c in result.ci] if result.ci else None},
        )
    row.update(
        stderr=result.lam_stderr if scalar else result.stderr,
        interval=result.interval,
        steps=result.steps,
        wall_s=result.wall_s,
        status=result.status,
        message=result.message,
        notes=result.notes,
        uncertainty=result.uncertainty_note,
        identifiability=identify(estimator.model_, paths).summary(),
    )
    if result.stability is not None:
        s = result.stability
        row["stability"] = {
            "curvature": s.curvature,
            "curvature_method": s.curvature_method,
            "step": s.step,
            "bound": s.bound,
            "final_step": s.final_step,
            "events": [e.message for e in s.events],
        }
    return row


def run_lambda_x(config: RunConfig, paths: Paths) -> dict[str, Any]:
    """Recover a lambda(x) that depends on x: polynomial degree and MLP width chosen on
    held-out times; coefficient errors, lambda(x) errors and hold-out losses."""
    cfg = config.lambda_x
    spec = PolynomialLam(tuple(cfg.coef))
    noise = config.target.noise_std if cfg.noise_std is None else cfg.noise_std
    targets = make_targets(paths, spec, noise_std=noise, seed=config.seed + 1)
    degrees = {
        f"degree {d}": LeastSquares(PolynomialLambda(d), interval="classical")
        for d in range(cfg.max_degree + 1)
        if d + 1 <= paths.n_times
    }
    by_degree = select_by_holdout(degrees, paths, targets, holdout=cfg.holdout, seed=config.seed)
    best = by_degree.estimators[by_degree.best]
    chosen = LeastSquares(best.model, level=config.methods.level, seed=config.seed)
    chosen.fit(paths, targets)
    widths = {
        f"width {w}": GradientFit(
            PointwiseMLP((w,), seed=config.seed),
            optimizer="lbfgs",
            max_steps=cfg.mlp_max_steps,
            patience=cfg.patience,
            name=f"pointwise_mlp width {w}",
        )
        for w in cfg.widths
    }
    by_width = select_by_holdout(widths, paths, targets, holdout=cfg.holdout, seed=config.seed)
    mlp = by_width.estimators[by_width.best]
    grid = _grid(paths.values)
    truth = spec.lam(grid)
    with torch.no_grad():
        mlp_lam = mlp.model_.lam(grid)
    poly_lam = chosen.model_.lam(grid)
    true_coef = list(cfg.coef) + [0.0] * max(0, len(chosen.coef_) - len(cfg.coef))
    fitted = chosen.coef_.tolist() + [0.0] * max(0, len(cfg.coef) - len(chosen.coef_))
    holdout_of = {c.name: c.holdout_loss for c in by_degree.candidates + by_width.candidates}
    return {
        "true_coef": list(cfg.coef),
        "noise_std": noise,
        "x_range": [float(grid[0]), float(grid[-1])],
        "degree_selection": by_degree.summary(),
        "width_selection": by_width.summary(),
        "least_squares": {
            "degree": len(chosen.coef_) - 1,
            "coef": chosen.coef_.tolist(),
            "stderr": None if chosen.stderr_ is None else chosen.stderr_.tolist(),
            "coef_abs_error": [abs(a - b) for a, b in zip(fitted, true_coef, strict=True)],
            "max_lam_error": float((poly_lam - truth).abs().max()),
            "holdout_loss": holdout_of[by_degree.best],
            "interval": chosen.interval_,
        },
        "pointwise_mlp": {
            "width": by_width.best,
            "max_lam_error": float((mlp_lam - truth).abs().max()),
            "holdout_loss": holdout_of[by_width.best],
            "status": mlp.result_.status,
            "steps": mlp.result_.steps,
            "message": mlp.result_.message,
        },
    }


def _grid(values: torch.Tensor, n: int = 201) -> torch.Tensor:
    """Points spanning the central 98% of the observed x, where lambda(x) is supported."""
    flat = values.reshape(-1)
    sample = flat if flat.numel() <= 1_000_000 else flat[:: flat.numel() // 1_000_000 + 1]
    lo, hi = torch.quantile(sample, torch.tensor([0.01, 0.99], dtype=values.dtype)).tolist()
    return torch.linspace(lo, hi, n, dtype=values.dtype, device=values.device)
