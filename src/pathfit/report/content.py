"""What the report says, as plain text: shared by the HTML page and summary.md.

Everything here returns unescaped strings; the renderers escape them for their format.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pathfit.report.page import Table
from pathfit.targets import ConstantLam, KPolynomial, PolynomialLam

if TYPE_CHECKING:
    from pathfit.app.outcome import LambdaXOutcome, MethodOutcome, RunOutcome

QUESTION = (
    "Can a network learn a coefficient from aggregate observations of diffusion paths, and how "
    "sure is the answer?"
)
DASH = "\u2014"

METHOD_COLUMNS = (
    "method",
    "estimate",
    "|error|",
    "{level} interval",
    "interval method",
    "steps (evaluations)",
    "wall s",
    "status",
)


def method_column_help(out: RunOutcome) -> dict[str, str]:
    """Each column of the methods table (as headed, the level filled in) -> what its numbers
    are and in what units."""
    level = level_label(out.level)
    if out.config.target.kind == "poly_k":
        what = "the coefficients c_p of k(x) = sum_p c_p x^p (units of k per unit x^p)"
    else:
        what = (
            "the fitted lambda, in units of k per unit x^2 (k_j averages lambda x^2); for a "
            "polynomial model its coefficients c_d of lambda(x) = sum_d c_d x^d; a network's "
            "one lambda where lambda depends on x is its x^2-weighted mean over the observed x"
        )
    names = [c.format(level=level) for c in METHOD_COLUMNS]
    meanings = [
        "the estimator, and the model of lambda it fits",
        what,
        "the distance from the true value, in the estimate's units (the largest over the "
        "coefficients); a dash where the truth or the estimate is missing",
        f"a {level} confidence interval for each estimate, in its units",
        "how the interval was computed (classical: from the residual variance; HAC, "
        "bootstrap and the others allow for correlated residuals or resample the paths)",
        "iterations of the fit; in parentheses its loss-and-gradient (or Jacobian) evaluations",
        "the fit's wall-clock time, in seconds",
        "how the fit ended: converged, early_stopped, max_steps, stalled, diverged or failed",
    ]
    return dict(zip(names, meanings, strict=True))


def zero_width_note(out: RunOutcome) -> str:
    """Why an interval shows as [a, a]: empty when no interval does."""
    if not any(row.interval_note for row in method_rows(out)):
        return ""
    if out.targets.noise_std == 0:
        return (
            "An interval shown as [a, a] has zero width (to the digits shown) because the "
            "targets are noise-free: the model reproduces them exactly and the residuals are "
            "zero to rounding. That is the exactness of the fit, not certainty about the model; "
            "the coverage command (pathfit coverage) adds noise to test the intervals."
        )
    return (
        "An interval shown as [a, a] has zero width (to the digits shown): the residuals are "
        "zero to rounding, so the data leave no spread to measure. That is the exactness of "
        "the fit, not certainty about the model."
    )


def fmt(value: Any, spec: str = ".6g") -> str:
    """A number for a table: ``spec`` for finite floats, a dash for None."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, spec) if math.isfinite(value) else str(value)
    return str(value)


def level_label(level: float) -> str:
    return f"{level * 100:g}%"


@dataclass
class MethodRow:
    """One row of the methods table, as display strings (lists are one line per item);
    ``steps`` is the iterations with the function evaluations after them, "94 (1130)"."""

    name: str
    model: str
    estimate: list[str]
    error: str
    interval: list[str]
    interval_method: str
    steps: str
    wall_s: str
    status: str
    message: str
    interval_note: str = ""


def _zero_width(ci: Any) -> bool:
    """True when every interval reads [a, a] at the digits the table shows."""
    if not ci:
        return False
    pairs = ci if isinstance(ci[0], tuple | list) else [ci]
    return all(lo is not None and fmt(lo) == fmt(hi) for lo, hi in pairs)


