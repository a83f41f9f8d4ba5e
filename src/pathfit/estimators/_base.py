"""The estimator base class: scikit-learn's conventions, without the dependency.

Fitted attributes have one type on every estimator: what has one value per coefficient is a
tensor in the fit's dtype (``coef_`` and ``stderr_`` of shape (n_params,), ``ci_`` of shape
(n_params, 2), ``cov_`` (n_params, n_params)); what is one number about lambda is a Python
float (``lam_``, ``lam_stderr_``) or a pair of floats (``lam_ci_``); each is None where the
fit does not define it (a network has no coefficients to report, a polynomial lambda(x) no
single lambda, a diverged fit no estimate).
"""

from __future__ import annotations

import abc
import inspect
from typing import TYPE_CHECKING, Any, Self

import torch

from pathfit._types import TargetValues
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.targets import Targets

if TYPE_CHECKING:
    from pathfit.estimators._result import FitResult
    from pathfit.estimators._summary import Summary


class AbstractEstimator(abc.ABC):
    """Hyperparameters are stored unchanged by ``__init__`` and checked by ``fit``, which
    returns self; what is learned ends in an underscore."""

    @abc.abstractmethod
    def fit(
        self, paths: Paths | object, targets: Targets | TargetValues | object, *, times: object
    ) -> Self:
        """Learn from paths and their aggregate targets; returns self. ``paths`` may be
        Paths, a (n_paths, n_times) array or tensor with its ``times``, or a DataFrame in
        the data files' long or wide layout (see :mod:`pathfit.datafiles.inputs`)."""

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

    def summary(self) -> Summary:
        """The fit as a statsmodels-like table: estimates, standard errors, intervals, t,
        condition number, status. Printing it (or ``.as_text()``) shows the table; ``.as_html()``
        and ``.to_dict()`` give HTML and a JSON-safe dict. Raises InputError before ``fit``."""
        from pathfit.estimators._summary import summarize

        return summarize(self)

    def _set_intervals(self, result: FitResult, like: torch.Tensor | None) -> None:
        """``ci_``, ``lam_stderr_`` and ``lam_ci_`` from the result, in the types the module
        docstring states (``ci_`` in ``like``'s dtype and device)."""
        if result.ci is None or like is None:
            self.ci_: torch.Tensor | None = None
        else:
            self.ci_ = torch.tensor(result.ci, dtype=like.dtype, device=like.device).reshape(-1, 2)
        self.lam_stderr_: float | None = (
            None if result.lam_stderr is None else float(result.lam_stderr)
        )
        self.lam_ci_: tuple[float, float] | None = (
            None if result.lam_ci is None else (float(result.lam_ci[0]), float(result.lam_ci[1]))
        )
