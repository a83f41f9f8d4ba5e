"""The result of a fit: estimates, uncertainty, how it went, and a JSON-safe summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pathfit._json import json_safe
from pathfit.choices import Status

EventKind = Literal["non_finite", "exploding"]


@dataclass(frozen=True)
class GuardEvent:
    """One intervention of the divergence guard, or the divergence that ended an unguarded fit."""

    step: int
    kind: EventKind
    loss: float
    step_size_before: float
    step_size_after: float | None
    message: str


@dataclass
class Stability:
    """How the step size was chosen and what happened to it.

    Attributes:
        curvature: L, the estimated largest curvature of the loss in the training mode.
        curvature_method: how L was found.
        bound: 2 / L, the largest stable step for gradient descent.
        step: the step size training started with.
        final_step: the step size at the end (smaller after guard events).
        events: guard interventions, in order.
    """

    curvature: float | None
    curvature_method: str
    bound: float | None
    step: float
    final_step: float
    events: list[GuardEvent] = field(default_factory=list)


@dataclass
class History:
    """Per-step training record.

    ``loss`` is the loss of the step's batch, at the parameters before the step;
    ``train_loss`` and ``holdout_loss`` are the full training and hold-out losses at the
    parameters after the step, where they were measured (every step in full-batch mode, except
    the training loss of the last step; at epoch ends otherwise; None elsewhere). ``estimate``
    is the model's lambda estimate where it was measured; ``params`` holds all parameters for
    models with at most 64.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    step_size: list[float] = field(default_factory=list)
    estimate: list[float | None] = field(default_factory=list)
    train_loss: list[float | None] = field(default_factory=list)
    holdout_loss: list[float | None] = field(default_factory=list)
    params: list[list[float]] | None = None


@dataclass
class FitResult:
    """What a fit found and how sure it is, in the manner of lmfit's MinimizerResult.

    Attributes:
        method: name of the method that produced it ("least_squares", "gradient", ...).
        model: the model's class name.
        param_names: one name per parameter of a linear model (empty for networks).
        params: the estimated coefficients of a linear model, or None.
        stderr: their standard errors, or None (``uncertainty_note`` says why).
        ci: their ``level`` intervals, or None.
        lam: the single-number lambda estimate, where the model has one.
        lam_stderr, lam_ci: its standard error and interval, where defined.
        interval: the interval method ("classical", "path_bootstrap", "hac",
            "block_bootstrap"), None where there is no interval.
        uncertainty_note: why that method, or why there is no interval.
        bias: the estimated finite-n bias of ``params`` (a path jackknife, least squares
            only), or None where it was not estimated; ``bias_note`` says why and whether it
            was corrected. When ``bias_corrected``, ``params`` (and ``lam``, ``ci``) are the
            fit's own estimate minus ``bias``, and the interval is centred on them.
        status: "converged", "early_stopped", "max_steps", "stalled" or "diverged".
        message: one or more sentences on how the fit ended, with the numbers (for a
            convergence test: which test fired, its value and its threshold).
        steps: optimisation steps taken (1 for closed form); ``step`` says what one is.
        wall_s: wall time of the fit in seconds.
        evaluations: loss-and-gradient evaluations in training: the optimiser's (L-BFGS makes
            up to 25 per step, torch's max_eval for 20 iterations) and the convergence
            checks'; 0 for a closed-form solve.
        step: what one step is for this fit ("one full batch", "one L-BFGS call of up to 20
            iterations", ...).
    """

    method: str
    model: str
    status: Status
    message: str
    steps: int
    wall_s: float
    evaluations: int = 0
    step: str = "one closed-form solve"
    level: float = 0.95
    param_names: tuple[str, ...] = ()
    params: list[float] | None = None
    stderr: list[float] | None = None
    ci: list[tuple[float, float]] | None = None
    lam: float | None = None
    lam_stderr: float | None = None
    lam_ci: tuple[float, float] | None = None
    interval: str | None = None
    uncertainty_note: str = ""
    bias: list[float] | None = None
    bias_corrected: bool = False
    bias_note: str = ""
    notes: list[str] = field(default_factory=list)
    history: History | None = None
    stability: Stability | None = None

    def summary(self, *, history: bool = False) -> dict[str, Any]:
        """A JSON-safe dict of the result (the per-step history only when asked for)."""
        out = asdict(self)
        if not history:
            out.pop("history")
        return json_safe(out)

    def report(self) -> str:
        """A short plain-text account of the fit."""
        lines = [
            f"{self.method} ({self.model}): {self.status} after {self.steps} step(s) "
            f"({self.step} each; {self.evaluations} loss/gradient evaluations) "
            f"in {self.wall_s:.3g} s"
        ]
        if self.lam is not None:
            line = f"  lambda = {self.lam:.10g}"
            if self.lam_stderr is not None:
                line += f" +/- {self.lam_stderr:.3g}"
            if self.lam_ci is not None:
                line += f"  {self.level:.0%} CI [{self.lam_ci[0]:.6g}, {self.lam_ci[1]:.6g}]"
            lines.append(line)
        if self.params is not None and self.param_names != ("lam",):
            for b, name in enumerate(self.param_names):
                line = f"  {name} = {self.params[b]:.10g}"
                if self.stderr is not None:
                    line += f" +/- {self.stderr[b]:.3g}"
                lines.append(line)
        if self.uncertainty_note:
            lines.append(f"  uncertainty ({self.interval or 'none'}): {self.uncertainty_note}")
        if self.bias is not None:
            lines.append(f"  bias: {self.bias_note}")
        if self.message:
            lines.append(f"  {self.message}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)
