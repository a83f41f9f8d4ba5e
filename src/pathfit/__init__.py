"""pathfit: recover a coefficient from aggregate observations of diffusion paths.

The flow runs one way: simulate paths (``pathfit.processes``), aggregate them into targets
(``pathfit.targets``) and designs (``pathfit.design``), fit models (``pathfit.models``) with
estimators (``pathfit.estimators``), and ask the diagnostics how sure the answer is.

The names below are imported on first use (PEP 562), so that ``import pathfit.cli`` and
``pathfit --help`` do not pay for torch.

Example:
    >>> import pathfit as pf
    >>> paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=1000,
    ...                     horizon=10.0, seed=0)
    >>> targets = pf.make_targets(paths, pf.targets.ConstantLam(0.25))
    >>> pf.LeastSquares().fit(paths, targets).lam_
    0.25...
    >>> est = pf.fit(paths.values.numpy(), targets.values.numpy(), times=paths.times.numpy())
    >>> print(est.summary())  # estimate, std err, t, interval, condition number, status
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

if TYPE_CHECKING:
    from pathfit import models as models
    from pathfit import targets as targets
    from pathfit._api import fit as fit
    from pathfit._api import load as load
    from pathfit.amortized import AmortizedEstimator as AmortizedEstimator
    from pathfit.datafiles.inputs import as_paths as as_paths
    from pathfit.datafiles.inputs import as_targets as as_targets
    from pathfit.design import DesignAccumulator as DesignAccumulator
    from pathfit.design import StreamedPaths as StreamedPaths
    from pathfit.design import power_design as power_design
    from pathfit.design import simulate_designs as simulate_designs
    from pathfit.design import streamed_design as streamed_design
    from pathfit.estimators import FitResult as FitResult
    from pathfit.estimators import GradientFit as GradientFit
    from pathfit.estimators import LeastSquares as LeastSquares
    from pathfit.estimators import Summary as Summary
    from pathfit.estimators.batched import batched_gradient as batched_gradient
    from pathfit.estimators.batched import batched_least_squares as batched_least_squares
    from pathfit.estimators.batched import batched_per_sample_sgd as batched_per_sample_sgd
    from pathfit.estimators.selection import select_by_holdout as select_by_holdout
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

# public name -> the module that defines it (a module itself where the two are equal)
_HOMES = {
    "ABM": "pathfit.processes",
    "GBM": "pathfit.processes",
    "OU": "pathfit.processes",
    "EulerSDE": "pathfit.processes",
    "sample_times": "pathfit.processes",
    "simulate": "pathfit.processes",
    "ConvergenceWarning": "pathfit.exceptions",
    "InputError": "pathfit.exceptions",
    "PathfitError": "pathfit.exceptions",
    "AmortizedEstimator": "pathfit.amortized",
    "StreamedPaths": "pathfit.design",
    "DesignAccumulator": "pathfit.design",
    "power_design": "pathfit.design",
    "streamed_design": "pathfit.design",
    "simulate_designs": "pathfit.design",
    "batched_least_squares": "pathfit.estimators.batched",
    "batched_gradient": "pathfit.estimators.batched",
    "batched_per_sample_sgd": "pathfit.estimators.batched",
    "select_by_holdout": "pathfit.estimators.selection",
    "FitResult": "pathfit.estimators",
    "Summary": "pathfit.estimators",
    "fit": "pathfit._api",
    "load": "pathfit._api",
    "as_paths": "pathfit.datafiles.inputs",
    "as_targets": "pathfit.datafiles.inputs",
    "GradientFit": "pathfit.estimators",
    "LeastSquares": "pathfit.estimators",
    "Paths": "pathfit.paths",
    "Targets": "pathfit.targets",
    "make_targets": "pathfit.targets",
    "models": "pathfit.models",
    "targets": "pathfit.targets",
}

__all__ = sorted([*_HOMES, "__version__"])


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pathfit' has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if home == f"pathfit.{name}" else getattr(module, name)
    globals()[name] = value  # the next look-up is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
