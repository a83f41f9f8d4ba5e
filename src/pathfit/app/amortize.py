"""``pathfit amortize``: the config of an amortized estimator's training and validation, and
the job that trains, validates and saves it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import Field

from pathfit.app.methods import Section
from pathfit.exceptions import InputError

FloatRange = Annotated[list[float], Field(min_length=2, max_length=2)]
IntRange = Annotated[list[int], Field(min_length=2, max_length=2)]


class PriorSection(Section):
    """The prior over datasets: pathfit.amortized.Prior's keys, which it checks."""

    processes: list[str] = Field(default_factory=lambda: ["abm", "ou", "gbm"])
    x0: FloatRange = Field(default_factory=lambda: [-1.0, 1.0])
    gbm_x0: FloatRange = Field(default_factory=lambda: [0.5, 2.0])
    mu: FloatRange = Field(default_factory=lambda: [-1.0, 1.0])
    sigma: FloatRange = Field(default_factory=lambda: [0.3, 2.0])
    theta: FloatRange = Field(default_factory=lambda: [0.2, 2.0])
    horizon: FloatRange = Field(default_factory=lambda: [1.0, 10.0])
    n_paths: IntRange = Field(default_factory=lambda: [20, 200])
    n_times: IntRange = Field(default_factory=lambda: [100, 2000])
    degree: int = 0
    coef_mean: list[float] = Field(default_factory=lambda: [0.25])
    coef_sd: list[float] = Field(default_factory=lambda: [0.1])
    noise: list[str] = Field(default_factory=lambda: ["iid"])
    noise_level: FloatRange = Field(default_factory=lambda: [1e-3, 1e-1])


class NetworkSection(Section):
    hidden: int = 64
    context: int = 32
    transforms: int = 3


class TrainingSection(Section):
    n_simulations: int = 20_000
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 4
    validation: int = 1024


class ValidationSection(Section):
    n_simulations: int = 1000
    n_draws: int = 999
    c2st_datasets: int = 5
    outside_simulations: int = 100
    timing_batch: int = 1000


class AmortizeConfig(Section):
    """``pathfit amortize train``'s config: every section optional."""

    seed: int = Field(0, ge=0, lt=2**63)
    threads: int | None = Field(None, ge=1)
    prior: PriorSection = Field(default_factory=PriorSection)
    network: NetworkSection = Field(default_factory=NetworkSection)
    training: TrainingSection = Field(default_factory=TrainingSection)
    validation: ValidationSection = Field(default_factory=ValidationSection)


QUICK: dict[str, Any] = {
    "prior": {"processes": ["abm"], "n_times": [100, 1000]},
    "training": {"n_simulations": 10_000, "max_epochs": 12},
}
"""``--quick``: ABM only, constant lambda, fewer simulations and epochs."""


def load_amortize_config(path: Path | None, quick: bool) -> AmortizeConfig:
    """The config: the defaults (or the ``--quick`` preset) under what the file sets."""
    from pathfit.app.config import input_error, read_toml

    data: dict[str, Any] = {} if path is None else read_toml(path)
    source = "amortize config" if path is None else str(path)
    if quick:
        merged = {**QUICK, **data}
        for key, section in QUICK.items():
            if isinstance(data.get(key), dict):
                merged[key] = {**section, **data[key]}
        data = merged
    try:
        config = AmortizeConfig.model_validate(data)
    except pydantic.ValidationError as err:
        raise input_error(err, source, AmortizeConfig) from None
    build_estimator(config, source)  # the prior and the network check their own bounds
    return config


def build_estimator(config: AmortizeConfig, source: str = "config") -> Any:
    """The untrained estimator the config describes; an InputError names the key."""
    from pathfit.amortized import AmortizedEstimator, Prior

    p = config.prior.model_dump()
    try:
        prior = Prior(**{k: tuple(v) if isinstance(v, list | tuple) else v for k, v in p.items()})
    except InputError as err:
        raise InputError(f"{source}: {err.field}", err.value, err.expected) from None
    estimator = AmortizedEstimator(
        prior,
        hidden=config.network.hidden,
        context=config.network.context,
        transforms=config.network.transforms,
        seed=config.seed,
        threads=config.threads,
    )
    try:
        estimator.check_hyperparameters()
    except InputError as err:
        raise InputError(f"{source}: network.{err.field}", err.value, err.expected) from None
    return estimator


@dataclass(frozen=True)
class Trained:
    estimator: Any
    validation: Any


def train_and_validate(
    config: AmortizeConfig,
    on_epoch: Callable[[int, float, float], None] | None = None,
    on_simulated: Callable[[int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Trained:
    """Train the configured estimator, then validate it on fresh simulations."""
    from pathfit.amortized.validate import validate

    estimator = build_estimator(config)
    t = config.training
    estimator.train(
        t.n_simulations,
        batch_size=t.batch_size,
        max_epochs=t.max_epochs,
        patience=t.patience,
        validation=t.validation,
        on_epoch=on_epoch,
        on_simulated=on_simulated,
    )
    v = config.validation
    validation = validate(
        estimator,
        n_simulations=v.n_simulations,
        n_draws=v.n_draws,
        c2st_datasets=v.c2st_datasets,
        outside_simulations=v.outside_simulations,
        timing_batch=v.timing_batch,
        on_step=on_step,
    )
    return Trained(estimator, validation)
