"""Guarded gradient training of any pathfit model."""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from scipy import special
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pathfit import _random
from pathfit._random import check_seed
from pathfit._threads import fixed_mean, fixed_sum, svd, svdvals
from pathfit._types import TargetValues
from pathfit._validation import check_choice, check_int, check_real
from pathfit.choices import (
    BIAS_CORRECTIONS,
    INTERVAL_METHODS,
    MODES,
    OPTIMIZERS,
    BiasCorrection,
    IntervalMethod,
    Mode,
    OptimizerName,
    Status,
)
from pathfit.datafiles.inputs import as_paths
from pathfit.estimators._base import AbstractEstimator
from pathfit.estimators._curvature import linear_curvature, power_iteration_curvature
from pathfit.estimators._curve import LamCurve, lam_curve, lam_x_identification
from pathfit.estimators._data import check_data, check_level, check_powers, min_times
from pathfit.estimators._jackknife import Bias, correct_bias
from pathfit.estimators._result import EventKind, FitResult, GuardEvent, History, Stability
from pathfit.estimators._threads import fit_threads, model_work
from pathfit.estimators._uncertainty import (
    N_BOOTSTRAP,
    Linearized,
    Uncertainty,
    estimate_uncertainty,
    linearized_uncertainty,
)
from pathfit.estimators.holdout import split_times
from pathfit.estimators.least_squares import linear_result
from pathfit.exceptions import ConvergenceWarning, InputError
from pathfit.models import AbstractLinearModel, AbstractModel, PointwiseMLP, SeedNetwork
from pathfit.paths import Paths
from pathfit.targets import Targets

_HISTORY_PARAMS = 64
_ADAM_STEP = 1e-2
_LBFGS_ITERATIONS = 20
_LM_TRIALS = 12  # Levenberg-Marquardt: damped trial steps per iteration before it gives up
_LM_DAMPING = 1e-6  # initial damping, relative to the largest squared singular value of J
_GRAD_TOL = 1e-6
# Networks: convergence is judged on what the model predicts, not on its weights (which the data
# do not identify). See _Training._judge.
_WINDOW = 3  # checks over which the answer must have settled
_ANSWER_RTOL = 1e-7  # largest relative change of k_hat or lambda per check, over the window
_ANSWER_EPS = 8  # ... but never below this many units of rounding of the dtype
_FLOOR_EPS = 10  # noise-free floor: sqrt(loss / mean k^2) at this many units of rounding
# Noisy data, Gauss-Newton: what is left to fit in the span of the Jacobian is no larger than
# noise would leave there, by an F test at this false-alarm rate (see _noise_floor), at this
# many checks in a row. One check is not enough: the test passes while up to a noise's worth is
# left to fit, on the starting point's side, so the seed network stopped about 1.8 of its
# standard errors short of its least-squares fit (its 95% intervals covered 0.68); the full step
# taken before the second check removes that offset (mean z-score -0.11 over 24 seeds).
_NOISE_ALARM = 1e-3
_FLOOR_CHECKS = 2


def resolve_optimizer(
    optimizer: OptimizerName, model: AbstractModel, mode: Mode = "full"
) -> OptimizerName:
    """The optimiser "auto" stands for with ``model`` in ``mode``: SGD for one linear
    parameter, Gauss-Newton for a network on the full batch, else L-BFGS; any other name as
    given."""
    if optimizer != "auto":
        return optimizer
    if isinstance(model, AbstractLinearModel):
        return "sgd" if len(model.powers) == 1 else "lbfgs"
    return "gauss_newton" if mode == "full" else "lbfgs"