def method_rows(out: RunOutcome) -> list[MethodRow]:
    """The methods table: one row per fitted method, diverged and failed ones included."""
    rows = []
    for method in out.methods:
        estimate, ci = method.estimate, method.ci
        if isinstance(estimate, tuple):
            names = method.param_names
            shown = [f"{n} = {fmt(v)}" for n, v in zip(names, estimate, strict=True)]
            intervals = (
                [f"{n}: [{fmt(lo)}, {fmt(hi)}]" for n, (lo, hi) in zip(names, ci, strict=True)]  # type: ignore[misc, arg-type]
                if ci
                else [DASH]
            )
        else:
            shown = [fmt(estimate)]
            intervals = [f"[{fmt(ci[0])}, {fmt(ci[1])}]"] if ci else [DASH]  # type: ignore[index]
        result = method.result
        rows.append(
            MethodRow(
                name=method.name,
                model=type(method.estimator.model).__name__ if result is None else result.model,
                estimate=shown,
                error=fmt(method.abs_error, ".3g"),
                interval=intervals,
                interval_method=(result.interval if result is not None else None) or DASH,
                steps=DASH if result is None else f"{result.steps} ({result.evaluations})",
                wall_s=DASH if result is None else fmt(result.wall_s, ".3g"),
                status=method.status,
                message=method.message,
                interval_note=(
                    "zero width because the residuals are zero to rounding: the fit is exact, "
                    "which says nothing about how sure the model is"
                    if _zero_width(ci)
                    else ""
                ),
            )
        )
    return rows


@dataclass
class MethodNotes:
    """Everything a method's fit says about itself, grouped for display."""

    name: str
    status: str
    message: str
    uncertainty: str
    bias: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    identifiability: list[str] = field(default_factory=list)
    stability: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def method_notes(out: RunOutcome) -> list[MethodNotes]:
    """Per method: how the fit ended, its notes, identifiability and stability."""
    return [_notes(method) for method in out.methods]


def _notes(method: MethodOutcome) -> MethodNotes:
    identifiability = []
    ident = method.identifiability
    if ident is not None:
        # the diagnosis is worded once, by Identifiability; a warning already shows it
        if ident.diagnosis not in ident.warnings:
            identifiability.append(ident.diagnosis)
        weakest = ident.weakest_direction
        if weakest and len(weakest) > 1:
            identifiability.append(
                "weakest direction: "
                + ", ".join(f"{n} {fmt(v, '+.3f')}" for n, v in weakest.items())
            )
    stability, events = [], []
    s = None if method.result is None else method.result.stability
    if s is not None:
        stability.append(
            f"curvature L = {fmt(s.curvature, '.4g')} "
            f"({s.curvature_method or 'method not recorded'})"
        )
        stability.append(f"stable bound 2/L = {fmt(s.bound, '.3g')}")
        # no verdict on step against bound here: line-search optimisers choose their own
        # steps, and the message above says what the step meant for this fit
        line = f"initial step {fmt(s.step, '.3g')}"
        if s.final_step != s.step:
            line += f", final step {fmt(s.final_step, '.3g')}"
        stability.append(line)
        events = [e.message for e in s.events]
    return MethodNotes(
        name=method.name,
        status=method.status,
        message=method.message,
        uncertainty="" if method.result is None else method.result.uncertainty_note,
        bias="" if method.result is None or method.result.bias is None else method.result.bias_note,
        notes=list(method.notes),
        warnings=list(method.warnings),
        identifiability=identifiability,
        stability=stability,
        events=events,
    )


def key_messages(out: RunOutcome) -> list[str]:
    """One sentence or so per method, plus every warning: what a reader must not miss."""
    messages = []
    for method in out.methods:
        name, status, estimate = method.name, method.status, method.estimate
        if status in ("diverged", "failed"):
            messages.append(f"{name} {status}: {method.message}")
            continue
        if isinstance(estimate, tuple):
            what = "coefficients " + ", ".join(fmt(v, ".4g") for v in estimate)
        elif out.config.target.kind == "constant" or out.truth is None:
            what = f"lambda = {fmt(estimate, '.6g')}"
        else:  # a single number for a lambda that depends on x: its mean over the observed x
            what = f"mean lambda(x) over the observed x = {fmt(estimate, '.6g')}"
        if method.abs_error is not None:
            what += f" (|error| {fmt(method.abs_error, '.2g')})"
        messages.append(f"{name} ({status}): {what}.")
        messages.extend(f"{name}: {warning}" for warning in method.warnings)
        messages.extend(f"{name}: {note}" for note in method.notes)
    return messages


