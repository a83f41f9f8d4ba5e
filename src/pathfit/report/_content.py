"""What the report says, as plain text: shared by the HTML page and summary.md.

Everything here returns unescaped strings; the renderers escape them for their format.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathfit.app.experiment import RunOutput

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
    "steps",
    "wall s",
    "status",
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
    """One row of the methods table, as display strings (lists are one line per item)."""

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


def _ci(row: dict[str, Any], level: float) -> Any:
    return row.get(f"ci{round(level * 100)}")


def method_rows(out: RunOutput) -> list[MethodRow]:
    """The methods table: one row per fitted method, diverged ones included."""
    level = out.config.methods.level
    rows = []
    for row, result in zip(out.rows, out.results, strict=True):
        estimate, ci = row.get("estimate"), _ci(row, level)
        if isinstance(estimate, list):
            names = list(result.param_names) or [f"c{b}" for b in range(len(estimate))]
            shown = [f"{n} = {fmt(v)}" for n, v in zip(names, estimate, strict=False)]
            intervals = (
                [f"{n}: [{fmt(lo)}, {fmt(hi)}]" for n, (lo, hi) in zip(names, ci, strict=False)]
                if ci
                else [DASH]
            )
        else:
            shown = [fmt(estimate)]
            intervals = [f"[{fmt(ci[0])}, {fmt(ci[1])}]"] if ci else [DASH]
        rows.append(
            MethodRow(
                name=str(row["name"]),
                model=str(row.get("model", result.model)),
                estimate=shown,
                error=fmt(row.get("abs_error"), ".3g"),
                interval=intervals,
                interval_method=row.get("interval") or DASH,
                steps=fmt(row.get("steps")),
                wall_s=fmt(row.get("wall_s"), ".3g"),
                status=str(row.get("status", result.status)),
                message=str(row.get("message") or ""),
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
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    identifiability: list[str] = field(default_factory=list)
    stability: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def _new_notes(row: dict[str, Any]) -> list[str]:
    """A fit's notes, less those that repeat an identifiability warning (the seed network's
    only-the-bias note is both)."""
    warnings = set((row.get("identifiability") or {}).get("warnings") or [])
    return [str(n) for n in row.get("notes") or [] if n not in warnings]


def method_notes(out: RunOutput) -> list[MethodNotes]:
    """Per method: how the fit ended, its notes, identifiability and stability."""
    notes = []
    for row in out.rows:
        ident = row.get("identifiability") or {}
        identifiability = []
        if ident:
            line = f"rank {ident.get('rank')} of {ident.get('n_params')} parameters"
            if ident.get("condition_number") is not None:
                line += f", scaled condition number {fmt(ident['condition_number'], '.3g')}"
            identifiability.append(line)
            weakest = ident.get("weakest_direction")
            if weakest and len(weakest) > 1:
                identifiability.append(
                    "weakest direction: "
                    + ", ".join(f"{n} {fmt(v, '+.3f')}" for n, v in weakest.items())
                )
        stability, events = [], []
        s = row.get("stability")
        if s:
            stability.append(
                f"curvature L = {fmt(s.get('curvature'), '.4g')} "
                f"({s.get('curvature_method') or 'method not recorded'})"
            )
            stability.append(f"stable bound 2/L = {fmt(s.get('bound'), '.3g')}")
            # no verdict on step against bound here: line-search optimisers choose their own
            # steps, and the message above says what the step meant for this fit
            line = f"initial step {fmt(s.get('step'), '.3g')}"
            if s.get("final_step") is not None and s.get("final_step") != s.get("step"):
                line += f", final step {fmt(s.get('final_step'), '.3g')}"
            stability.append(line)
            events = [str(e) for e in s.get("events") or []]
        notes.append(
            MethodNotes(
                name=str(row["name"]),
                status=str(row.get("status")),
                message=str(row.get("message") or ""),
                uncertainty=str(row.get("uncertainty") or ""),
                notes=_new_notes(row),
                warnings=[str(w) for w in ident.get("warnings") or []],
                identifiability=identifiability,
                stability=stability,
                events=events,
            )
        )
    return notes


def key_messages(out: RunOutput) -> list[str]:
    """One sentence or so per method, plus every warning: what a reader must not miss."""
    messages = []
    for row in out.rows:
        name, status = row["name"], row.get("status")
        estimate = row.get("estimate")
        if status == "diverged":
            messages.append(f"{name} diverged: {row.get('message')}")
            continue
        if isinstance(estimate, list):
            what = "coefficients " + ", ".join(fmt(v, ".4g") for v in estimate)
        elif out.config.target.kind == "constant" or not out.true:
            what = f"lambda = {fmt(estimate, '.6g')}"
        else:  # a single number for a lambda that depends on x: its mean over the observed x
            what = f"mean lambda(x) over the observed x = {fmt(estimate, '.6g')}"
        error = row.get("abs_error")
        if error is not None:
            what += f" (|error| {fmt(error, '.2g')})"
        messages.append(f"{name} ({status}): {what}.")
        for warning in (row.get("identifiability") or {}).get("warnings") or []:
            messages.append(f"{name}: {warning}")
        messages.extend(f"{name}: {note}" for note in _new_notes(row))
    return messages


def describe_run(out: RunOutput) -> list[tuple[str, str]]:
    """(label, text) lines saying what was observed and what the truth is."""
    c = out.config
    p = c.process
    if out.true:
        params = f"x0 = {p.x0:g}, mu = {p.mu:g}, sigma = {p.sigma:g}"
        if p.kind == "ou":
            params += f", theta = {p.theta:g}"
        data = f"simulated {p.kind.upper()} ({params}), seed {c.seed}, {c.dtype}"
    else:
        data = f"given data, {out.paths.dtype}".replace("torch.", "")
    times = out.paths.times
    horizon = float(times[-1]) if times.numel() else 0.0
    lines = [
        ("data", data),
        (
            "observed",
            f"n = {out.paths.n_paths} paths at m = {out.paths.n_times} random times on "
            f"(0, {horizon:.4g}]",
        ),
        ("target", target_text(out)),
    ]
    noise = out.targets.noise_std
    lines.append(
        ("noise", "unknown" if noise is None else "none" if noise == 0 else f"sd {noise:g}")
    )
    return lines


def _poly(coef: Sequence[float], var: str = "x") -> str:
    terms = []
    for d, c in enumerate(coef):
        if c == 0 and len(coef) > 1:
            continue
        terms.append(f"{c:g}" if d == 0 else f"{c:g} {var}" if d == 1 else f"{c:g} {var}^{d}")
    return " + ".join(terms).replace("+ -", "- ") or "0"


def target_text(out: RunOutput) -> str:
    t = out.true
    if "lam" in t:
        return f"k_j = (1/n) sum_i lambda x_ij^2 with lambda = {t['lam']:g}"
    if "lam_coef" in t:
        return f"k_j = (1/n) sum_i lambda(x_ij) x_ij^2 with lambda(x) = {_poly(t['lam_coef'])}"
    if "k_coef" in t:
        return f"k_j = (1/n) sum_i k(x_ij) with k(x) = {_poly(t['k_coef'])}"
    return f"{out.config.target.kind} model; the truth is unknown"


@dataclass
class Table:
    """A small table for the lambda(x) section."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


