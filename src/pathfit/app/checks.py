"""``pathfit check``: the gradient check of every built-in model on the configured experiment."""

from __future__ import annotations

from pathfit.app.build import build_process, build_spec, linear_model
from pathfit.app.config import RunConfig
from pathfit.diagnostics import GradientCheck, check_gradients
from pathfit.models import (
    AbstractLinearModel,
    AbstractModel,
    ConstantLambda,
    PointwiseMLP,
    PolynomialK,
    PolynomialLambda,
    SeedNetwork,
)
from pathfit.processes import simulate
from pathfit.targets import make_targets


def check_builtin_models(config: RunConfig) -> list[GradientCheck]:
    """Check every built-in model on (a small part of) the configured experiment."""
    paths = simulate(
        build_process(config),
        n_paths=min(config.sampling.n_paths, 32),
        n_times=min(config.sampling.n_times, 64),
        horizon=config.sampling.horizon,
        seed=config.seed,
        rng=config.sampling.rng,
    )
    targets = make_targets(paths, build_spec(config))
    network = config.methods
    configured = linear_model(config)
    linear: list[AbstractLinearModel] = [ConstantLambda(), PolynomialLambda(2), PolynomialK(3)]
    if all(model.powers != configured.powers for model in linear):
        linear.append(configured)
    models: list[AbstractModel] = [
        *linear,
        SeedNetwork(paths.n_paths, network.seed_network.hidden, seed=config.seed),
        PointwiseMLP(network.pointwise_mlp.hidden, seed=config.seed),
    ]
    return [check_gradients(model, paths, targets, seed=config.seed) for model in models]
