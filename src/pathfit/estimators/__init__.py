"""Estimators: closed-form least squares and guarded gradient training."""

from pathfit.estimators._data import check_data as check_data
from pathfit.estimators._data import min_times as min_times
from pathfit.estimators._result import FitResult as FitResult
from pathfit.estimators._result import GuardEvent as GuardEvent
from pathfit.estimators._result import History as History
from pathfit.estimators._result import Stability as Stability
from pathfit.estimators.gradient import GradientFit as GradientFit
from pathfit.estimators.least_squares import LeastSquares as LeastSquares

__all__ = [
    "FitResult",
    "GradientFit",
    "GuardEvent",
    "History",
    "LeastSquares",
    "Stability",
    "check_data",
    "min_times",
]
