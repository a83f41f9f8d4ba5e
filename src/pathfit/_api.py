"""The one-line entry points: ``pathfit.fit`` and ``pathfit.load``.

They build nothing the estimators do not: ``fit`` chooses an estimator and a model by name (the
names ``pathfit run`` uses for its methods and target kinds) and calls its ``fit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pathfit._validation import check_choice, check_int
from pathfit.amortized import AmortizedEstimator
from pathfit.datafiles.inputs import as_data
from pathfit.estimators import GradientFit, LeastSquares
from pathfit.estimators._persist import load_estimator
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

FitMethod = Literal["least_squares", "gradient", "seed_sgd", "seed_network", "pointwise_mlp"]
"""What ``pathfit.fit`` fits with: closed-form least squares; guarded gradient training of the
model; the seed question's recipe (per-sample SGD at lr 0.01, no guard, constant lambda); the
seed's network (one input per path); the pointwise network lambda_theta(x)."""
FIT_METHODS: tuple[FitMethod, ...] = get_args(FitMethod)

ModelName = Literal["constant", "poly_lambda", "poly_k"]
"""A linear model by name, as ``pathfit run``'s target kinds: lambda constant, lambda(x) a
polynomial of ``degree``, or k a polynomial of ``degree`` in x."""
MODEL_NAMES: tuple[ModelName, ...] = get_args(ModelName)

_NETWORKS = ("seed_network", "pointwise_mlp")


def fit(
    paths: Any,
    targets: Any = None,
    *,
    model: AbstractModel | ModelName | None = None,
    method: FitMethod = "least_squares",
    degree: int | None = None,
    times: Any = None,
    **hyperparameters: Any,
) -> LeastSquares | GradientFit:
    """Fit ``model`` to paths and targets with ``method``; returns the fitted estimator.

    Args:
        paths: a pathfit.Paths, a (n_paths, n_times) array or tensor (with ``times``), or a
            pandas DataFrame in the data files' long or wide layout.
        targets: a pathfit.Targets, (n_times,) values, or a DataFrame/Series carrying times;
            None for a wide DataFrame with a ``k`` column.
        model: a pathfit model, or "constant" (the default), "poly_lambda" or "poly_k" with
            ``degree``. The network methods bring their own network and take no model.
        method: "least_squares" (default), "gradient", "seed_sgd", "seed_network" or
            "pointwise_mlp".
        degree: the polynomial degree of "poly_lambda" and "poly_k".
        times: the (n_times,) observation times of an array or tensor of paths.
        **hyperparameters: passed to the estimator (``level=0.9``, ``interval="hac"``, ...;
            ``hidden=[8]`` for the network methods).

    Raises:
        InputError: naming the argument and the value found.

    Example:
        >>> est = pathfit.fit(values, k, times=t)
        >>> print(est.summary())
    """
    check_choice("method", method, FIT_METHODS)
    paths, targets = as_data(paths, targets, times)
    estimator = _estimator(method, model, degree, hyperparameters, paths.n_paths)
    return estimator.fit(paths, targets)


def _model(model: object, degree: int | None) -> AbstractModel:
    if isinstance(model, AbstractModel):
        if degree is not None:
            raise InputError("degree", degree, "None with a model object (it has its own)")
        return model
    name = check_choice("model", "constant" if model is None else model, MODEL_NAMES)
    if name == "constant":
        if degree not in (None, 0):
            raise InputError("degree", degree, "None for model='constant'")
        return ConstantLambda()
    if degree is None:
        raise InputError("degree", None, f"the polynomial degree of model={name!r}")
    degree = check_int("degree", degree, minimum=0)
    return PolynomialLambda(degree) if name == "poly_lambda" else PolynomialK(degree)


def _estimator(
    method: str,
    model: object,
    degree: int | None,
    hyperparameters: dict[str, Any],
    n_paths: int,
) -> LeastSquares | GradientFit:
    settings = dict(hyperparameters)
    if method in _NETWORKS:
        if model is not None:
            raise InputError(
                "model", repr(model), f"None: method={method!r} brings its own network"
            )
        hidden = settings.pop("hidden", None)
        seed = settings.get("seed", 0)
        if method == "seed_network":
            network: AbstractModel = SeedNetwork(
                n_paths, () if hidden is None else hidden, seed=seed
            )
        else:
            network = PointwiseMLP(*(() if hidden is None else (hidden,)), seed=seed)
        settings.setdefault("max_steps", 100)
        return _built(GradientFit, network, method, settings)
    if "hidden" in settings:
        raise InputError("hidden", repr(settings["hidden"]), f"no hidden with method={method!r}")
    chosen = _model(model, degree)
    if method == "least_squares":
        if not isinstance(chosen, AbstractLinearModel):
            raise InputError(
                "model", repr(chosen), "a linear model for least_squares (or method='gradient')"
            )
        return _built(LeastSquares, chosen, None, settings)
    if method == "seed_sgd":
        if not isinstance(chosen, ConstantLambda):
            raise InputError("model", repr(chosen), "'constant' for method='seed_sgd'")
        for key, value in (("mode", "per_sample"), ("optimizer", "sgd"), ("guard", False)):
            settings.setdefault(key, value)
        settings.setdefault("lr", 0.01)
    return _built(GradientFit, chosen, method, settings)


def _built(cls: type, model: AbstractModel, name: str | None, settings: dict[str, Any]) -> Any:
    estimator = cls(model)
    if name is not None:
        settings.setdefault("name", name)
    estimator.set_params(**settings)  # an unknown keyword is an InputError naming it
    estimator.check_hyperparameters()
    return estimator


def load(path: str | Path) -> LeastSquares | GradientFit | AmortizedEstimator:
    """A fitted estimator saved by ``save``: a LeastSquares or GradientFit file, or the folder
    of an AmortizedEstimator."""
    if Path(path).is_dir():
        return AmortizedEstimator.load(path)
    return load_estimator(path)
