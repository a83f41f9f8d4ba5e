"""From a validated RunConfig to the objects it describes: process, target, methods.

``check_config`` builds every one of them once without simulating, so that each value is
checked by the object it configures, where its bounds are stated, and an error names the
config key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pathfit.app.methods import METHODS, Estimator, MethodContext, applicable
from pathfit.estimators import GradientFit, min_times
from pathfit.estimators.holdout import split_times
from pathfit.exceptions import InputError
from pathfit.models import (
    AbstractLinearModel,
    ConstantLambda,
    PointwiseMLP,
    PolynomialK,
    PolynomialLambda,
)
from pathfit.processes import ABM, GBM, OU, AbstractProcess
from pathfit.targets import AbstractLinearSpec, ConstantLam, KPolynomial, PolynomialLam

if TYPE_CHECKING:
    from pathfit.app.config import RunConfig


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
    """The model family of the configured target: the one least squares and gradient fit."""
    t = config.target
    if t.kind == "constant":
        return ConstantLambda()
    degree = len(t.coef) - 1
    return PolynomialLambda(degree) if t.kind == "poly_lambda" else PolynomialK(degree)


def selected_methods(config: RunConfig) -> tuple[str, ...]:
    """The methods to run: those named in ``methods.run``, else every one that applies."""
    allowed = applicable(config.target.kind, config.methods)
    if config.methods.run is None:
        return allowed
    if not config.methods.run:
        raise InputError(
            "methods.run",
            "[]",
            f"at least one method (leave methods.run out to run every one that applies: "
            f"{', '.join(allowed)})",
        )
    if len(set(config.methods.run)) != len(config.methods.run):
        raise InputError("methods.run", repr(config.methods.run), "each method once")
    kind_allows = applicable(config.target.kind)
    for name in config.methods.run:
        if name not in kind_allows:
            raise InputError(
                "methods.run",
                repr(name),
                f"a method that applies to target kind '{config.target.kind}' "
                f"({', '.join(kind_allows)})",
            )
        if name not in allowed:  # named, but its section lacks what it needs
            raise InputError(
                f"methods.{name}.path",
                "nothing",
                "the folder of an estimator that `pathfit amortize train` saved",
            )
    return tuple(config.methods.run)


def streams(config: RunConfig) -> bool:
    """Whether ``run`` can keep only the paths' power sums: every selected method fits the
    aggregated design alone and no lambda(x) experiment needs the paths."""
    return not config.lambda_x.coef and all(
        METHODS[name].streams for name in selected_methods(config)
    )


def make_estimator(name: str, config: RunConfig, n_paths: int) -> Estimator:
    """The estimator that method ``name`` of ``config`` runs on data with ``n_paths`` paths."""
    context = MethodContext(
        seed=config.seed,
        level=config.methods.level,
        linear_model=linear_model(config),
        n_paths=n_paths,
        threads=config.threads,
    )
    return METHODS[name].build(getattr(config.methods, name), context)


def lambda_x_networks(config: RunConfig) -> dict[str, GradientFit]:
    """The pointwise MLPs of the lambda(x) experiment, one per configured width."""
    cfg = config.lambda_x
    return {
        f"width {w}": GradientFit(
            PointwiseMLP((w,), seed=config.seed),
            max_steps=cfg.mlp_max_steps,
            patience=cfg.patience,
            level=config.methods.level,
            name=f"pointwise_mlp width {w}",
            threads=config.threads,
        )
        for w in cfg.widths
    }


def check_config(config: RunConfig, source: str = "config") -> None:
    """Run every check ``pathfit run`` would run before simulating; raises InputError naming
    ``source`` and the config key.

    Every method that applies to the target is built and checked, selected or not (coverage
    fits least squares and gradient whatever ``methods.run`` says), and each is checked against
    the configured number of times, its hold-out included.
    """
    with _key(source, "process"):
        build_process(config)
    with _key(source, "target"):
        build_spec(config)
    with _key(source, ""):
        selected_methods(config)
    for name in applicable(config.target.kind, config.methods):
        with _key(source, f"methods.{name}", run_keys=True):
            estimator = make_estimator(name, config, config.sampling.n_paths)
            estimator.check_hyperparameters()
        _check_times(config, source, name, estimator)
    if config.lambda_x.coef:
        with _key(source, "lambda_x"):
            PolynomialLam(tuple(config.lambda_x.coef))
        with _key(source, "lambda_x.widths", replace=True):
            for network in lambda_x_networks(config).values():
                network.check_hyperparameters()


def _check_times(config: RunConfig, source: str, name: str, estimator: Estimator) -> None:
    """Enough observation times for the method's parameters, after its hold-out."""
    n_times = config.sampling.n_times
    needed = min_times(estimator.model)
    if isinstance(estimator, GradientFit):
        with _key(source, f"methods.{name}"):
            split_times(n_times, estimator.holdout, needed, config.seed)
    if n_times < needed:
        raise InputError(
            f"{source}: sampling.n_times",
            n_times,
            f"at least {needed} observation times, one per parameter of {name}'s model",
        )


@contextlib.contextmanager
def _key(
    source: str, section: str, run_keys: bool = False, replace: bool = False
) -> Iterator[None]:
    """Re-raise an InputError from a built object under its config key in ``section`` (or as
    ``section`` itself with ``replace``)."""
    try:
        yield
    except InputError as err:
        field = err.field
        if replace:
            field = section
        elif run_keys and field in ("seed", "level", "threads"):
            field = "methods.level" if field == "level" else field
        elif section and not field.startswith(section.split(".")[0]):
            field = f"{section}.{field}"
        raise InputError(f"{source}: {field}", err.value, err.expected) from None
