"""Model choice by hold-out loss: which polynomial degree, which network width."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from pathfit._random import check_seed
from pathfit._types import TargetValues
from pathfit._validation import check_choice, check_real
from pathfit.estimators._data import check_data
from pathfit.estimators.gradient import GradientFit
from pathfit.estimators.holdout import split_times
from pathfit.estimators.least_squares import LeastSquares
from pathfit.exceptions import ConvergenceWarning, InputError
from pathfit.paths import Paths
from pathfit.targets import Targets


@dataclass(frozen=True)
class Candidate:
    """One row of the model-choice table."""

    name: str
    n_params: int
    train_loss: float
    holdout_loss: float
    holdout_loss_se: float
    status: str


@dataclass
class Selection:
    """The candidates, their hold-out losses, and the choice."""

    holdout: float
    n_holdout: int
    rule: str
    candidates: list[Candidate] = field(default_factory=list)
    best: str = ""
    estimators: dict[str, Any] = field(default_factory=dict)

    @property
    def best_holdout_loss(self) -> float:
        """The chosen candidate's hold-out loss (NaN when none was chosen)."""
        return next((c.holdout_loss for c in self.candidates if c.name == self.best), math.nan)

    def summary(self) -> dict[str, Any]:
        return {
            "holdout": self.holdout,
            "n_holdout": self.n_holdout,
            "rule": self.rule,
            "best": self.best,
            "candidates": [c.__dict__ for c in self.candidates],
        }


def _subset(paths: Paths, index: torch.Tensor) -> Paths:
    return Paths(paths.values[:, index], paths.times[index])


def select_by_holdout(
    candidates: Mapping[str, LeastSquares | GradientFit],
    paths: Paths,
    targets: Targets | TargetValues,
    *,
    holdout: float = 0.2,
    seed: int = 0,
    rule: Literal["one_se", "min"] = "one_se",
) -> Selection:
    """Fit each candidate on the training times and rank them by their loss on held-out times.

    The hold-out is a random ``holdout`` fraction of the time indices, the same for every
    candidate (and the same split a GradientFit with this ``seed`` and ``holdout`` makes, so a
    gradient candidate early-stops on exactly these times). Least-squares candidates are fitted
    on the training times; the returned estimators are those fits.

    With ``rule="one_se"`` (default) the choice is the candidate with the fewest parameters
    whose hold-out loss is within one standard error of the lowest, so that a degree that
    only fits the noise of the held-out times is not chosen; ``"min"`` takes the lowest.

    Returns:
        A Selection whose ``best`` names the chosen candidate.
    """
    holdout = check_real("holdout", holdout)
    if not 0 < holdout < 1:
        raise InputError("holdout", holdout, "a fraction of the times in (0, 1)")
    if not candidates:
        raise InputError("candidates", "none", "at least one candidate model")
    seed = check_seed("seed", seed)
    paths, k = check_data(paths, targets, 1)
    train, held = split_times(k.shape[0], holdout, 1, seed)
    assert train is not None and held is not None
    train_paths, held_paths = _subset(paths, train), _subset(paths, held)
    check_choice("rule", rule, ("one_se", "min"))
    selection = Selection(holdout=holdout, n_holdout=held.numel(), rule=rule)
    for name, estimator in candidates.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if isinstance(estimator, GradientFit):
                estimator.set_params(holdout=holdout, seed=seed).fit(paths, k)
            else:
                estimator.fit(train_paths, k[train])
        model = estimator.model_
        with torch.no_grad():
            train_loss = float((model(model.prepare(train_paths)) - k[train]).square().mean())
            held_errors = (model(model.prepare(held_paths)) - k[held]).square()
        held_se = float(held_errors.std() / math.sqrt(held.numel())) if held.numel() > 1 else 0.0
        selection.candidates.append(
            Candidate(
                name,
                model.n_params,
                train_loss,
                float(held_errors.mean()),
                held_se,
                estimator.result_.status,
            )
        )
        selection.estimators[name] = estimator
    finite = [c for c in selection.candidates if math.isfinite(c.holdout_loss)]
    if not finite:
        return selection
    lowest = min(finite, key=lambda c: c.holdout_loss)
    if rule == "min":
        selection.best = lowest.name
    else:
        # Losses at rounding level (residuals below 1e-10 of the targets' size) are ties.
        exact = 1e-20 * float(k.square().mean())
        bar = max(lowest.holdout_loss + lowest.holdout_loss_se, exact)
        within = [c for c in finite if c.holdout_loss <= bar]
        selection.best = min(within, key=lambda c: (c.n_params, c.holdout_loss)).name
    return selection