class GradientFit(AbstractEstimator):
    """Fit a model by gradient descent on the MSE of its predictions of k.

    Modes: ``"per_sample"`` takes one time index j per step (the seed question's recipe),
    ``"minibatch"`` shuffled batches of j each epoch, ``"full"`` all j every step. The time order
    is shuffled for training only, from the fit's own seed.

    The step size defaults to 1/L, half the stable bound 2/L of gradient descent, where L is the
    curvature of the loss in the training mode: exact for linear models (2 |Phi|^2 / m full batch,
    2 max_j |Phi_j|^2 per sample), by power iteration for networks. Adam starts at 1e-2 and
    L-BFGS at 1 with a strong-Wolfe line search.

    With ``guard=True`` a non-finite loss, or one above ``explode_factor`` times the scale of
    the initial residuals, rolls the parameters back to the best seen, halves the step, records
    the event and goes on; after ``max_halvings`` the fit stops as diverged. With
    ``guard=False`` the recipe runs as given and stops, diverged, only when the loss is no
    longer finite.

    Args:
        model: any pathfit model.
        mode: "per_sample", "minibatch" or "full".
        optimizer: "sgd", "adam", "lbfgs", or "auto" (the default): SGD at 1/L for a model
            with one linear parameter (exact in one full-batch step), else L-BFGS (the
            columns x^2, x^3, ... of a polynomial's design differ so much in scale that plain
            gradient descent crawls, and networks are not convex).
        lr: step size; None chooses it from the curvature as above.
        batch_size: time indices per minibatch.
        max_steps: optimiser steps at most.
        tol: linear models converge when the largest relative parameter change over a step
            (full batch) or an epoch (per-sample, minibatch) is at most tol and the gradient
            has fallen 1e6-fold. Networks, whose weights the data do not identify, are judged
            on what they predict: converged when the relative root-mean-square loss
            sqrt(loss / mean k^2) is at rounding level (10 eps of the dtype), when the gradient
            norm has fallen 1e6-fold more than sqrt(loss), or when k_hat and the lambda
            estimate have each moved by at most max(1e-7, 8 eps) relative per check over the
            last 3 checks; stalled when the weights stop moving (change <= tol, after one
            L-BFGS restart) before the answer has settled.
        guard: roll back and halve the step on a non-finite or exploding loss.
        explode_factor: how many times the initial residual scale counts as exploding.
        max_halvings: guard events before giving up.
        seed: seed of the training order.
        level: confidence level of the intervals (linear models).
        interval: the interval method, as for LeastSquares (networks: of their linearization).
        n_bootstrap: replicates of the bootstrap intervals.
        bias_correction: a linear model's finite-n bias by the path jackknife, as for
            LeastSquares ("auto", "none", "jackknife"); a network takes "auto" or "none",
            which leave it alone (the jackknife refits a model linear in its parameters).
        holdout: fraction of the times held out for early stopping (0: none).
        patience: checks without improvement of the held-out loss before stopping early.
        name: the method name in results.
        threads: torch intra-op threads of the fit; None (the default) chooses from the size
            of the work: one for small fits, more for large ones, at most the cores this
            process may use. The caller's setting is restored afterwards.

    Attributes (after fit; tensors in the paths' dtype, float32 kept; the types are those of
    every estimator, see :mod:`pathfit.estimators._base`):
        model_: the trained copy of ``model``.
        coef_: (n_params,) tensor of estimates for linear models, else None.
        stderr_: (n_params,) tensor of their standard errors, else None.
        ci_: (n_params, 2) tensor of their ``level`` intervals, else None.
        lam_: the single-number lambda estimate (a float), where the model has one.
        lam_stderr_, lam_ci_: its standard error (float) and interval (pair of floats), where
            defined (networks: linearized).
        condition_number_: of the column-scaled design (linear models); None for networks
            and diverged fits.
        n_paths_, n_times_: the data's size.
        optimizer_: the optimiser used ("auto" resolved).
        n_iter_: steps taken (``result_.step`` says what one is).
        n_evaluations_: loss-and-gradient evaluations in training.
        status_: "converged", "early_stopped", "max_steps", "stalled" or "diverged".
        result_: the FitResult.
        cov_, interval_, uncertainty_: a linear model's covariance, interval method and the
            account of both (None for networks and diverged fits).
        bias_: a linear model's finite-n bias account (None for networks and diverged fits);
            when it was corrected, ``coef_``, ``lam_`` and ``model_`` hold the corrected
            estimate.
        linearized_: a network's linearized covariance on the weight directions that move
            k_hat (None for linear models and diverged fits); ``result_.lam_ci`` and
            ``lam_curve`` come from it.
    """

    def __init__(
        self,
        model: AbstractModel,
        *,
        mode: Mode = "full",
        optimizer: OptimizerName = "auto",
        lr: float | None = None,
        batch_size: int = 32,
        max_steps: int = 10_000,
        tol: float = 1e-10,
        guard: bool = True,
        explode_factor: float = 1e3,
        max_halvings: int = 40,
        seed: int = 0,
        level: float = 0.95,
        interval: IntervalMethod = "auto",
        n_bootstrap: int = N_BOOTSTRAP,
        bias_correction: BiasCorrection = "auto",
        holdout: float = 0.0,
        patience: int = 10,
        name: str = "gradient",
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.mode = mode
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.tol = tol
        self.guard = guard
        self.explode_factor = explode_factor
        self.max_halvings = max_halvings
        self.seed = seed
        self.level = level
        self.interval = interval
        self.n_bootstrap = n_bootstrap
        self.bias_correction = bias_correction
        self.holdout = holdout
        self.patience = patience
        self.name = name
        self.threads = threads

    def check_hyperparameters(self) -> None:
        """Check every hyperparameter (``fit`` does this first); raises InputError naming it."""
        if not isinstance(self.model, AbstractModel):
            raise InputError("model", type(self.model).__name__, "a pathfit model")
        check_choice("mode", self.mode, MODES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.optimizer == "gauss_newton" and self.mode != "full":
            raise InputError(
                "optimizer", "'gauss_newton'", f'mode = "full" (got mode = "{self.mode}")'
            )
        if self.lr is not None:
            check_real("lr", self.lr, positive=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("max_steps", self.max_steps, minimum=1)
        check_real("tol", self.tol, nonnegative=True)
        check_real("explode_factor", self.explode_factor, positive=True)
        check_int("max_halvings", self.max_halvings, minimum=0)
        check_seed("seed", self.seed)
        check_level(self.level)
        check_choice("interval", self.interval, INTERVAL_METHODS)
        check_int("n_bootstrap", self.n_bootstrap, minimum=2)
        check_choice("bias_correction", self.bias_correction, BIAS_CORRECTIONS)
        if self.bias_correction == "jackknife" and not isinstance(self.model, AbstractLinearModel):
            raise InputError(
                "bias_correction",
                "'jackknife'",
                "'auto' or 'none' for a network (the jackknife refits a model linear in its "
                "parameters)",
            )
        holdout = check_real("holdout", self.holdout, nonnegative=True)
        if holdout >= 1:
            raise InputError("holdout", holdout, "a fraction of the times in [0, 1)")
        check_int("patience", self.patience, minimum=1)
        if self.threads is not None:
            check_int("threads", self.threads, minimum=1)

    def fit(
        self,
        paths: Paths | object,
        targets: Targets | TargetValues | object = None,
        *,
        times: object = None,
    ) -> GradientFit:
        """Train a copy of the model on paths and their targets; returns self. Paths and
        targets may be any form LeastSquares.fit accepts except streamed paths (arrays and
        tensors with ``times``, DataFrames in the data files' layouts)."""
        start = time.perf_counter()
        self.check_hyperparameters()
        paths, k = check_data(paths, targets, min_times(self.model), times)
        self.n_paths_, self.n_times_ = paths.n_paths, paths.n_times
        # a linear model's design holds x^q; a network's Jacobian holds x^2, squared again in
        # the curvature and the Gauss-Newton solve
        linear = isinstance(self.model, AbstractLinearModel)
        check_powers(paths, max(self.model.powers) if linear else 4)
        with fit_threads(self.threads, model_work(self.model, paths)):
            return self._fit(paths, k, start)

    def _fit(self, paths: Paths, k: TargetValues, start: float) -> GradientFit:
        self.optimizer_ = resolve_optimizer(self.optimizer, self.model, self.mode)
        self.cov_: torch.Tensor | None = None
        self.interval_: str | None = None
        self.uncertainty_: Uncertainty | None = None  # linear models
        self.linearized_: Linearized | None = None  # networks
        self.bias_: Bias | None = None  # linear models
        self.condition_number_: float | None = None
        model = copy.deepcopy(self.model).to(dtype=paths.dtype, device=paths.device)
        model.adapt(paths)
        inputs = model.prepare(paths)
        train, held = split_times(k.shape[0], self.holdout, min_times(model), self.seed)
        holdout = None if held is None else (inputs[held], k[held])
        if train is not None:
            inputs, k = inputs[train], k[train]
        run = _Training(self, model, inputs, k, holdout)
        status, message = run.train()
        self.model_ = model
        self.n_iter_ = run.steps
        self.n_evaluations_ = run.evaluations
        self.status_ = status
        self.coef_ = (
            model.coef.detach().clone()
            if isinstance(model, AbstractLinearModel) and status != "diverged"
            else None
        )
        self.lam_ = model.lam_estimate(inputs) if status != "diverged" else None
        if status not in ("converged", "early_stopped"):
            warnings.warn(f"{self.name}: {status}: {message}", ConvergenceWarning, stacklevel=2)
        values = paths.values if train is None else paths.values[:, train]
        self.result_ = self._result(
            model, inputs, k, values, run, status, message, wall_s=time.perf_counter() - start
        )
        if self.bias_ is not None and self.bias_.corrected:
            self.coef_ = model.coef.detach().clone()  # corrected in _result
            self.lam_ = model.lam_estimate(inputs)
        self.stderr_ = None if self.cov_ is None else self.cov_.diagonal().sqrt()
        self._set_intervals(self.result_, self.coef_)
        return self

    def step_description(self) -> str:
        """What one step of this fit is, in words (after ``fit``, which resolves "auto")."""
        data = {
            "per_sample": "one sample",
            "minibatch": f"one minibatch of {self.batch_size} times",
            "full": "one full batch",
        }[self.mode]
        if self.optimizer_ == "gauss_newton":
            return (
                "one Levenberg-Marquardt iteration on the full batch (a Jacobian, then up to "
                f"{_LM_TRIALS} damped trial steps until one lowers the loss)"
            )
        if self.optimizer_ != "lbfgs":
            return data
        call = f"one L-BFGS call of up to {_LBFGS_ITERATIONS} iterations"
        return call if self.mode == "full" else f"{call} on {data}"

    def predict(self, paths: Paths | object, *, times: object = None) -> TargetValues:
        """k_hat_j for new paths (any form ``fit`` accepts) with the trained model."""
        paths = as_paths(paths, times)
        with torch.no_grad():
            return self.model_(self.model_.prepare(paths))

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the fitted estimator, its trained network's weights included, to one
        safetensors file (see LeastSquares.save); no pickle. Returns the path."""
        from pathfit.estimators._persist import save_estimator

        return save_estimator(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> GradientFit:
        """A GradientFit written by ``save``; another kind of file is an InputError."""
        from pathfit.estimators._persist import load_estimator

        return load_estimator(path, cls)

    def lam_curve(self, x: torch.Tensor) -> LamCurve | None:
        """lambda_hat(x) on the points ``x`` with its pointwise band at ``level``, for a model
        that learns a lambda(x) (pointwise MLP: linearized; polynomial lambda(x): from the
        coefficients' covariance); None for other models or a diverged fit."""
        if self.status_ == "diverged":
            return None
        return lam_curve(
            self.model_,
            x,
            level=self.level,
            uncertainty=self.uncertainty_,
            linearized=self.linearized_,
        )

    def _result(
        self,
        model: AbstractModel,
        inputs: torch.Tensor,
        k: TargetValues,
        values: torch.Tensor,
        run: _Training,
        status: Status,
        message: str,
        wall_s: float,
    ) -> FitResult:
        fields = dict(
            status=status,
            message=message,
            steps=run.steps,
            evaluations=run.evaluations,
            step=self.step_description(),
            wall_s=wall_s,
            history=run.history,
            stability=run.stability,
        )
        if status == "diverged":
            return FitResult(
                method=self.name,
                model=type(model).__name__,
                level=self.level,
                uncertainty_note="no estimate: the fit diverged",
                **fields,
            )
        if isinstance(model, AbstractLinearModel):
            solution, uncertainty = estimate_uncertainty(
                inputs,
                model.coef.detach(),
                k,
                method=self.interval,
                level=self.level,
                values=values,
                powers=model.powers,
                n_bootstrap=self.n_bootstrap,
                generator=_random.stream(self.seed, _random.BOOTSTRAP),
            )
            solution, bias = correct_bias(
                self.bias_correction, solution, uncertainty, inputs, k, values, model.powers
            )
            if bias.corrected:
                # the reported estimate is the corrected one, in the model as in the result
                with torch.no_grad():
                    model.coef.copy_(solution.coef.to(model.coef))
            self.cov_ = uncertainty.cov
            self.condition_number_ = solution.condition_number
            self.interval_ = uncertainty.method
            self.uncertainty_ = uncertainty
            self.bias_ = bias
            return linear_result(
                self.name, model, solution, uncertainty, self.level, bias=bias, **fields
            )
        notes = []
        if isinstance(model, SeedNetwork):
            notes.append(model.identification_note(inputs))
        lam = model.lam_estimate(inputs)
        with torch.no_grad():
            k_hat = model(inputs)
        residuals = k - k_hat
        jacobian = model.jacobian(inputs).detach()
        if isinstance(model, PointwiseMLP):
            notes.append(lam_x_identification(model, inputs, jacobian, k_hat))
        self.linearized_ = linearized_uncertainty(
            jacobian,
            residuals,
            k,
            method=self.interval,
            level=self.level,
            path_terms=model.path_terms(inputs),
            n_bootstrap=self.n_bootstrap,
            generator=_random.stream(self.seed, _random.BOOTSTRAP),
        )
        found = self.linearized_.uncertainty
        self.interval_ = found.method
        gradient = model.lam_gradient(inputs)
        stderr = None if gradient is None else self.linearized_.stderr(gradient)
        what = (
            f"linearized at the fit (Gauss-Newton), on the {self.linearized_.rank} of "
            f"{self.linearized_.n_params} weight directions that move k_hat"
        )
        lam_stderr = lam_ci = None
        note = f"{what}: {found.note or 'no single-number lambda'}"
        if stderr is not None and lam is not None:
            lam_stderr = float(stderr)
            half = found.quantile * lam_stderr
            lam_ci = (lam - half, lam + half)
            note = f"{what}; {found.reason}"
        return FitResult(
            method=self.name,
            model=type(model).__name__,
            level=self.level,
            lam=lam,
            lam_stderr=lam_stderr,
            lam_ci=lam_ci,
            notes=notes,
            interval=found.method,
            uncertainty_note=note,
            **fields,  # type: ignore[arg-type]
        )


@dataclass
class _Batch:
    index: torch.Tensor | None  # None: all times
    epoch_end: bool


class _Training:
    """One training run: the loop, the guard and the bookkeeping."""

    def __init__(
        self,
        fit: GradientFit,
        model: AbstractModel,
        inputs: torch.Tensor,
        k: TargetValues,
        holdout: tuple[torch.Tensor, TargetValues] | None = None,
    ) -> None:
        self.fit = fit
        self.model = model
        self.inputs = inputs
        self.k = k
        self.holdout = holdout
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.steps = 0
        self.evaluations = 0  # loss-and-gradient evaluations in training
        self.history = History(params=[] if _count(self.params) <= _HISTORY_PARAMS else None)
        curvature, method = self._curvature()
        self.stability = Stability(
            curvature=curvature,
            curvature_method=method,
            bound=2 / curvature if curvature and curvature > 0 else None,
            step=self._initial_step(curvature),
            final_step=math.nan,
        )
        self.step_size = self.stability.step

    # --- set-up -------------------------------------------------------------------------------

    def _curvature(self) -> tuple[float | None, str]:
        if isinstance(self.model, AbstractLinearModel):
            return linear_curvature(self.inputs, per_sample=self.fit.mode != "full")
        if self.fit.optimizer_ == "gauss_newton":
            top = float(svdvals(self.model.jacobian(self.inputs).detach())[0])
            self.evaluations += 1
            return 2 * top * top / self.k.shape[0], "Gauss-Newton, 2 s_max(J)^2 / m at the start"
        value, method = power_iteration_curvature(self._full_loss, self.params)
        if self.fit.mode != "full":
            method += " (full batch; the guard backtracks if single samples are steeper)"
        return value, method

    def _initial_step(self, curvature: float | None) -> float:
        if self.fit.lr is not None:
            return float(self.fit.lr)
        if self.fit.optimizer_ == "adam":
            return _ADAM_STEP
        if self.fit.optimizer_ in ("lbfgs", "gauss_newton"):
            return 1.0
        if not curvature or curvature <= 0:
            return 1.0
        return 1.0 / curvature

    def _optimizer(self) -> torch.optim.Optimizer | _LevenbergMarquardt | _SGD:
        if self.fit.optimizer_ == "gauss_newton":
            return _LevenbergMarquardt(self)
        if self.fit.optimizer_ == "sgd":
            return _SGD(self.params, self.step_size)
        if self.fit.optimizer_ == "adam":
            return torch.optim.Adam(self.params, lr=self.step_size)
        # One step is up to _LBFGS_ITERATIONS iterations: torch's L-BFGS stalls when called
        # one iteration at a time.
        return torch.optim.LBFGS(
            self.params,
            lr=self.step_size,
            max_iter=_LBFGS_ITERATIONS,
            history_size=50,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )

    def _batches(self) -> Iterator[_Batch]:
        m = self.k.shape[0]
        if self.fit.mode == "full":
            while True:
                yield _Batch(None, True)
        size = 1 if self.fit.mode == "per_sample" else min(self.fit.batch_size, m)
        generator = _random.stream(self.fit.seed, _random.TRAINING)
        while True:
            order = torch.randperm(m, generator=generator).to(self.k.device)
            for start in range(0, m, size):
                yield _Batch(order[start : start + size], start + size >= m)

    # --- losses -------------------------------------------------------------------------------

    def _loss(self, index: torch.Tensor | None) -> torch.Tensor:
        if index is None:
            return fixed_mean((self.model(self.inputs) - self.k).square())
        return fixed_mean((self.model(self.inputs[index]) - self.k[index]).square())

    def _full_loss(self) -> torch.Tensor:
        return self._loss(None)

    def _gradient_size(self) -> float:
        """Largest absolute component of the full-batch gradient at the current parameters."""
        grads = torch.autograd.grad(self._full_loss(), self.params, allow_unused=True)
        self.evaluations += 1
        return max((float(g.abs().max()) for g in grads if g is not None), default=0.0)

    def _gradient_norm(self) -> tuple[float, float]:
        """(loss, Euclidean norm of the gradient) of the full batch at the current parameters."""
        loss = self._full_loss()
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        self.evaluations += 1
        squares = sum(float(g.square().sum()) for g in grads if g is not None)
        return float(loss.detach()), math.sqrt(squares)

    def _vector(self) -> torch.Tensor:
        return parameters_to_vector(self.params).detach().clone()

    # --- the loop -----------------------------------------------------------------------------

    def train(self) -> tuple[Status, str]:
        """Run the loop; returns the status and the message that explains it."""
        with torch.no_grad():
            residual2 = (self.model(self.inputs) - self.k).square()
        # Losses are compared with the scale of the initial residuals (or of k itself, if the
        # start is already exact), so that a large single-sample loss is not taken for a blow-up.
        self.reference = max(float(residual2.max()), float(self.k.square().mean()))
        self.best_loss = float(residual2.mean())
        self.best = self._vector()
        self.epoch_start = self.best.clone()
        self.optimizer = self._optimizer()
        self.halvings = 0
        self.restarted = False
        self.best_holdout, self.best_holdout_step = math.inf, 0
        self.best_holdout_vector = self.best.clone()
        self.since_improvement = 0
        self.linear = isinstance(self.model, AbstractLinearModel)
        if self.linear:
            self.initial_gradient = self._gradient_size()
        else:
            if not isinstance(self.optimizer, _LevenbergMarquardt):
                self.initial_loss, self.initial_norm = self._gradient_norm()
            eps = torch.finfo(self.k.dtype).eps
            self.floor = _FLOOR_EPS * eps
            self.answer_rtol = max(_ANSWER_RTOL, _ANSWER_EPS * eps)
            self.k_scale = float(self.k.square().mean())
            self.answers: deque[float] = deque(maxlen=_WINDOW)
            self.last_answer: tuple[torch.Tensor, float | None] | None = None
            self.floor_checks = 0
        if isinstance(self.optimizer, _LevenbergMarquardt):
            return self._train_gauss_newton(self.optimizer)
        batches = self._batches()
        track_estimate = isinstance(self.model, AbstractLinearModel) or self.fit.mode == "full"

        for step in range(1, self.fit.max_steps + 1):
            self.steps = step
            batch = next(batches)
            before = self._vector()
            loss = self._take_step(batch.index)
            after = self._vector()
            finite = math.isfinite(loss) and bool(torch.isfinite(after).all())
            if not finite or loss > self.fit.explode_factor * self.reference:
                if not self.fit.guard and finite:
                    self._record(step, loss, after, None)  # unguarded: let it run
                    continue
                ended = self._blow_up(step, loss, finite)
                if ended is not None:
                    return self._finish("diverged", ended)
                continue
            measure = track_estimate or batch.epoch_end
            self._record(
                step, loss, after, self.model.lam_estimate(self.inputs) if measure else None
            )
            change = self._checkpoint(batch, loss, before, after)
            if change is None:
                continue
            if self.holdout is not None and self._holdout_check(after):
                return self._early_stopped(step)
            if self.linear:
                if change > self.fit.tol:
                    continue
                outcome = self._at_rest(step)
            else:
                outcome = self._judge(step, change)
            if outcome is not None:
                return self._finish(*outcome)
        return self._finish("max_steps", f"stopped at max_steps = {self.fit.max_steps}")

    def _train_gauss_newton(self, solver: _LevenbergMarquardt) -> tuple[Status, str]:
        """The Levenberg-Marquardt loop. Each iteration linearizes at the current weights (the
        Jacobian, k_hat, the loss and its gradient 2 J^T r / m, all from one pass), judges
        those weights, which the previous step produced, and then steps."""
        k_hat, lam, jacobian = self.model.predict_and_jacobian(self.inputs)
        self.evaluations += 1
        change = math.inf
        for step in range(1, self.fit.max_steps + 2):
            residuals = k_hat - self.k
            loss = float(fixed_mean(residuals.square()))
            gradient = fixed_sum(jacobian * residuals.unsqueeze(1), dim=0) * 2 / self.k.shape[0]
            norm = float(gradient.norm())
            parts = solver.decompose(jacobian, residuals)
            if step == 1:
                self.initial_loss, self.initial_norm = loss, norm
            else:
                offset = _noise_floor(residuals, parts[3])
                outcome = self._verdict(step - 1, change, loss, norm, k_hat, lam, offset)
                if outcome is not None:
                    return self._finish(*outcome)
            if step > self.fit.max_steps:
                break
            self.steps = step
            before = self._vector()
            trial = solver.step(residuals, parts)
            if trial is not None:
                new_loss, k_hat, lam, jacobian = trial
                self.best_loss, self.best = new_loss, self._vector()
            else:
                new_loss = loss
            after = self._vector()
            change = _relative_change(after, before)
            self._record(step, loss, after, lam)
            self.history.train_loss[-1] = new_loss
            if self.holdout is not None and self._holdout_check(after):
                return self._early_stopped(step)
        return self._finish("max_steps", f"stopped at max_steps = {self.fit.max_steps}")

    def _take_step(self, index: torch.Tensor | None) -> float:
        """One optimiser step on the batch; returns the batch loss before the step."""

        def closure() -> torch.Tensor:
            for p in self.params:
                p.grad = None
            loss = self._loss(index)
            loss.backward()
            self.evaluations += 1
            return loss

        return float(self.optimizer.step(closure).detach())

    def _blow_up(self, step: int, loss: float, finite: bool) -> str | None:
        """Handle a non-finite or exploding loss; returns why the fit ends, or None to go on."""
        kind: EventKind = "exploding" if finite else "non_finite"
        if not self.fit.guard:
            self._event(step, kind, loss, None, "loss became non-finite; unguarded, the fit stops")
            return f"the loss became non-finite at step {step}"
        what = (
            f"loss {loss:.3g} above {self.fit.explode_factor:g} x the initial scale "
            f"{self.reference:.3g}"
            if finite
            else "loss non-finite"
        )
        # a copy: vector_to_parameters makes the parameters views of the vector it is given,
        # and the steps that follow would then move the rollback point with them
        vector_to_parameters(self.best.clone(), self.params)
        if self.halvings == self.fit.max_halvings:
            self._event(step, kind, loss, None, f"{what}; rolled back to the best parameters")
            return (
                f"the loss blew up again at step {step} after the guard had halved the step "
                f"{self.halvings} times (max_halvings)"
            )
        self.halvings += 1
        old = self.step_size
        self.step_size = old / 2
        self.optimizer = self._optimizer()
        self.epoch_start = self.best.clone()
        self._event(
            step,
            kind,
            loss,
            self.step_size,
            f"{what}; rolled back to the best parameters and halved the step from {old:.3g} "
            f"to {self.step_size:.3g}",
        )
        return None

    def _event(
        self, step: int, kind: EventKind, loss: float, after: float | None, what: str
    ) -> None:
        self.stability.events.append(
            GuardEvent(
                step,
                kind,
                loss,
                self.step_size if after is None else after * 2,
                after,
                f"step {step}: {what}",
            )
        )

    def _checkpoint(
        self, batch: _Batch, loss: float, before: torch.Tensor, after: torch.Tensor
    ) -> float | None:
        """Keep the best parameters seen; returns the relative parameter change over the last
        step (full batch) or epoch, or None in the middle of an epoch."""
        if batch.index is None:
            # the full-batch loss returned by the step belongs to the parameters before it
            if loss <= self.best_loss:
                self.best_loss, self.best = loss, before
            if len(self.history.train_loss) >= 2:
                # this loss belongs to the parameters after the previous step: record it there,
                # beside that step's hold-out loss, which was measured at the same parameters
                self.history.train_loss[-2] = loss
            return _relative_change(after, before)
        if not batch.epoch_end:
            return None
        with torch.no_grad():
            full = float(self._full_loss())
        self.history.train_loss[-1] = full
        if math.isfinite(full) and full <= self.best_loss:
            self.best_loss, self.best = full, after
        change = _relative_change(after, self.epoch_start)
        self.epoch_start = after
        return change

    def _early_stopped(self, step: int) -> tuple[Status, str]:
        return self._finish(
            "early_stopped",
            f"early stopped at step {step}: the hold-out loss has not improved for "
            f"{self.fit.patience} checks (best {self.best_holdout:.4g} at step "
            f"{self.best_holdout_step})",
        )

    def _holdout_check(self, vector: torch.Tensor) -> bool:
        """Record the hold-out loss at the current parameters; True when it is time to stop."""
        assert self.holdout is not None
        inputs, k = self.holdout
        with torch.no_grad():
            loss = float((self.model(inputs) - k).square().mean())
        self.history.holdout_loss[-1] = loss
        if math.isfinite(loss) and loss < self.best_holdout:
            self.best_holdout, self.best_holdout_step = loss, self.steps
            self.best_holdout_vector = vector.clone()
            self.since_improvement = 0
            return False
        self.since_improvement += 1
        return self.since_improvement >= self.fit.patience

    def _at_rest(self, step: int) -> tuple[Status, str] | None:
        """The parameters stopped moving: converged if the gradient vanished, else stalled."""
        gradient = self._gradient_size()
        moved = f"relative parameter change <= tol = {self.fit.tol:g} at step {step}"
        if gradient <= _GRAD_TOL * max(self.initial_gradient, 1e-300):
            return "converged", (
                f"converged: {moved}, gradient {gradient:.2e} "
                f"(initially {self.initial_gradient:.2e})"
            )
        if self._restart_lbfgs_once():
            return None
        return "stalled", (
            f"stalled: {moved} while the gradient is still {gradient:.2e} "
            f"(initially {self.initial_gradient:.2e})"
        )

    def _restart_lbfgs_once(self) -> bool:
        """Give L-BFGS a fresh memory the first time it seems to stop (a stale memory can
        stall it); True when it was restarted, so the fit goes on."""
        if self.fit.optimizer_ not in ("lbfgs", "gauss_newton") or self.restarted:
            return False
        self.restarted = True
        if isinstance(self.optimizer, _LevenbergMarquardt):
            self.optimizer.reset()
        else:
            self.optimizer = self._optimizer()
        return True

    def _judge(self, step: int, change: float) -> tuple[Status, str] | None:
        """A network's convergence, judged on what it predicts; None to go on.

        The tests, in order: the loss at its noise-free floor (rounding of the dtype); the
        gradient small against the loss (its norm fallen 1e6-fold more than sqrt(loss) since
        the start); the answer settled (k_hat over the training times and the lambda estimate
        moved by at most answer_rtol per check over the last _WINDOW checks). Weights that stop
        moving before any of these fire mean the optimiser stalled.
        """
        loss, norm = self._gradient_norm()
        k_hat, lam = self.model.predict_with_lam(self.inputs)
        return self._verdict(step, change, loss, norm, k_hat, lam)

    def _verdict(
        self,
        step: int,
        change: float,
        loss: float,
        norm: float,
        k_hat: torch.Tensor,
        lam: float | None,
        offset: tuple[float, float] | None = None,
    ) -> tuple[Status, str] | None:
        """``_judge``'s tests on the loss, gradient norm, k_hat and lambda measured at the
        weights after ``step``; with Gauss-Newton also ``offset``, the F statistic of what a
        full step could still fit against the rest of the residuals, and its threshold."""
        rel_rms = math.sqrt(max(loss, 0.0) / self.k_scale) if self.k_scale > 0 else math.inf
        shrink = math.sqrt(loss / self.initial_loss) if self.initial_loss > 0 else 0.0
        scaled = norm / (self.initial_norm * shrink) if self.initial_norm * shrink > 0 else 0.0
        if self.last_answer is not None:
            self.answers.append(_answer_change(k_hat, lam, *self.last_answer))
        self.last_answer = (k_hat, lam)
        moved = max(self.answers) if len(self.answers) == _WINDOW else math.inf
        state = (
            f"sqrt(loss / mean k^2) = {rel_rms:.3g}; gradient norm {norm:.3g} = {scaled:.3g} x "
            f"its initial {self.initial_norm:.3g} scaled by sqrt(loss / initial loss) = "
            f"{shrink:.3g}; largest relative change of k_hat or lambda per check over the last "
            f"{len(self.answers)} check(s) {_fmt(moved)}"
        )
        if offset is not None:
            state += f"; F = {offset[0]:.3g} of what is left in the span of J against noise"
        if rel_rms <= self.floor:
            return "converged", (
                f"converged at step {step}: loss at its noise-free floor, sqrt(loss / mean k^2) "
                f"= {rel_rms:.3g} <= {_FLOOR_EPS} eps = {self.floor:.3g} ({state})"
            )
        at_floor = offset is not None and offset[0] <= offset[1]
        self.floor_checks = self.floor_checks + 1 if at_floor else 0
        if offset is not None and self.floor_checks >= _FLOOR_CHECKS:
            return "converged", (
                f"converged at step {step}: loss at its noise floor at {_FLOOR_CHECKS} checks "
                f"in a row, what a full Gauss-Newton step could still fit is no more than noise "
                f"would leave there (F = {offset[0]:.3g} <= {offset[1]:.3g}, the F quantile at "
                f"false-alarm rate {_NOISE_ALARM:g}; {state})"
            )
        if scaled <= _GRAD_TOL:
            return "converged", (
                f"converged at step {step}: gradient small against the loss, "
                f"{scaled:.3g} <= {_GRAD_TOL:g} ({state})"
            )
        if moved <= self.answer_rtol:
            return "converged", (
                f"converged at step {step}: the answer stopped moving, largest relative change "
                f"of k_hat or lambda per check over the last {_WINDOW} checks {moved:.3g} <= "
                f"{self.answer_rtol:.3g} ({state})"
            )
        if change > self.fit.tol:
            return None
        if self._restart_lbfgs_once():
            return None
        return "stalled", (
            f"stalled at step {step}: the weights stopped moving (relative change {change:.3g} "
            f"<= tol = {self.fit.tol:g}) before the answer settled (threshold "
            f"{self.answer_rtol:.3g}; {state})"
        )

    def _finish(self, status: Status, ended: str) -> tuple[Status, str]:
        if status != "diverged" and self.holdout is not None and self.best_holdout_step > 0:
            # early stopping keeps the parameters that predicted the held-out times best
            vector_to_parameters(self.best_holdout_vector, self.params)
            if status != "early_stopped":
                ended += (
                    f"; kept the parameters of step {self.best_holdout_step}, best on the "
                    f"hold-out (loss {self.best_holdout:.4g})"
                )
        elif status != "diverged":
            with torch.no_grad():
                final = float(self._full_loss())
            if not math.isfinite(final) or final > self.best_loss:
                vector_to_parameters(self.best.clone(), self.params)
        self.stability.final_step = self.step_size
        return status, self._message(status, ended)

    def _record(self, step: int, loss: float, vector: torch.Tensor, estimate: float | None) -> None:
        self.history.step.append(step)
        self.history.loss.append(loss)
        self.history.step_size.append(self.step_size)
        self.history.estimate.append(estimate)
        self.history.train_loss.append(None)
        self.history.holdout_loss.append(None)
        if self.history.params is not None:
            self.history.params.append(vector.tolist())

    def _message(self, status: Status, ended: str) -> str:
        stab = self.stability
        parts = [ended.rstrip(".") + "."]
        if stab.curvature is not None and stab.bound is not None:
            what = "per-sample curvature L" if self.fit.mode != "full" else "curvature L"
            if isinstance(self.model, AbstractLinearModel):
                what += " = 2 max_j |Phi_j|^2" if self.fit.mode != "full" else " = 2 |Phi|_2^2 / m"
            curvature = f"{what} = {stab.curvature:.4g}"
            if self.fit.optimizer_ == "gauss_newton":
                parts.append(
                    f"{curvature} (2/L = {stab.bound:.3g}); Gauss-Newton steps, damped "
                    "(Levenberg-Marquardt) until each lowers the loss."
                )
            elif self.fit.optimizer_ != "sgd":
                name = "Adam" if self.fit.optimizer_ == "adam" else "L-BFGS (line search)"
                parts.append(
                    f"{curvature} (2/L = {stab.bound:.3g}); {name} sets its own steps, "
                    f"starting from {stab.step:.3g}."
                )
            elif stab.step > stab.bound:
                parts.append(
                    f"{curvature} exceeds 2/step = {2 / stab.step:.4g}: a step of "
                    f"{stab.step:.3g} is unstable (stable below 2/L = {stab.bound:.3g})."
                )
            else:
                parts.append(
                    f"{curvature}: step {stab.step:.3g} is within the stable bound "
                    f"2/L = {stab.bound:.3g}."
                )
        if stab.events and status != "diverged" and self.fit.guard:
            parts.append(f"{len(stab.events)} guard event(s); final step {self.step_size:.3g}.")
        return " ".join(parts)


class _SGD:
    """Plain gradient descent, p <- p - step * gradient: what torch.optim.SGD does without
    momentum or weight decay, but torch's optimisers import its compiler on first use (3 s on
    a 2-core machine, longer than all the default run's fits)."""

    def __init__(self, params: list[torch.Tensor], step: float) -> None:
        self.params = params
        self.step_size = step

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        loss = closure()
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-self.step_size)
        return loss


class _LevenbergMarquardt:
    """Gauss-Newton with Levenberg's damping for the full-batch squared loss, on the SVD of the
    Jacobian J of k_hat in the weights (Nielsen's update of the damping).

    A step solves min |r + J d|^2 + mu |d|^2 in the directions J resolves: weight directions
    that do not move k_hat (singular values at rounding level) get no step, so the weights the
    data do not identify stay where they are. Near an exact fit the convergence is quadratic,
    which L-BFGS's secant memory does not reach on these ill-conditioned problems (in float32
    it stalls short of the answer).

    The damping starts small (1e-6 s_max^2) and falls up to tenfold after a step that does
    what the linearization promised, so that weakly identified directions are reached in a
    few steps (a threefold floor left fits creeping along them for tens of steps).
    """

    def __init__(self, run: _Training) -> None:
        self.run = run
        self.damping: float | None = None  # mu; set from the first Jacobian
        self.growth = 2.0

    def reset(self) -> None:
        self.damping, self.growth = None, 2.0

    @staticmethod
    def decompose(
        jacobian: torch.Tensor, residuals: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(u, s, vh) of J on the directions it resolves, and u^T r."""
        u, s, vh = svd(jacobian)
        keep = s > s[0] * max(jacobian.shape) * torch.finfo(s.dtype).eps
        u, s, vh = u[:, keep], s[keep], vh[keep]
        return u, s, vh, fixed_sum(u * residuals.unsqueeze(1), dim=0)

    def step(
        self,
        residuals: torch.Tensor,
        parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> tuple[float, torch.Tensor, float | None, torch.Tensor] | None:
        """Try damped steps from the current weights until one lowers the loss; returns its
        (loss, k_hat, lambda estimate, Jacobian), all from one pass at the new weights, or None
        (weights unchanged) after _LM_TRIALS tries. ``parts`` is ``decompose(J, residuals)``."""
        run = self.run
        m = residuals.shape[0]
        loss = float(fixed_mean(residuals.square()))
        u, s, vh, projected = parts
        if self.damping is None:
            self.damping = _LM_DAMPING * float(s[0] * s[0]) if s.numel() else 1.0
        start = parameters_to_vector(run.params).detach()
        for _ in range(_LM_TRIALS):
            mu = self.damping
            shrink = s.square() / (s.square() + mu)
            vector_to_parameters(start - vh.T @ (projected * shrink / s), run.params)
            # the Jacobian comes with the trial: most trials are accepted, and then the next
            # iteration needs no pass of its own
            k_hat, lam, jacobian = run.model.predict_and_jacobian(run.inputs)
            run.evaluations += 1
            new_loss = float(fixed_mean((k_hat - run.k).square()))
            # the drop in loss the linearized model promised for this step
            promised = loss - float(fixed_sum((residuals - u @ (projected * shrink)).square())) / m
            if math.isfinite(new_loss) and new_loss < loss and promised > 0:
                gain = (loss - new_loss) / promised
                self.damping = mu * max(0.1, 1 - (2 * min(gain, 1.0) - 1) ** 3)
                self.growth = 2.0
                return new_loss, k_hat, lam, jacobian.detach()
            self.damping = mu * self.growth
            self.growth *= 2
        vector_to_parameters(start, run.params)
        return None


def _count(params: list[torch.Tensor]) -> int:
    return sum(p.numel() for p in params)


def _answer_change(
    k_hat: torch.Tensor, lam: float | None, old_k_hat: torch.Tensor, old_lam: float | None
) -> float:
    """The larger of the relative changes of k_hat (Euclidean, over the times) and of lambda."""
    scale = float(fixed_sum(k_hat.square()).sqrt())
    moved = float(fixed_sum((k_hat - old_k_hat).square()).sqrt())
    change = moved / scale if scale > 0 else moved  # all zero now: the absolute change
    if lam is not None and old_lam is not None:
        change = max(change, abs(lam - old_lam) / abs(lam) if lam != 0 else abs(old_lam))
    return change


def _noise_floor(residuals: torch.Tensor, projected: torch.Tensor) -> tuple[float, float]:
    """(F, threshold): the residuals' energy per direction in the span of J (what a full
    Gauss-Newton step would still remove) against their energy per remaining degree of freedom
    (Bates and Watts' relative offset, squared). If the rest is noise and the fit is done to
    the noise's precision, F follows an F(rank, m - rank) law; the threshold is its quantile
    at 1 - _NOISE_ALARM. (inf, threshold) when there is nothing to compare with."""
    m, rank = residuals.shape[0], projected.shape[0]
    if m <= rank or rank == 0:
        return math.inf, math.inf
    inside = float(projected.square().sum())
    outside = float(residuals.square().sum()) - inside
    threshold = float(special.fdtri(rank, m - rank, 1 - _NOISE_ALARM))
    if outside <= 0:
        return math.inf, threshold
    return (inside / rank) / (outside / (m - rank)), threshold


def _fmt(value: float) -> str:
    return "not yet measured" if math.isinf(value) else f"{value:.3g}"


def _relative_change(new: torch.Tensor, old: torch.Tensor) -> float:
    scale = float(new.abs().max())
    delta = float((new - old).abs().max())
    return delta / scale if scale > 0 else delta
