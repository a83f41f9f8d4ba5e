"""From a validated RunConfig to the objects it describes: process, targets, estimators."""

from __future__ import annotations

from pathfit.app.config import (
    METHOD_NAMES,
    GradientConfig,
    MethodName,
    NetworkConfig,
    RunConfig,
)
from pathfit.estimators import GradientFit, LeastSquares
from pathfit.exceptions import InputError
from pathfit.models import (
    AbstractLinearModel,
    AbstractModel,
    ConstantLambda,
    PointwiseMLP,
    PolynomialK,
    PolynomialLambda,
    SeedNetwork,
)
from pathfit.paths import Paths
from pathfit.processes import ABM, GBM, OU, AbstractProcess
from pathfit.targets import AbstractLinearSpec, ConstantLam, KPolynomial, PolynomialLam

# Which methods make sense for which target: the seed's recipes fit a constant lambda, the
# pointwise MLP fits a lambda(x), and least squares / gradient fit the target's own family.
APPLIES: dict[str, tuple[MethodName, ...]] = {
    "constant": METHOD_NAMES,
    "poly_lambda": ("least_squares", "gradient", "pointwise_mlp"),
    "poly_k": ("least_squares", "gradient"),
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


def gradient_fit(
    model: AbstractModel, cfg: GradientConfig, name: str, config: RunConfig
) -> GradientFit:
    """A GradientFit from a config section; optimizer "auto" is SGD at 1/L for one linear
    parameter (exact in one step) and L-BFGS otherwise (the design's columns x^2, x^3, ...
    differ so much in scale that plain gradient descent crawls)."""
    optimizer = cfg.optimizer
    if optimizer == "auto":
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
        interval=cfg.interval,
        holdout=cfg.holdout,
        patience=cfg.patience,
        name=name,
    )


def make_estimator(name: MethodName, config: RunConfig, paths: Paths) -> LeastSquares | GradientFit:
    """The estimator that method ``name`` of ``config`` runs on ``paths``."""
    m = config.methods
    if name == "least_squares":
        return LeastSquares(
            linear_model(config),
            level=m.level,
            interval=m.least_squares.interval,
            n_bootstrap=m.least_squares.n_bootstrap,
            seed=config.seed,
        )
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
        return gradient_fit(linear_model(config), m.gradient, name, config)
    network: NetworkConfig = m.seed_network if name == "seed_network" else m.pointwise_mlp
    model = (
        SeedNetwork(paths.n_paths, network.hidden, seed=config.seed)
        if name == "seed_network"
        else PointwiseMLP(network.hidden, seed=config.seed)
    )
    return gradient_fit(model, network, name, config)


def spec_from_truth(truth: dict[str, object] | None) -> AbstractLinearSpec | None:
    """The true specification recorded beside a dataset ({"lam": ...}, {"lam_coef": [...]} or
    {"k_coef": [...]}), or None when it is unknown."""
    if not truth:
        return None
    if "lam" in truth:
        return ConstantLam(truth["lam"])  # type: ignore[arg-type]
    if "lam_coef" in truth:
        return PolynomialLam(tuple(truth["lam_coef"]))  # type: ignore[arg-type]
    if "k_coef" in truth:
        return KPolynomial(tuple(truth["k_coef"]))  # type: ignore[arg-type]
    return None
