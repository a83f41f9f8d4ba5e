"""Diagnostics: identifiability, uncertainty, gradient checks."""

from pathfit.diagnostics.gradcheck import GradientCheck as GradientCheck
from pathfit.diagnostics.gradcheck import check_gradients as check_gradients
from pathfit.diagnostics.identifiability import Identifiability as Identifiability
from pathfit.diagnostics.identifiability import identify as identify
from pathfit.diagnostics.identifiability import linear_identifiability as linear_identifiability
from pathfit.diagnostics.identifiability import (
    network_identifiability as network_identifiability,
)

__all__ = [
    "GradientCheck",
    "Identifiability",
    "check_gradients",
    "identify",
    "linear_identifiability",
    "network_identifiability",
]
