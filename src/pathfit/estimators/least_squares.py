"""Closed-form least squares on the aggregated design."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from pathfit import _random
from pathfit._random import check_seed
from pathfit._types import Design, PathValues, TargetValues
from pathfit._validation import check_choice, check_int, check_tensor
from pathfit.choices import BIAS_CORRECTIONS, INTERVAL_METHODS, BiasCorrection, IntervalMethod
from pathfit.datafiles.inputs import as_paths
from pathfit.design import StreamedPaths
from pathfit.estimators._base import AbstractEstimator
from pathfit.estimators._curve import LamCurve, lam_curve
from pathfit.estimators._data import check_any_data, check_level, check_powers
from pathfit.estimators._jackknife import Bias, correct_bias
from pathfit.estimators._linalg import LinearSolution
from pathfit.estimators._result import FitResult
from pathfit.estimators._threads import fit_threads
from pathfit.estimators._uncertainty import N_BOOTSTRAP, Uncertainty, estimate_uncertainty
from pathfit.exceptions import InputError
from pathfit.models import AbstractLinearModel, ConstantLambda
from pathfit.paths import Paths
from pathfit.targets import Targets


class LeastSquares(AbstractEstimator):
    """Least squares for any model linear in its parameters, solved in closed form.

    Builds the aggregated design Phi (n_times, n_params) and solves min |Phi c - k|^2 through
    the SVD of the column-scaled design (never the normal equations).

    Intervals (``interval``): "classical" s^2 (Phi^T Phi)^-1, right for independent noise on
    each k_j; "path_bootstrap", right when k is a population quantity and the paths a finite
    sample; "hac" (Newey-West) and "block_bootstrap" for noise correlated in time; "auto"
    (default) reads the residuals and picks one, and the result says why.

    Finite-n bias (``bias_correction``): when k is a population quantity and the paths a
    sample, the estimate is biased by a term of order 1/n (+7.5% at n = 10 in the seed's
    experiment). A path jackknife (n leave-one-path-out refits, cheap on the aggregated design)
    estimates it wherever the interval method is the path bootstrap; "auto" (default) corrects
    when it exceeds 0.1 standard error, "none" only reports it, "jackknife" estimates it from
    any paths and always corrects. The result reports the bias and whether it was corrected.

    Args:
        model: a linear model (ConstantLambda, PolynomialLambda, PolynomialK); constant lambda
            by default.
        level: confidence level of the intervals.
        interval: the interval method, or "auto".
        n_bootstrap: replicates of the bootstrap methods.
        seed: seed of the bootstrap resampling.
        bias_correction: "auto", "none" or "jackknife" (above).
        threads: torch intra-op threads of the solve and its intervals; None (the default)
            chooses from the size of the work (see GradientFit). The caller's setting is
            restored afterwards.

    Attributes (after fit; tensors are in the paths' dtype, float32 kept):
        coef_: (n_params,) tensor of estimates.
        stderr_: (n_params,) tensor of standard errors, or None.
        ci_: (n_params, 2) tensor of the ``level`` intervals, or None.
        cov_: (n_params, n_params) covariance by the interval method, or None.
        lam_: the constant lambda estimate, a float (ConstantLambda only), else None.
        lam_stderr_, lam_ci_: its standard error (float) and interval (a pair of floats), or
            None.
        interval_: the interval method used.
        bias_: the finite-n bias account (its estimate, whether corrected, why).
        rank_, condition_number_: of the column-scaled design.
        n_paths_, n_times_: the data's size (``n_paths_`` None after ``fit_design``).
        model_: a copy of ``model`` holding the estimates.
        result_: the FitResult.

    Paths may be ``Paths`` (or ``StreamedPaths``), a (n_paths, n_times) array or tensor with
    ``times=``, or a pandas DataFrame in the data files' long or wide layout; targets a
    ``Targets``, (n_times,) values, or a DataFrame/Series that carries the times.

    Example:
        >>> est = LeastSquares(ConstantLambda()).fit(paths, targets)
        >>> est.lam_, est.lam_ci_, est.interval_
        >>> print(est.summary())
    """

    def __init__(
        self,
        model: AbstractLinearModel | None = None,
        *,
        level: float = 0.95,
        interval: IntervalMethod = "auto",
        n_bootstrap: int = N_BOOTSTRAP,
        seed: int = 0,
        bias_correction: BiasCorrection = "auto",
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.level = level
        self.interval = interval
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.bias_correction = bias_correction
        self.threads = threads

    def check_hyperparameters(self) -> None:
        """Check every hyperparameter (``fit`` does this first); raises InputError naming it."""
        self._checked_model()

    def _checked_model(self) -> AbstractLinearModel:
        model = ConstantLambda() if self.model is None else self.model
        if not isinstance(model, AbstractLinearModel):
            raise InputError(
                "model",
                type(model).__name__,
                "a model linear in its parameters (use GradientFit for networks)",
            )
        check_level(self.level)
        check_choice("interval", self.interval, INTERVAL_METHODS)
        check_choice("bias_correction", self.bias_correction, BIAS_CORRECTIONS)
        check_int("n_bootstrap", self.n_bootstrap, minimum=2)
        check_seed("seed", self.seed)
        if self.threads is not None:
            check_int("threads", self.threads, minimum=1)
        return model

    def fit(
        self,
        paths: Paths | StreamedPaths | object,
        targets: Targets | TargetValues | object = None,
        *,
        times: object = None,
    ) -> LeastSquares:
        """Fit to paths and their targets; returns self.

        ``paths`` may be :class:`~pathfit.design.StreamedPaths`, which hold only the paths'
        power sums: they must keep powers up to twice the model's highest (for "auto" and the
        identifiability checks); a path bootstrap simulates them again. An array or tensor of
        paths needs its (n_times,) ``times`` unless the targets carry them; a wide DataFrame
        with a ``k`` column needs no targets.
        """
        model = self._checked_model()
        paths, values = check_any_data(paths, targets, len(model.powers), times)
        check_powers(paths, max(model.powers))
        whole = paths if isinstance(paths, StreamedPaths) else paths.values
        self._fit(model, model.prepare(paths), values, whole)
        self.n_paths_: int | None = paths.n_paths
        return self

    def fit_design(self, design: Design, targets: TargetValues) -> LeastSquares:
        """Fit to a design built elsewhere (for example streamed over blocks of paths).

        Without the paths, "auto" chooses among classical and Newey-West errors only.
        """
        model = self._checked_model()
        design = check_tensor("design", design, ndim=2)
        targets = check_tensor("targets", targets, ndim=1).to(design)
        n_params = len(model.powers)
        if design.shape[1] != n_params:
            raise InputError(
                "design",
                f"{design.shape[1]} columns",
                f"{n_params} columns, one per parameter of {type(model).__name__}",
            )
        if design.shape[0] != targets.shape[0]:
            raise InputError(
                "targets",
                f"{targets.shape[0]} values for {design.shape[0]} rows of the design",
                "one target per design row",
            )
        if design.shape[0] < n_params:
            raise InputError(
                "n_times",
                design.shape[0],
                f"at least {n_params} observation times, one per parameter",
            )
        self._fit(model, design, targets, None)
        self.n_paths_ = None
        return self

    def _fit(
        self,
        model: AbstractLinearModel,
        design: Design,
        targets: TargetValues,
        values: PathValues | StreamedPaths | None,
    ) -> LeastSquares:
        # the solve, and a path bootstrap's one product per replicate and power
        work = design.numel() * design.shape[1]
        if values is not None and self.interval in ("auto", "path_bootstrap"):
            n_values = design.shape[0] * (
                values.n_paths if isinstance(values, StreamedPaths) else values.shape[0]
            )
            work += self.n_bootstrap * n_values * len(model.powers)
        with fit_threads(self.threads, work):
            return self._solve(model, design, targets, values)

    def _solve(
        self,
        model: AbstractLinearModel,
        design: Design,
        targets: TargetValues,
        values: PathValues | StreamedPaths | None,
    ) -> LeastSquares:
        start = time.perf_counter()
        solution, uncertainty = estimate_uncertainty(
            design,
            None,
            targets,
            method=self.interval,
            level=self.level,
            values=values,
            powers=model.powers,
            n_bootstrap=self.n_bootstrap,
            generator=_random.stream(self.seed, _random.BOOTSTRAP),
        )
        solution, bias = correct_bias(
            self.bias_correction, solution, uncertainty, design, targets, values, model.powers
        )
        self.bias_ = bias
        self.model_ = copy.deepcopy(model).to(design)
        with torch.no_grad():
            self.model_.coef.copy_(solution.coef)
        self.coef_ = solution.coef
        self.cov_ = uncertainty.cov
        self.stderr_ = None if uncertainty.cov is None else uncertainty.cov.diagonal().sqrt()
        self.n_times_ = design.shape[0]
        self.interval_ = uncertainty.method
        self.uncertainty_ = uncertainty
        self.rank_ = solution.rank
        self.condition_number_ = solution.condition_number
        self.residuals_ = solution.residuals
        self.lam_ = self.model_.lam_estimate(design)
        notes = []
        if solution.rank < design.shape[1]:
            notes.append(
                f"not identified: the design has rank {solution.rank} < {design.shape[1]} "
                "parameters, so these data cannot tell some combination of the coefficients "
                "from zero; the estimate is the minimum-norm solution"
            )
        self.result_ = linear_result(
            "least_squares",
            self.model_,
            solution,
            uncertainty,
            self.level,
            bias=bias,
            steps=1,
            wall_s=time.perf_counter() - start,
            status="converged",
            notes=notes,
            message=(
                f"closed-form solve of a {design.shape[0]} x {design.shape[1]} design (rank "
                f"{solution.rank}, scaled condition number {solution.condition_number:.3g})"
            ),
        )
        self._set_intervals(self.result_, self.coef_)
        return self

    def lam_curve(self, x: torch.Tensor) -> LamCurve | None:
        """lambda_hat(x) on the points ``x`` with its pointwise band at ``level``, for a
        polynomial lambda(x) (from the coefficients' covariance); None for other models."""
        return lam_curve(self.model_, x, level=self.level, uncertainty=self.uncertainty_)

    def predict(
        self, paths: Paths | StreamedPaths | object, *, times: object = None
    ) -> TargetValues:
        """k_hat_j for new paths (any form ``fit`` accepts) at the fitted coefficients."""
        paths = as_paths(paths, times)
        with torch.no_grad():
            return self.model_(self.model_.prepare(paths))

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the fitted estimator to one safetensors file (tensors, and JSON in its header:
        hyperparameters, model, fitted values, versions, format); no pickle. Atomic; an
        existing file is an InputError unless ``overwrite``. Returns the path."""
        from pathfit.estimators._persist import save_estimator

        return save_estimator(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> LeastSquares:
        """A LeastSquares written by ``save``; a file of another kind, class or newer format
        is an InputError naming it."""
        from pathfit.estimators._persist import load_estimator

        return load_estimator(path, cls)


def linear_result(
    method: str,
    model: AbstractLinearModel,
    solution: LinearSolution,
    uncertainty: Uncertainty,
    level: float,
    bias: Bias | None = None,
    **fields: object,
) -> FitResult:
    """A FitResult for a linear model's estimates with their intervals (and the account of
    their finite-n bias, where one was made)."""
    coef = solution.coef.tolist()
    stderr = ci = lam_stderr = lam_ci = None
    if uncertainty.cov is not None:
        q = uncertainty.quantile
        stderr = uncertainty.cov.diagonal().sqrt().tolist()
        ci = [(c - q * s, c + q * s) for c, s in zip(coef, stderr, strict=True)]
    lam = model.lam_estimate(solution.coef.unsqueeze(0))
    if lam is not None and stderr is not None and ci is not None:
        lam_stderr, lam_ci = stderr[0], ci[0]
    return FitResult(
        method=method,
        model=type(model).__name__,
        level=level,
        param_names=model.names,
        params=coef,
        stderr=stderr,
        ci=ci,
        lam=lam,
        lam_stderr=lam_stderr,
        lam_ci=lam_ci,
        interval=uncertainty.method,
        uncertainty_note=uncertainty.note or uncertainty.reason,
        bias=None if bias is None or bias.estimate is None else bias.estimate.tolist(),
        bias_corrected=bias is not None and bias.corrected,
        bias_note="" if bias is None else bias.note,
        **fields,  # type: ignore[arg-type]
    )
