"""What ``pathfit run`` and ``pathfit fit`` return: one typed outcome.

A :class:`RunOutcome` holds the data, the truth (a target specification, or None when it is
unknown), one :class:`MethodOutcome` per method and the lambda(x) experiment's
:class:`LambdaXOutcome`. The terminal table, the report and results.json read their
attributes; :meth:`RunOutcome.to_json` is the only place that turns them into dicts.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import pathfit
from pathfit._json import json_safe
from pathfit._threads import fixed_sum
from pathfit.app.methods import Estimator
from pathfit.design import StreamedPaths
from pathfit.diagnostics import Identifiability
from pathfit.estimators import FitResult, GradientFit, LeastSquares
from pathfit.estimators.selection import Selection
from pathfit.exceptions import PathfitError
from pathfit.models import AbstractLinearModel, AbstractModel, ConstantLambda
from pathfit.paths import Paths
from pathfit.targets import AbstractLinearSpec, ConstantLam, PolynomialLam, Targets

if TYPE_CHECKING:
    from pathfit.app.config import RunConfig
    from pathfit.estimators import LamCurve

SCHEMA_VERSION = 5
"""The version of results.json's layout (documented in docs/results.md)."""

Interval = tuple[float, float]


@dataclass(frozen=True)
class LamCurveOutcome:
    """A fit's learned lambda(x) on a grid over the observed x, with the truth beside it.

    Attributes:
        curve: lambda_hat(x), its pointwise band and how the band was found, as the
            estimator's ``lam_curve`` gives them.
        truth: (n,) the true lambda(x) on ``curve.x``; None when the truth is unknown or is
            not a lambda(x) (a polynomial k).
    """

    curve: LamCurve
    truth: torch.Tensor | None

    def to_json(self) -> dict[str, Any]:
        truth = None if self.truth is None else [float(v) for v in self.truth.detach().cpu()]
        return {**self.curve.summary(), "truth": truth}


def lam_curve_outcome(
    estimator: Estimator, grid: torch.Tensor, truth: AbstractLinearSpec | None
) -> LamCurveOutcome | None:
    """A fitted estimator's lambda(x) on ``grid`` beside the true one; None when it learns no
    lambda(x) (one lambda, a polynomial k, the seed network) or has no estimate (diverged)."""
    curve = estimator.lam_curve(grid)
    if curve is None:
        return None
    known = truth.lam(curve.x) if isinstance(truth, ConstantLam | PolynomialLam) else None
    return LamCurveOutcome(curve, known)


@dataclass(frozen=True)
class MethodOutcome:
    """One method's fit, compared with the truth where it is known.

    Attributes:
        name: the method ("least_squares", "seed_sgd", ...).
        estimator: the fitted estimator (unfitted when ``error`` is set).
        result: its FitResult, or None when the fit raised ``error``.
        identifiability: what the data determine for its model, or None after an error.
        error: the error that stopped the fit, or None.
        truth: what ``estimate`` is compared with: the true lambda (for a lambda(x), its mean
            over the observed x) or the true coefficients; None when unknown or not comparable.
        lam_curve: the learned lambda(x) on the grid over the observed x, with its band and
            the truth; None for a fit that learns no lambda(x) or has no estimate.
    """

    name: str
    estimator: Estimator
    result: FitResult | None
    identifiability: Identifiability | None = None
    error: PathfitError | None = None
    truth: float | tuple[float, ...] | None = None
    lam_curve: LamCurveOutcome | None = None

    @property
    def status(self) -> str:
        """How the fit ended: a FitResult status, or "failed" when it raised an error."""
        return "failed" if self.result is None else self.result.status

    @property
    def message(self) -> str:
        return str(self.error) if self.result is None else self.result.message

    @property
    def has_estimate(self) -> bool:
        return self.result is not None and self.result.status != "diverged"

    @property
    def vector(self) -> bool:
        """Whether the estimate is the coefficients of a polynomial model, not one lambda."""
        return is_polynomial(self.estimator.model)

    @property
    def estimate(self) -> float | tuple[float, ...] | None:
        """lambda, or the coefficients of a polynomial model; None without an estimate."""
        r = self.result
        if r is None or not self.has_estimate:
            return None
        if self.vector:
            return None if r.params is None else tuple(r.params)
        return r.lam

    @property
    def ci(self) -> Interval | tuple[Interval, ...] | None:
        """The estimate's interval at ``level`` (one per coefficient), or None."""
        r = self.result
        if r is None or not self.has_estimate:
            return None
        if self.vector:
            return None if r.ci is None else tuple(r.ci)
        return r.lam_ci

    @property
    def stderr(self) -> float | tuple[float, ...] | None:
        r = self.result
        if r is None or not self.has_estimate:
            return None
        if self.vector:
            return None if r.stderr is None else tuple(r.stderr)
        return r.lam_stderr

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the coefficients of a vector estimate (c0, c1, ... when not given)."""
        estimate = self.estimate
        if not isinstance(estimate, tuple):
            return ()
        given = () if self.result is None else self.result.param_names
        return (
            given if len(given) == len(estimate) else tuple(f"c{b}" for b in range(len(estimate)))
        )

    @property
    def abs_error(self) -> float | None:
        """|estimate - truth| (the largest over coefficients), or None."""
        estimate, truth = self.estimate, self.truth
        if estimate is None or truth is None:
            return None
        if isinstance(estimate, tuple) and isinstance(truth, tuple):
            return max(coefficient_errors(estimate, truth))
        if isinstance(estimate, float) and isinstance(truth, float):
            return abs(estimate - truth)
        return None

    @property
    def notes(self) -> tuple[str, ...]:
        """The fit's notes, less those that an identifiability warning already says (the seed
        network's note on its fitted lambda_j ends its diagnosis)."""
        if self.result is None:
            return ()
        return tuple(n for n in self.result.notes if not any(n in w for w in self.warnings))

    @property
    def warnings(self) -> tuple[str, ...]:
        return () if self.identifiability is None else tuple(self.identifiability.warnings)

    def to_json(self) -> dict[str, Any]:
        r = self.result
        stability = None if r is None else r.stability
        return {
            "name": self.name,
            "model": type(self.estimator.model).__name__ if r is None else r.model,
            "status": self.status,
            "message": self.message,
            "error": None if self.error is None else str(self.error),
            "estimate": (self.estimate),
            "param_names": list(self.param_names),
            "truth": (self.truth),
            "abs_error": self.abs_error,
            "stderr": (self.stderr),
            "ci": (self.ci),
            "level": None if r is None else r.level,
            "interval": None if r is None else r.interval,
            "uncertainty": None if r is None else r.uncertainty_note,
            "bias": None
            if r is None or not r.bias_note
            else {"estimate": r.bias, "corrected": r.bias_corrected, "note": r.bias_note},
            "steps": None if r is None else r.steps,
            "step": None if r is None else r.step,
            "evaluations": None if r is None else r.evaluations,
            "wall_s": None if r is None else r.wall_s,
            "notes": list(self.notes),
            "identifiability": None
            if self.identifiability is None
            else self.identifiability.summary(),
            "stability": None
            if stability is None
            else {
                "curvature": stability.curvature,
                "curvature_method": stability.curvature_method,
                "step": stability.step,
                "bound": stability.bound,
                "final_step": stability.final_step,
                "events": [event.message for event in stability.events],
            },
            "lam_curve": None if self.lam_curve is None else self.lam_curve.to_json(),
        }