def lambda_x_tables(lambda_x: dict[str, Any], level: float) -> list[Table]:
    """The lambda(x) experiment as tables: model choice by hold-out, then each chosen fit."""
    tables = []
    overview = [
        ["true lambda(x)", _poly(lambda_x.get("true_coef") or [])],
        ["noise sd", fmt(lambda_x.get("noise_std"), "g")],
    ]
    x_range = lambda_x.get("x_range")
    if x_range:
        overview.append(
            ["x range (central 98%)", f"[{fmt(x_range[0], '.4g')}, {fmt(x_range[1], '.4g')}]"]
        )
    tables.append(Table("Experiment", ["", ""], overview))
    for key, title in (
        ("degree_selection", "Polynomial degree chosen on held-out times"),
        ("width_selection", "MLP width chosen on held-out times"),
    ):
        selection = lambda_x.get(key)
        if not selection:
            continue
        best = selection.get("best")
        rows = [
            [
                str(c.get("name")) + (" (chosen)" if c.get("name") == best else ""),
                fmt(c.get("n_params")),
                fmt(c.get("train_loss"), ".3g"),
                f"{fmt(c.get('holdout_loss'), '.3g')} \u00b1 "
                f"{fmt(c.get('holdout_loss_se'), '.2g')}",
                str(c.get("status") or DASH),
            ]
            for c in selection.get("candidates") or []
        ]
        holdout = selection.get("holdout")
        share = f" ({holdout:.0%} of the times)" if isinstance(holdout, float) else ""
        rule = selection.get("rule")
        rule = "the smallest within one standard error of the best" if rule == "one_se" else rule
        note = f"{selection.get('n_holdout')} held-out times{share}; chosen: {rule}"
        tables.append(
            Table(
                title,
                ["candidate", "parameters", "training loss", "hold-out loss \u00b1 se", "status"],
                rows,
                note,
            )
        )
    ls = lambda_x.get("least_squares")
    if ls:
        coef = ls.get("coef") or []
        stderr = ls.get("stderr") or [None] * len(coef)
        errors = ls.get("coef_abs_error") or [None] * len(coef)
        rows = [
            [f"c{d}", fmt(c), fmt(s, ".3g"), fmt(e, ".3g")]
            for d, (c, s, e) in enumerate(zip(coef, stderr, errors, strict=False))
        ]
        note = (
            f"degree {ls.get('degree')}; max |lambda_hat(x) - lambda(x)| = "
            f"{fmt(ls.get('max_lam_error'), '.3g')}; hold-out loss "
            f"{fmt(ls.get('holdout_loss'), '.3g')}; interval {ls.get('interval') or DASH}"
        )
        tables.append(
            Table(
                "Least squares at the chosen degree",
                ["coefficient", "estimate", "stderr", "|error|"],
                rows,
                note,
            )
        )
    mlp = lambda_x.get("pointwise_mlp")
    if mlp:
        rows = [
            ["width", str(mlp.get("width"))],
            ["max |lambda_hat(x) - lambda(x)|", fmt(mlp.get("max_lam_error"), ".3g")],
            ["hold-out loss", fmt(mlp.get("holdout_loss"), ".3g")],
            ["status", f"{mlp.get('status')} after {mlp.get('steps')} steps"],
            ["message", str(mlp.get("message") or "")],
        ]
        tables.append(Table("Pointwise MLP at the chosen width", ["", ""], rows))
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

    from pathfit.app.experiment import versions as run_versions

    return {**run_versions(), "matplotlib": matplotlib.__version__}
