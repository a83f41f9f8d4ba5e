"""The configuration of ``pathfit run``: TOML files validated with pydantic.

Every section and key is optional; what is left out takes the seed experiment's value. An
unknown key is an error that names it and suggests the closest valid one.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from pathfit.estimators._uncertainty import IntervalMethod
from pathfit.exceptions import InputError

MethodName = Literal["least_squares", "seed_sgd", "gradient", "seed_network", "pointwise_mlp"]
METHOD_NAMES: tuple[MethodName, ...] = (
    "least_squares",
    "seed_sgd",
    "gradient",
    "seed_network",
    "pointwise_mlp",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProcessConfig(_Section):
    """The diffusion: ``abm`` dX = mu dt + sigma dW, ``gbm`` dX = mu X dt + sigma X dW, ``ou``
    dX = theta (mu - X) dt + sigma dW."""

    kind: Literal["abm", "gbm", "ou"] = "abm"
    x0: float = 0.0
    mu: float = 0.5
    sigma: float = Field(1.0, ge=0)
    theta: float = Field(1.0, gt=0, description="mean-reversion rate, OU only")


class SamplingConfig(_Section):
    n_paths: int = Field(100, ge=1)
    n_times: int = Field(1000, ge=1)
    horizon: float = Field(10.0, gt=0, description="observation times are uniform on (0, horizon]")


class TargetConfig(_Section):
    """``constant``: k_j = lam * mean_i x_ij^2; ``poly_lambda``: lambda(x) = sum_d coef[d] x^d;
    ``poly_k``: k_j = mean_i sum_p coef[p] x_ij^p."""

    kind: Literal["constant", "poly_lambda", "poly_k"] = "constant"
    lam: float = 0.25
    coef: list[float] = Field(default_factory=list)
    noise_std: float = Field(0.0, ge=0)


IntervalName = IntervalMethod  # the estimators' own closed set


class LeastSquaresConfig(_Section):
    interval: IntervalName = "auto"
    n_bootstrap: int = Field(300, ge=2)


class GradientConfig(_Section):
    mode: Literal["per_sample", "minibatch", "full"] = "full"
    optimizer: Literal["auto", "sgd", "adam", "lbfgs"] = "auto"
    lr: float | None = Field(None, gt=0)
    batch_size: int = Field(32, ge=1)
    max_steps: int = Field(10_000, ge=1)
    tol: float = Field(1e-10, ge=0)
    guard: bool = True
    interval: IntervalName = "auto"
    holdout: float = Field(0.0, ge=0, lt=1)
    patience: int = Field(10, ge=1)


class SeedSgdConfig(_Section):
    """The seed question's recipe: per-sample SGD at a fixed step, no guard."""

    lr: float = Field(0.01, gt=0)
    max_steps: int = Field(10_000, ge=1)


class SeedNetworkConfig(GradientConfig):
    """The seed's network: n input nodes, tanh hidden layers of these widths, one output."""

    optimizer: Literal["auto", "sgd", "adam", "lbfgs"] = "lbfgs"
    max_steps: int = Field(100, ge=1)
    hidden: list[int] = Field(default_factory=list)


class PointwiseMlpConfig(GradientConfig):
    """lambda_theta(x) applied to every path value: tanh hidden layers of these widths."""

    optimizer: Literal["auto", "sgd", "adam", "lbfgs"] = "lbfgs"
    max_steps: int = Field(12, ge=1)
    hidden: list[int] = Field(default_factory=lambda: [16])


NetworkConfig = SeedNetworkConfig | PointwiseMlpConfig


class MethodsConfig(_Section):
    run: list[MethodName] | None = Field(
        None, description="methods to run; by default every one that applies to the target"
    )
    level: float = Field(0.95, gt=0, lt=1)
    least_squares: LeastSquaresConfig = Field(default_factory=LeastSquaresConfig)
    seed_sgd: SeedSgdConfig = Field(default_factory=SeedSgdConfig)
    gradient: GradientConfig = Field(default_factory=GradientConfig)
    seed_network: SeedNetworkConfig = Field(default_factory=SeedNetworkConfig)
    pointwise_mlp: PointwiseMlpConfig = Field(default_factory=PointwiseMlpConfig)


class LambdaXConfig(_Section):
    """An extra experiment with a lambda that depends on x: lambda(x) = sum_d coef[d] x^d,
    recovered by least squares with the degree chosen on held-out times, and by pointwise MLPs
    with the width chosen the same way and early stopping."""

    coef: list[float] = Field(default_factory=list, description="empty: no lambda(x) experiment")
    noise_std: float | None = Field(None, ge=0, description="default: target.noise_std")
    max_degree: int = Field(4, ge=0)
    widths: list[int] = Field(default_factory=lambda: [4, 16])
    holdout: float = Field(0.2, gt=0, lt=1)
    patience: int = Field(3, ge=1)
    mlp_max_steps: int = Field(30, ge=1)


