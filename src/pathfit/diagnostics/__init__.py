"""Diagnostics: identifiability, uncertainty, gradient checks."""

from pathfit.diagnostics.identifiability import Identifiability as Identifiability
from pathfit.diagnostics.identifiability import linear_identifiability as linear_identifiability
from pathfit.diagnostics.identifiability import (
    network_identifiability as network_identifiability,
)

__all__ = ["Identifiability", "linear_identifiability", "network_identifiability"]
