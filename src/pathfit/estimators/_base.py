"""The estimator base class: scikit-learn's conventions, without the dependency."""

from __future__ import annotations

import abc
import inspect
from typing import Any, Self

from pathfit._types import TargetValues
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.targets import Targets


class AbstractEstimator(abc.ABC):
    """Hyperparameters are stored unchanged by ``__init__`` and checked by ``fit``, which
    returns self; what is learned ends in an underscore."""

    @abc.abstractmethod
    def fit(self, paths: Paths, targets: Targets | TargetValues) -> Self:
        """Learn from paths and their aggregate targets; returns self."""

    @abc.abstractmethod
    def check_hyperparameters(self) -> None:
        """Check every hyperparameter against its type, closed set and bounds, as ``fit``
        does first; raises InputError naming the hyperparameter and the value found."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        """The class and the hyperparameters that differ from their defaults, as scikit-learn
        shows them: ``LeastSquares(model=PolynomialLambda(degree=2), interval='hac')``."""
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
        }
        shown = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = value is default or bool(value == default)
            except (TypeError, ValueError, RuntimeError):  # a tensor, say: no single truth
                same = False
            if default is inspect.Parameter.empty or not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def set_params(self, **params: Any) -> Self:
        """Change hyperparameters by name; returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise InputError(name, repr(value), "one of " + ", ".join(valid))
            setattr(self, name, value)
        return self
