"""The main job: simulate the configured experiment and fit it every applicable way.

This is the library side of ``pathfit run``: it takes a validated :class:`RunConfig`, returns
a :class:`RunOutput`, and knows nothing of the terminal or of files.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import pathfit
from pathfit.config import METHOD_NAMES, GradientConfig, MethodName, NetworkConfig, RunConfig
from pathfit.estimators import FitResult, GradientFit, LeastSquares
from pathfit.estimators._result import json_safe
from pathfit.exceptions import ConvergenceWarning, InputError
from pathfit.models import (
    AbstractLinearModel,
    ConstantLambda,
    PointwiseMLP,
    PolynomialK,
    PolynomialLambda,
    SeedNetwork,
)
from pathfit.paths import Paths
from pathfit.processes import ABM, GBM, OU, AbstractProcess, simulate
from pathfit.targets import (
    AbstractLinearSpec,
    ConstantLam,
    KPolynomial,
    PolynomialLam,
    Targets,
    make_targets,
)

# Which methods make sense for which target: the seed's recipes fit a constant lambda, the
# pointwise MLP fits a lambda(x), and least squares / gradient fit the target's own family.
APPLIES: dict[str, tuple[MethodName, ...]] = {
    "constant": METHOD_NAMES,
    "poly_lambda": ("least_squares", "gradient", "pointwise_mlp"),
    "poly_k": ("least_squares", "gradient"),
}


@dataclass
class RunOutput:
    """Everything ``pathfit run`` reports."""

    config: RunConfig
    true: dict[str, Any]
    rows: list[dict[str, Any]]
    results: list[FitResult]
    simulate_s: float

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "config": self.config.model_dump(),
                "true": self.true,
                "methods": self.rows,
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


def build_process(config: RunConfig) -> AbstractProcess:
    p = config.process
    if p.kind == "abm":
        return ABM(x0=p.x0, mu=p.mu, sigma=p.sigma)
    if p.kind == "gbm":
        return GBM(x0=p.x0, mu=p.mu, sigma=p.sigma)
    return OU(x0=p.x0, theta=p.theta, mu=p.mu, sigma=p.sigma)


def build_spec(config: RunConfig) -> AbstractLinearSpec:
    t = config.target
    if t.kind == "constant":
        return ConstantLam(t.lam)
    if not t.coef:
        raise InputError("target.coef", "[]", f"coefficients for kind = '{t.kind}'")
    return PolynomialLam(tuple(t.coef)) if t.kind == "poly_lambda" else KPolynomial(tuple(t.coef))


def linear_model(config: RunConfig) -> AbstractLinearModel:
    t = config.target
    if t.kind == "constant":
        return ConstantLambda()
    degree = len(t.coef) - 1
    return PolynomialLambda(degree) if t.kind == "poly_lambda" else PolynomialK(degree)


def selected_methods(config: RunConfig) -> tuple[MethodName, ...]:
    allowed = APPLIES[config.target.kind]
    if config.methods.run is None:
        return allowed
    for name in config.methods.run:
        if name not in allowed:
            raise InputError(
                "methods.run",
                repr(name),
                f"a method that applies to target kind '{config.target.kind}' "
                f"({', '.join(allowed)})",
            )
    return tuple(config.methods.run)


def _gradient(model: Any, cfg: GradientConfig, name: str, config: RunConfig) -> GradientFit:
    optimizer = cfg.optimizer
    if optimizer == "auto":
        # One parameter: gradient descent at 1/L is exact in one step. More: L-BFGS, since the
        # design's columns (x^2, x^3, ...) make plain gradient descent crawl.
        single = isinstance(model, AbstractLinearModel) and len(model.powers) == 1
        optimizer = "sgd" if single else "lbfgs"
    return GradientFit(
        model,
        mode=cfg.mode,
        optimizer=optimizer,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        max_steps=cfg.max_steps,
        tol=cfg.tol,
        guard=cfg.guard,
        seed=config.seed,
        level=config.methods.level,
        name=name,
    )


def make_estimator(name: MethodName, config: RunConfig, paths: Paths) -> Any:
    m = config.methods
    if name == "least_squares":
        return LeastSquares(linear_model(config), level=m.level)
    if name == "seed_sgd":
        return GradientFit(
            ConstantLambda(),
            mode="per_sample",
            optimizer="sgd",
            lr=m.seed_sgd.lr,
            max_steps=m.seed_sgd.max_steps,
            guard=False,
            seed=config.seed,
            level=m.level,
            name=name,
        )
    if name == "gradient":
        return _gradient(linear_model(config), m.gradient, name, config)
    network: NetworkConfig = m.seed_network if name == "seed_network" else m.pointwise_mlp
    model = (
        SeedNetwork(paths.n_paths, network.hidden, seed=config.seed)
        if name == "seed_network"
        else PointwiseMLP(network.hidden, seed=config.seed)
    )
    return _gradient(model, network, name, config)


def run_experiment(
    config: RunConfig,
    on_method: Callable[[str], None] | None = None,
) -> RunOutput:
    """Simulate the configured experiment and fit it with each selected method.

    Args:
        config: a validated RunConfig.
        on_method: called with each method's name before it runs (for progress display).
    """
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device", repr(config.device), "an available device (no CUDA here)")
    process = build_process(config)
    spec = build_spec(config)
    methods = selected_methods(config)
    start = time.perf_counter()
    paths = simulate(
        process,
        n_paths=config.sampling.n_paths,
        n_times=config.sampling.n_times,
        horizon=config.sampling.horizon,
        seed=config.seed,
        dtype=config.dtype,
        device=config.device,
    )
    targets = make_targets(paths, spec, noise_std=config.target.noise_std, seed=config.seed)
    simulate_s = time.perf_counter() - start
    true = _truth(config, spec, paths)
    results, rows = [], []
    for name in methods:
        if on_method is not None:
            on_method(name)
        with warnings.catch_warnings():
            # the row reports status and message; a warning would say it twice
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator = make_estimator(name, config, paths).fit(paths, targets)
        results.append(estimator.result_)
        rows.append(_row(estimator.result_, config, spec, paths, targets, estimator))
    return RunOutput(config=config, true=true, rows=rows, results=results, simulate_s=simulate_s)


def _truth(config: RunConfig, spec: AbstractLinearSpec, paths: Paths) -> dict[str, Any]:
    if config.target.kind == "constant":
        return {"lam": config.target.lam}
    key = "lam_coef" if config.target.kind == "poly_lambda" else "k_coef"
    out: dict[str, Any] = {key: list(spec.coef)}
    if isinstance(spec, PolynomialLam):
        out["lam_mean_observed"] = float(spec.lam(paths.values).mean())
    return out


def _row(
    result: FitResult,
    config: RunConfig,
    spec: AbstractLinearSpec,
    paths: Paths,
    targets: Targets,
    estimator: Any,
) -> dict[str, Any]:
    ci_key = f"ci{round(config.methods.level * 100)}"
    row: dict[str, Any] = {"name": result.method, "model": result.model}
    scalar = config.target.kind == "constant" or result.params is None
    if result.status == "diverged":
        row.update(estimate=None, abs_error=None, **{ci_key: None})
    elif scalar:
        truth = (
            config.target.lam
            if config.target.kind == "constant"
            else float(spec.lam(paths.values).mean())
        )  # type: ignore[attr-defined]
        row.update(
            estimate=result.lam,
            abs_error=abs(result.lam - truth) if result.lam is not None else None,
            **{ci_key: list(result.lam_ci) if result.lam_ci else None},
        )
    else:
        assert result.params is not None
        errors = [abs(a - b) for a, b in zip(result.params, spec.coef, strict=True)]
        row.update(
            estimate=result.params,
            abs_error=max(errors),
            **{ci_key: [list(c) for c in result.ci] if result.ci else None},
        )
    row.update(
        stderr=result.lam_stderr if scalar else result.stderr,
        steps=result.steps,
        wall_s=result.wall_s,
        status=result.status,
        message=result.message,
        notes=result.notes,
        uncertainty=result.uncertainty_note,
    )
    if result.stability is not None:
        s = result.stability
        row["stability"] = {
            "curvature": s.curvature,
            "step": s.step,
            "bound": s.bound,
            "final_step": s.final_step,
            "events": [e.message for e in s.events],
        }
    return row
