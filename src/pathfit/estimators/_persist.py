"""Saving and loading fitted estimators: one safetensors file, no pickle.

The file holds every tensor (coefficients, covariances, residuals, a network's weights, the
bootstrap draws) as safetensors tensors, and in the safetensors header's metadata a JSON
document: the format and its version, the versions of pathfit and torch, the estimator's class
and hyperparameters, and every fitted attribute (``coef_``, ``lam_``, ``result_``, ...) with
tensors referred to by name. Objects are rebuilt only from the classes listed here (the
estimators, the models, the result records), never from names found in the file, so loading
runs no code the file chooses.

A file of another kind, another estimator, or a newer format version is an ``InputError`` that
says which.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch

import pathfit
from pathfit.atomic import write_bytes_atomic
from pathfit.estimators._base import AbstractEstimator
from pathfit.estimators._jackknife import Bias
from pathfit.estimators._result import FitResult, GuardEvent, History, Stability
from pathfit.estimators._uncertainty import Linearized, Uncertainty
from pathfit.exceptions import InputError, PathfitError
from pathfit.models import (
    AbstractModel,
    ConstantLambda,
    PointwiseMLP,
    PolynomialK,
    PolynomialLambda,
    SeedNetwork,
)

FORMAT = "pathfit.estimator"
"""The ``format`` entry of a saved estimator's metadata."""
FORMAT_VERSION = 1
"""The newest format version this pathfit writes and reads; older ones are read too."""

_MODELS: dict[str, type[AbstractModel]] = {
    cls.__name__: cls
    for cls in (ConstantLambda, PolynomialLambda, PolynomialK, SeedNetwork, PointwiseMLP)
}
_RECORDS: dict[str, type] = {
    cls.__name__: cls
    for cls in (FitResult, History, Stability, GuardEvent, Uncertainty, Bias, Linearized)
}


def _estimators() -> dict[str, type[AbstractEstimator]]:
    from pathfit.estimators.gradient import GradientFit
    from pathfit.estimators.least_squares import LeastSquares

    return {"LeastSquares": LeastSquares, "GradientFit": GradientFit}


# --- writing ----------------------------------------------------------------------------------


def save_estimator(estimator: AbstractEstimator, path: str | Path, *, overwrite: bool) -> Path:
    """Write ``estimator`` (fitted or not) to ``path`` atomically; refuse an existing file
    unless ``overwrite``. Returns the path."""
    from safetensors.torch import save as save_bytes

    name = type(estimator).__name__
    if name not in _estimators():
        raise InputError("estimator", name, "a LeastSquares or a GradientFit")
    if not isinstance(overwrite, bool):
        raise InputError("overwrite", repr(overwrite), "True or False")
    path = Path(path)
    if path.is_dir():
        raise InputError(str(path), "a folder", "a file path to write the estimator to")
    if path.exists() and not overwrite:
        raise InputError(str(path), "an existing file", "a new file, or overwrite=True")
    tensors: dict[str, torch.Tensor] = {}
    params = estimator.get_params()
    fitted = {
        key: value
        for key, value in vars(estimator).items()
        if key.endswith("_") and not key.startswith("_")
    }
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": name,
        "versions": {"pathfit": pathfit.__version__, "torch": torch.__version__},
        "hyperparameters": {k: _encode(v, f"params.{k}", tensors) for k, v in params.items()},
        "fitted": {k: _encode(v, f"fitted.{k}", tensors) for k, v in sorted(fitted.items())},
    }
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "pathfit": json.dumps(document, allow_nan=False),
    }
    return write_bytes_atomic(path, save_bytes(tensors, metadata=metadata))