class RunConfig(_Section):
    """The whole experiment of ``pathfit run``."""

    seed: int = Field(0, ge=0)
    dtype: Literal["float32", "float64"] = "float64"
    device: str = "cpu"
    process: ProcessConfig = Field(default_factory=ProcessConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    methods: MethodsConfig = Field(default_factory=MethodsConfig)
    lambda_x: LambdaXConfig = Field(default_factory=LambdaXConfig)


def parse_config(data: dict[str, Any], source: str = "config") -> RunConfig:
    """Validate a config dict; the first problem becomes an InputError naming the key."""
    try:
        return RunConfig.model_validate(data)
    except pydantic.ValidationError as err:
        raise _input_error(err, source) from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("--config", str(path), "an existing TOML file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError("--config", f"{path} ({err})", "a readable UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError("--config", f"{path}: {err}", "valid TOML") from None
    return parse_config(data, source=str(path))


def _input_error(err: pydantic.ValidationError, source: str) -> InputError:
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    field = ".".join(loc)
    if first["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return InputError(
            f"{source}: {field}", "an unknown key", f"one of {', '.join(known)}{hint}"
        )
    return InputError(f"{source}: {field}", repr(first.get("input")), first["msg"].lower())


def _known_keys(loc: list[str]) -> list[str]:
    model: type[BaseModel] = RunConfig
    for part in loc:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


EXAMPLE = """\
# pathfit configuration: every key is optional; the values below are the defaults, which
# reproduce the seed question's experiment. `pathfit run --config this.toml` accepts it as is.

seed = 0                   # one integer seed for times, paths, noise, training order, bootstrap
dtype = "float64"          # "float64" or "float32"
device = "cpu"             # "cpu" or "cuda"

[process]                  # the diffusion the paths follow
kind = "abm"               # "abm": dX = mu dt + sigma dW; "gbm": dX = mu X dt + sigma X dW;
                           # "ou": dX = theta (mu - X) dt + sigma dW
x0 = 0.0                   # starting value (> 0 for gbm)
mu = 0.5                   # drift (abm, gbm) or long-run mean (ou)
sigma = 1.0                # volatility, >= 0
theta = 1.0                # mean-reversion rate, > 0 (ou only)

[sampling]
n_paths = 100              # independent paths
n_times = 1000             # observation times, drawn uniformly on (0, horizon]
horizon = 10.0             # T

[target]                   # what the aggregate targets k_j are
kind = "constant"          # "constant": k_j = lam * mean_i x_ij^2;
                           # "poly_lambda": lambda(x) = sum_d coef[d] x^d;
                           # "poly_k": k_j = mean_i sum_p coef[p] x_ij^p
lam = 0.25                 # the constant lambda
coef = []                  # coefficients for poly_lambda / poly_k (their number sets the degree)
noise_std = 0.0            # standard deviation of Gaussian noise added to each k_j

[methods]
# run = ["least_squares", "seed_sgd", "gradient", "seed_network", "pointwise_mlp"]
#                          # default (run left out): every method that applies to the target
level = 0.95               # confidence level of the intervals

[methods.least_squares]    # closed form on the aggregated design
interval = "auto"          # "auto", "classical", "path_bootstrap", "hac", "block_bootstrap"
n_bootstrap = 300          # replicates of the bootstrap intervals

[methods.seed_sgd]         # the seed's recipe as it was: per-sample SGD, fixed step, no guard
lr = 0.01
max_steps = 10000

[methods.gradient]         # constant lambda (or the target's polynomial), guarded
mode = "full"              # "per_sample", "minibatch" or "full"
optimizer = "auto"         # "auto" (SGD at 1/L for one parameter, else L-BFGS), "sgd", "adam",
                           # "lbfgs"
# lr = 0.001               # default (left out): chosen from the curvature, 1/L
batch_size = 32            # minibatch mode
max_steps = 10000
tol = 1e-10                # converged: relative parameter change <= tol and gradient small
guard = true               # roll back and halve the step on a non-finite or exploding loss
interval = "auto"
holdout = 0.0              # fraction of the times held out for early stopping (0: none)
patience = 10              # checks without hold-out improvement before stopping

[methods.seed_network]     # the seed's network: x_1j..x_nj in, lambda_j out
mode = "full"
optimizer = "lbfgs"
batch_size = 32
max_steps = 100
tol = 1e-10
guard = true
interval = "auto"
holdout = 0.0
patience = 10
hidden = []                # widths of tanh hidden layers (none: one linear layer)

[methods.pointwise_mlp]    # lambda_theta(x) applied to every path value
mode = "full"
optimizer = "lbfgs"
batch_size = 32
max_steps = 12
tol = 1e-10
guard = true
interval = "auto"
holdout = 0.0
patience = 10
hidden = [16]

[lambda_x]                 # an extra experiment where lambda depends on x (off while coef = [])
coef = []                  # e.g. [0.1, 0.0, 0.05] for lambda(x) = 0.1 + 0.05 x^2
# noise_std = 0.0          # default (left out): target.noise_std
max_degree = 4             # polynomial degrees 0..max_degree compared on held-out times
widths = [4, 16]           # pointwise MLP widths compared the same way
holdout = 0.2              # fraction of times held out
patience = 3               # MLP early stopping
mlp_max_steps = 30
"""