@dataclass(frozen=True)
class LambdaXOutcome:
    """The lambda(x) experiment: a lambda that depends on x, recovered by least squares at the
    polynomial degree and by the pointwise MLP at the width chosen on held-out times.

    Attributes:
        truth: the true lambda(x).
        noise_std: the noise on its targets.
        x_range: the central 98% of the observed x, where the errors are measured.
        by_degree, by_width: the model choices (candidates, hold-out losses, the choice).
        least_squares: the chosen polynomial, refitted on all times.
        mlp: the chosen pointwise MLP, and its hidden width.
        ls_max_lam_error, mlp_max_lam_error: largest |lambda_hat(x) - lambda(x)| on x_range.
        ls_curve, mlp_curve: each chosen fit's lambda(x) on the grid over x_range, with its
            band and the truth.
    """

    truth: PolynomialLam
    noise_std: float
    x_range: Interval
    by_degree: Selection
    by_width: Selection
    least_squares: LeastSquares
    mlp: GradientFit
    mlp_width: int
    ls_max_lam_error: float
    mlp_max_lam_error: float
    ls_curve: LamCurveOutcome | None = None
    mlp_curve: LamCurveOutcome | None = None

    @property
    def degree(self) -> int:
        return len(self.least_squares.coef_) - 1

    @property
    def coef_abs_error(self) -> tuple[float, ...]:
        """|fitted - true| per coefficient, the shorter list padded with zeros."""
        return coefficient_errors(self.least_squares.coef_.tolist(), self.truth.coef)

    def to_json(self) -> dict[str, Any]:
        ls, mlp = self.least_squares, self.mlp
        return {
            "true_coef": list(self.truth.coef),
            "noise_std": self.noise_std,
            "x_range": list(self.x_range),
            "degree_selection": self.by_degree.summary(),
            "width_selection": self.by_width.summary(),
            "least_squares": {
                "degree": self.degree,
                "coef": ls.coef_.tolist(),
                "stderr": None if ls.stderr_ is None else ls.stderr_.tolist(),
                "coef_abs_error": list(self.coef_abs_error),
                "max_lam_error": self.ls_max_lam_error,
                "holdout_loss": self.by_degree.best_holdout_loss,
                "interval": ls.interval_,
                "lam_curve": None if self.ls_curve is None else self.ls_curve.to_json(),
            },
            "pointwise_mlp": {
                "width": self.mlp_width,
                "max_lam_error": self.mlp_max_lam_error,
                "holdout_loss": self.by_width.best_holdout_loss,
                "status": mlp.result_.status,
                "steps": mlp.result_.steps,
                "step": mlp.result_.step,
                "evaluations": mlp.result_.evaluations,
                "message": mlp.result_.message,
                "lam_curve": None if self.mlp_curve is None else self.mlp_curve.to_json(),
            },
        }