def describe_run(out: RunOutcome) -> list[tuple[str, str]]:
    """(label, text) lines saying what was observed and what the truth is."""
    c = out.config
    p = c.process
    if out.source is None:
        params = f"x0 = {p.x0:g}, mu = {p.mu:g}, sigma = {p.sigma:g}"
        if p.kind == "ou":
            params += f", theta = {p.theta:g}"
        data = f"simulated {p.kind.upper()} ({params}), seed {c.seed}, {c.dtype}"
    else:
        data = f"given data ({out.source}), {out.paths.dtype}".replace("torch.", "")
    times = out.paths.times
    last = float(times[-1]) if times.numel() else 0.0
    first = float(times[0]) if times.numel() else 0.0
    n, m = out.paths.n_paths, out.paths.n_times
    if out.source is None:
        observed = (
            f"n = {n} paths at m = {m} random times, uniform in (0, T] with horizon "
            f"T = {c.sampling.horizon:g} (the last at {last:.4g})"
        )
    else:
        observed = f"n = {n} paths at m = {m} times, from t = {first:.4g} to t = {last:.4g}"
    lines = [
        ("data", data),
        ("observed", observed),
        ("target", target_text(out)),
    ]
    noise = out.targets.noise_std
    if noise is None:
        said = "unknown (not given with the data)"
    elif noise == 0:
        said = "none: the targets k_j are exact (noise-free)"
    else:
        said = f"sd {noise:g} on each k_j (in units of k)"
    lines.append(("noise", said))
    return lines


def _poly(coef: Sequence[float], var: str = "x") -> str:
    terms = []
    for d, c in enumerate(coef):
        if c == 0 and len(coef) > 1:
            continue
        terms.append(f"{c:g}" if d == 0 else f"{c:g} {var}" if d == 1 else f"{c:g} {var}^{d}")
    return " + ".join(terms).replace("+ -", "- ") or "0"


def target_text(out: RunOutcome) -> str:
    truth = out.truth
    if isinstance(truth, ConstantLam):
        return f"k_j = (1/n) sum_i lambda x_ij^2 with lambda = {truth.value:g}"
    if isinstance(truth, PolynomialLam):
        return f"k_j = (1/n) sum_i lambda(x_ij) x_ij^2 with lambda(x) = {_poly(truth.coef)}"
    if isinstance(truth, KPolynomial):
        return f"k_j = (1/n) sum_i k(x_ij) with k(x) = {_poly(truth.coef)}"
    return f"{out.config.target.kind} model; the truth is unknown"


