"""Diffusion processes: exact schemes for ABM, GBM and OU, Euler-Maruyama for the rest."""

from pathfit.processes._base import (
    AbstractExactProcess as AbstractExactProcess,
)
from pathfit.processes._base import (
    AbstractProcess as AbstractProcess,
)
from pathfit.processes._base import (
    sample_times as sample_times,
)
from pathfit.processes._base import (
    simulate as simulate,
)
from pathfit.processes.abm import ABM as ABM
from pathfit.processes.euler import EulerSDE as EulerSDE
from pathfit.processes.gbm import GBM as GBM
from pathfit.processes.ou import OU as OU
from pathfit.processes.tiling import PATH_BLOCK as PATH_BLOCK
from pathfit.processes.tiling import TIME_TILE as TIME_TILE

__all__ = [
    "ABM",
    "GBM",
    "OU",
    "PATH_BLOCK",
    "TIME_TILE",
    "AbstractExactProcess",
    "AbstractProcess",
    "EulerSDE",
    "sample_times",
    "simulate",
]
