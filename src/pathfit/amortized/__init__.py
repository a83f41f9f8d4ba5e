"""Amortized inference: a network trained once on simulated datasets that maps any dataset
(paths and targets) to a posterior over lambda, with the validation that shows whether to
trust it."""

from pathfit.amortized._prior import Prior as Prior
from pathfit.amortized.estimator import AmortizedEstimator as AmortizedEstimator
from pathfit.amortized.estimator import Posterior as Posterior

__all__ = ["AmortizedEstimator", "Posterior", "Prior"]
