"""Estimators: closed-form least squares and guarded gradient training.

Their closed option sets (``Mode``, ``OptimizerName``, ``IntervalMethod``) are declared in
:mod:`pathfit.choices` and re-exported here; each estimator checks its hyperparameters in
``check_hyperparameters``, which ``fit`` calls first.
"""

from pathfit.choices import IntervalMethod as IntervalMethod
from pathfit.choices import Mode as Mode
from pathfit.choices import OptimizerName as OptimizerName
from pathfit.estimators._curve import LamCurve as LamCurve
from pathfit.estimators._data import check_data as check_data
from pathfit.estimators._data import min_times as min_times
from pathfit.estimators._result import FitResult as FitResult
from pathfit.estimators._result import GuardEvent as GuardEvent
from pathfit.estimators._result import History as History
from pathfit.estimators._result import Stability as Stability
from pathfit.estimators._summary import Summary as Summary
from pathfit.estimators.gradient import GradientFit as GradientFit
from pathfit.estimators.gradient import resolve_optimizer as resolve_optimizer
from pathfit.estimators.least_squares import LeastSquares as LeastSquares

__all__ = [
    "FitResult",
    "GradientFit",
    "GuardEvent",
    "History",
    "IntervalMethod",
    "LamCurve",
    "LeastSquares",
    "Mode",
    "OptimizerName",
    "Stability",
    "Summary",
    "check_data",
    "min_times",
    "resolve_optimizer",
]
