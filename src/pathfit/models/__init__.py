"""Torch models of lambda (or of k) that pathfit's estimators fit."""

from pathfit.models._base import AbstractLinearModel as AbstractLinearModel
from pathfit.models._base import AbstractModel as AbstractModel
from pathfit.models.linear import ConstantLambda as ConstantLambda
from pathfit.models.linear import PolynomialK as PolynomialK
from pathfit.models.linear import PolynomialLambda as PolynomialLambda
from pathfit.models.networks import PointwiseMLP as PointwiseMLP
from pathfit.models.networks import SeedNetwork as SeedNetwork

__all__ = [
    "AbstractLinearModel",
    "AbstractModel",
    "ConstantLambda",
    "PointwiseMLP",
    "PolynomialK",
    "PolynomialLambda",
    "SeedNetwork",
]