def lambda_x_tables(result: LambdaXOutcome) -> list[Table]:
    """The lambda(x) experiment as tables: model choice by hold-out, then each chosen fit."""
    x_lo, x_hi = result.x_range
    tables = [
        Table(
            "Experiment",
            ["", ""],
            [
                ["true lambda(x)", _poly(result.truth.coef)],
                ["noise sd", fmt(result.noise_std, "g")],
                ["x range (central 98%)", f"[{fmt(x_lo, '.4g')}, {fmt(x_hi, '.4g')}]"],
            ],
            help={
                "noise sd": "standard deviation of the noise added to each k_j, in units of k",
                "x range (central 98%)": "the central 98% of the observed x: where the "
                "fitted lambda(x) is compared with the truth",
            },
        )
    ]
    for selection, title in (
        (result.by_degree, "Polynomial degree chosen on held-out times"),
        (result.by_width, "MLP width chosen on held-out times"),
    ):
        rows = [
            [
                c.name + (" (chosen)" if c.name == selection.best else ""),
                fmt(c.n_params),
                fmt(c.train_loss, ".3g"),
                f"{fmt(c.holdout_loss, '.3g')} \u00b1 {fmt(c.holdout_loss_se, '.2g')}",
                c.status or DASH,
            ]
            for c in selection.candidates
        ]
        rule = (
            "the smallest within one standard error of the best"
            if selection.rule == "one_se"
            else selection.rule
        )
        note = (
            f"{selection.n_holdout} held-out times ({selection.holdout:.0%} of the times); "
            f"chosen: {rule}"
        )
        tables.append(
            Table(
                title,
                ["candidate", "parameters", "training loss", "hold-out loss \u00b1 se", "status"],
                rows,
                note,
                help={
                    "parameters": "the number of fitted parameters",
                    "training loss": "mean squared residual of k on the training times "
                    "(units of k squared)",
                    "hold-out loss \u00b1 se": "mean squared residual of k on the held-out "
                    "times, with its standard error (units of k squared)",
                },
            )
        )
    ls = result.least_squares
    coef = ls.coef_.tolist()
    stderr = [None] * len(coef) if ls.stderr_ is None else ls.stderr_.tolist()
    rows = [
        [f"c{d}", fmt(c), fmt(s, ".3g"), fmt(e, ".3g")]
        for d, (c, s, e) in enumerate(zip(coef, stderr, result.coef_abs_error, strict=False))
    ]
    note = (
        f"degree {result.degree}; max |lambda_hat(x) - lambda(x)| = "
        f"{fmt(result.ls_max_lam_error, '.3g')}; hold-out loss "
        f"{fmt(result.by_degree.best_holdout_loss, '.3g')}; interval {ls.interval_ or DASH}"
    )
    tables.append(
        Table(
            "Least squares at the chosen degree",
            ["coefficient", "estimate", "stderr", "|error|"],
            rows,
            note,
            help={
                "coefficient": "c_d multiplies x^d in lambda(x) = sum_d c_d x^d",
                "estimate": "the fitted c_d (units of k per unit x^(d+2))",
                "stderr": "its standard error, in the same units",
                "|error|": "distance from the true c_d, in the same units",
            },
        )
    )
    mlp = result.mlp.result_
    rows = [
        ["width", str(result.mlp_width)],
        ["max |lambda_hat(x) - lambda(x)|", fmt(result.mlp_max_lam_error, ".3g")],
        ["hold-out loss", fmt(result.by_width.best_holdout_loss, ".3g")],
        ["status", f"{mlp.status} after {mlp.steps} steps"],
        ["message", mlp.message],
    ]
    tables.append(
        Table(
            "Pointwise MLP at the chosen width",
            ["", ""],
            rows,
            help={
                "width": "hidden units of the network, chosen on held-out times",
                "max |lambda_hat(x) - lambda(x)|": "the largest error of the fitted lambda(x) "
                "over the x range, in units of lambda",
                "hold-out loss": "mean squared residual of k on the held-out times (units of k "
                "squared)",
            },
        )
    )
    return tables


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if not isinstance(value, float) or math.isfinite(value) else "nan"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def config_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A config dict as TOML a run can read back; unset (None) keys as comments."""
    lines = []
    tables = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is None:
            lines.append(f"# {key}: not set (the default applies)")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    out = "\n".join(lines)
    for key, value in tables:
        name = f"{prefix}{key}"
        body = config_toml(value, prefix=f"{name}.")
        has_scalars = any(not isinstance(v, dict) for v in value.values())
        block = f"[{name}]\n{body}" if has_scalars else body
        out += ("\n\n" if out else "") + block
    return out


def versions() -> dict[str, str]:
    """The versions a reader needs to reproduce the run, matplotlib included."""
    import matplotlib

    from pathfit.app.outcome import versions as run_versions

    return {**run_versions(), "matplotlib": matplotlib.__version__}