def _encode(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """``value`` as JSON, its tensors moved to ``tensors`` under names derived from ``key``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, torch.Tensor):
        tensors[key] = value.detach().to("cpu").contiguous().clone()
        return {"$tensor": key}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$dict": {k: _encode(v, f"{key}.{k}", tensors) for k, v in value.items()}}
    if isinstance(value, AbstractModel) and type(value).__name__ in _MODELS:
        state = {
            name: _encode(tensor, f"{key}.state.{name}", tensors)
            for name, tensor in value.state_dict().items()
        }
        args = _encode(value.repr_args(), f"{key}.args", tensors)
        return {"$model": type(value).__name__, "args": args, "state": state}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _RECORDS:
        fields = {
            f.name: _encode(getattr(value, f.name), f"{key}.{f.name}", tensors)
            for f in dataclasses.fields(value)
        }
        return {"$record": type(value).__name__, "fields": fields}
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a NumPy scalar
        return _encode(value.item(), key, tensors)
    raise PathfitError(f"{key}: a {type(value).__name__} cannot be saved")


# --- reading ----------------------------------------------------------------------------------


def load_estimator(path: str | Path, cls: type[AbstractEstimator] | None = None) -> Any:
    """The estimator saved in ``path`` (of class ``cls``, when given)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load as load_bytes

    file = str(path)
    path = Path(path)
    if not path.is_file():
        found = "a folder" if path.is_dir() else "no such file"
        raise InputError(file, found, "a file written by an estimator's save()")
    data = path.read_bytes()
    try:
        with safe_open(file, framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_bytes(data)
    except (SafetensorError, OSError, ValueError) as err:
        raise InputError(file, f"not a safetensors file ({err})", "an estimator's save()") from None
    found = metadata.get("format")
    if found != FORMAT:
        hint = (
            " (an amortized estimator: pathfit.load or AmortizedEstimator.load reads its folder)"
            if isinstance(found, str) and found.startswith("pathfit.amortized")
            else ""
        )
        raise InputError(
            f"{file}: format",
            f"{found!r}{hint}" if found is not None else "a safetensors file of no known format",
            f"{FORMAT!r}, a file written by an estimator's save()",
        )
    try:
        document = json.loads(metadata["pathfit"])
        version = int(document["format_version"])
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(file, f"malformed metadata ({err!r})", "an estimator's save()") from None
    if version > FORMAT_VERSION:
        raise InputError(
            f"{file}: format_version",
            f"{version} (pathfit {document.get('versions', {}).get('pathfit', '?')})",
            f"version {FORMAT_VERSION} or older: upgrade pathfit to load it",
        )
    classes = _estimators()
    name = document.get("estimator")
    if name not in classes:
        raise InputError(f"{file}: estimator", repr(name), "LeastSquares or GradientFit")
    if cls is not None and classes[name] is not cls:
        raise InputError(
            file,
            f"a saved {name}",
            f"a saved {cls.__name__} ({name}.load or pathfit.load reads it)",
        )
    try:
        params = {k: _decode(v, tensors) for k, v in document["hyperparameters"].items()}
        estimator = classes[name](**params)
        estimator.check_hyperparameters()
        for key, value in document["fitted"].items():
            if not (key.endswith("_") and key.isidentifier()):
                raise ValueError(f"{key!r} is not a fitted attribute")
            setattr(estimator, key, _decode(value, tensors))
    except InputError as err:
        raise InputError(f"{file}: {err.field}", err.value, err.expected) from None
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise InputError(
            file, f"a missing or malformed entry ({err!r})", "an estimator's save()"
        ) from None
    return estimator


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "$float" in value:
        return float(value["$float"])
    if "$tensor" in value:
        return tensors[value["$tensor"]]
    if "$tuple" in value:
        return tuple(_decode(v, tensors) for v in value["$tuple"])
    if "$dict" in value:
        return {k: _decode(v, tensors) for k, v in value["$dict"].items()}
    if "$model" in value:
        model = _MODELS[value["$model"]](**_decode(value["args"], tensors))
        state = {k: _decode(v, tensors) for k, v in value["state"].items()}
        model.load_state_dict(state, assign=True)
        return model
    if "$record" in value:
        record = _RECORDS[value["$record"]]
        return record(**{k: _decode(v, tensors) for k, v in value["fields"].items()})
    raise ValueError(f"an object without a known tag: {sorted(value)}")
