"""pathfit: recover a coefficient from aggregate observations of diffusion paths.

The flow runs one way: simulate paths (``pathfit.processes``), aggregate them into targets
(``pathfit.targets``) and designs (``pathfit.design``), fit models (``pathfit.models``) with
estimators (``pathfit.estimators``).

Example:
    >>> import pathfit as pf
    >>> paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=1000,
    ...                     horizon=10.0, seed=0)
    >>> targets = pf.make_targets(paths, pf.targets.ConstantLam(0.25))
    >>> pf.LeastSquares().fit(paths, targets).lam_
    0.25...
"""

__version__ = "0.1.0"

from pathfit import models as models
from pathfit import targets as targets
from pathfit.design import DesignAccumulator as DesignAccumulator
from pathfit.design import power_design as power_design
from pathfit.design import streamed_design as streamed_design
from pathfit.estimators import FitResult as FitResult
from pathfit.estimators import GradientFit as GradientFit
from pathfit.estimators import LeastSquares as LeastSquares
from pathfit.exceptions import ConvergenceWarning as ConvergenceWarning
from pathfit.exceptions import InputError as InputError
from pathfit.exceptions import PathfitError as PathfitError
from pathfit.paths import Paths as Paths
from pathfit.processes import ABM as ABM
from pathfit.processes import GBM as GBM
from pathfit.processes import OU as OU
from pathfit.processes import EulerSDE as EulerSDE
from pathfit.processes import sample_times as sample_times
from pathfit.processes import simulate as simulate
from pathfit.targets import Targets as Targets
from pathfit.targets import make_targets as make_targets

__all__ = [
    "ABM",
    "GBM",
    "OU",
    "ConvergenceWarning",
    "DesignAccumulator",
    "EulerSDE",
    "FitResult",
    "GradientFit",
    "InputError",
    "LeastSquares",
    "PathfitError",
    "Paths",
    "Targets",
    "__version__",
    "make_targets",
    "models",
    "power_design",
    "sample_times",
    "simulate",
    "streamed_design",
    "targets",
]