@dataclass(frozen=True)
class RunOutcome:
    """Everything ``pathfit run`` and ``pathfit fit`` report.

    Attributes:
        config: the configuration the run followed.
        truth: the true specification, or None when it is unknown (a data file without one).
        methods: one outcome per method, in the order they ran.
        paths, targets: the data the methods were fitted to; the paths are ``StreamedPaths``
            (their power sums and first few paths) when every method fits the design alone.
        source: the data file's name for ``pathfit fit``; None for simulated data.
        simulate_s: seconds spent simulating (0 for given data).
        lambda_x: the lambda(x) experiment, when the config asks for it.
        started, finished: UTC times, ISO 8601.
    """

    config: RunConfig
    truth: AbstractLinearSpec | None
    methods: tuple[MethodOutcome, ...]
    paths: Paths | StreamedPaths
    targets: Targets
    source: str | None
    simulate_s: float
    started: str
    finished: str
    lambda_x: LambdaXOutcome | None = None

    @property
    def level(self) -> float:
        return self.config.methods.level

    @cached_property
    def lam_mean_observed(self) -> float | None:
        """For a true lambda(x): its mean over the observed x, what one lambda estimates."""
        return mean_lam_observed(self.truth, self.paths)

    def to_json(self) -> dict[str, Any]:
        """results.json: JSON-safe, no NaN or inf (they become null)."""
        truth = None if self.truth is None else self.truth.to_truth()
        if truth is not None and self.lam_mean_observed is not None:
            truth["lam_mean_observed"] = self.lam_mean_observed
        return json_safe(
            {
                "schema_version": SCHEMA_VERSION,
                "config": self.config.model_dump(),
                "source": self.source,
                "truth": truth,
                "data": {"n_paths": self.paths.n_paths, "n_times": self.paths.n_times},
                "methods": [method.to_json() for method in self.methods],
                "lambda_x": None if self.lambda_x is None else self.lambda_x.to_json(),
                "simulate_s": self.simulate_s,
                "manifest": manifest(self.config, started=self.started, finished=self.finished),
            }
        )


def is_polynomial(model: AbstractModel) -> bool:
    """Whether a model's estimate is a list of coefficients rather than one lambda."""
    return isinstance(model, AbstractLinearModel) and not isinstance(model, ConstantLambda)


def method_truth(
    model: AbstractModel, truth: AbstractLinearSpec | None, lam_mean_observed: float | None
) -> float | tuple[float, ...] | None:
    """What the estimate of a fit of ``model`` is compared with (see ``MethodOutcome.truth``);
    ``lam_mean_observed`` is the mean of a true lambda(x) over the observed x."""
    if truth is None:
        return None
    if isinstance(model, AbstractLinearModel) and is_polynomial(model):
        # coefficients compare when they multiply the same powers of x (a lower degree is a
        # higher one with zeros); lambda(x) coefficients against k(x) ones do not
        same = model.powers[0] == truth.powers[0]
        return tuple(float(c) for c in truth.coef) if same else None
    if isinstance(truth, ConstantLam):
        return float(truth.value)
    return lam_mean_observed  # None for a polynomial k: one lambda has nothing to compare


def mean_lam_observed(
    truth: AbstractLinearSpec | None, paths: Paths | StreamedPaths
) -> float | None:
    """For a true lambda(x): its mean over every observed x_ij weighted by x_ij^2, the one
    lambda that predicts the same total k, which is what one lambda estimates."""
    if isinstance(truth, PolynomialLam) and isinstance(paths, StreamedPaths):
        totals = fixed_sum(paths.power_sums(truth.powers), dim=0)  # sum_ij x^(d+2) by degree
        coef = torch.tensor(truth.coef, dtype=totals.dtype, device=totals.device)
        return float(totals @ coef / totals[0])
    if isinstance(truth, PolynomialLam):
        square = paths.values.square()
        return float((truth.lam(paths.values) * square).sum() / square.sum())
    return None


def coefficient_errors(fitted: Sequence[float], true: Sequence[float]) -> tuple[float, ...]:
    """|fitted - true| per coefficient, the shorter list padded with zeros (a polynomial of
    lower degree is one of higher degree with zero coefficients)."""
    n = max(len(fitted), len(true))
    padded = [(*values, *[0.0] * (n - len(values))) for values in (fitted, true)]
    return tuple(abs(a - b) for a, b in zip(*padded, strict=True))


def versions() -> dict[str, str]:
    return {
        "pathfit": pathfit.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def manifest(config: RunConfig, *, started: str, finished: str) -> dict[str, Any]:
    """Who made a result and from what: versions, seed, device, a hash of the config, and when."""
    canonical = json.dumps(config.model_dump(), sort_keys=True)
    return {
        "versions": versions(),
        "seed": config.seed,
        "device": config.device,
        "config_hash": "sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
        "started": started,
        "finished": finished,
    }
