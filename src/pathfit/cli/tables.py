"""The terminal's tables, read from the typed results' attributes. The run's and the
coverage's fit in 80 columns: a polynomial's coefficients go on rows of their own, and how each
fit went is a second table."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from pathfit.app.bench import BenchReport
    from pathfit.app.coverage import CoverageReport
    from pathfit.app.outcome import LambdaXOutcome, MethodOutcome, RunOutcome
    from pathfit.diagnostics import GradientCheck

STATUS_COLORS = {
    "converged": "green",
    "early_stopped": "green",
    "max_steps": "yellow",
    "stalled": "yellow",
    "diverged": "red",
    "failed": "red",
}


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def percent(level: float) -> str:
    """A confidence level as a percentage, as precise as it was given (97.5%, not 98%)."""
    return f"{level * 100:g}%"


def interval(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"[{number(ci[0])}, {number(ci[1])}]"


def _table(title: str) -> Table:
    return Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)


def estimates_table(outcome: RunOutcome, title: str) -> Table:
    """method, estimate, |error| and interval: one row per lambda, one row per coefficient of a
    polynomial."""
    truth = outcome.truth
    shown = "truth unknown" if truth is None else "true " + _truth_text(truth.to_truth())
    table = _table(f"{title} ({shown})")
    table.title = Text(table.title)  # a data file's name is not markup
    table.add_column("method", no_wrap=True)
    table.add_column("estimate", justify="right", no_wrap=True)
    table.add_column("|error|", justify="right", no_wrap=True)
    table.add_column(f"{percent(outcome.level)} interval", justify="right", no_wrap=True)
    separate = any(isinstance(m.estimate, tuple) for m in outcome.methods)
    for method in outcome.methods:
        if separate:
            table.add_section()
        for name, estimate, ci, error in _estimate_rows(method):
            table.add_row(name, estimate, error, ci)
    return table


def _estimate_rows(method: MethodOutcome) -> list[tuple[str, str, str, str]]:
    estimate, ci = method.estimate, method.ci
    error = number(method.abs_error)
    if not isinstance(estimate, tuple):
        return [(method.name, number(estimate), interval(ci), error)]  # type: ignore[arg-type]
    cis = ci if isinstance(ci, tuple) else (None,) * len(estimate)
    rows = []
    for b, (param, value) in enumerate(zip(method.param_names, estimate, strict=True)):
        first = b == 0
        rows.append(
            (
                method.name if first else "",
                f"{param} = {number(value)}",
                interval(cis[b]),  # type: ignore[arg-type]
                error if first else "",
            )
        )
    return rows


def fits_table(outcome: RunOutcome) -> Table:
    """How each fit went: status, steps and function evaluations, wall time and where its
    interval came from; the caption says what one step is for each method."""
    table = _table("how each fit went")
    table.add_column("method", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("steps", justify="right", no_wrap=True)
    table.add_column("evals", justify="right", no_wrap=True)
    table.add_column("wall s", justify="right", no_wrap=True)
    table.add_column("interval from", no_wrap=True)
    for method in outcome.methods:
        color = STATUS_COLORS.get(method.status, "white")
        r = method.result
        table.add_row(
            method.name,
            f"[{color}]{method.status}[/{color}]",
            "-" if r is None else str(r.steps),
            "-" if r is None else str(r.evaluations),
            "-" if r is None else f"{r.wall_s:.3f}",
            "-" if r is None or r.interval is None else r.interval,
        )
    by_step: dict[str, list[str]] = {}  # what a step is -> the methods it is for
    for method in outcome.methods:
        if method.result is not None:
            by_step.setdefault(method.result.step, []).append(method.name)
    if by_step:
        note = (
            "steps count different things: "
            + "; ".join(f"{', '.join(names)}: {step}" for step, names in by_step.items())
            + ". evals: function evaluations (loss, gradient or Jacobian), counted apart."
        )
        # wrapped here: results go out soft-wrapped, and the tables keep to 80 columns
        table.caption = Text(textwrap.fill(note, width=78))  # plain text, never markup
        table.caption_justify = "left"
    return table


def method_lines(outcome: RunOutcome) -> list[str]:
    """Everything a reader must not miss, one line each: notes, identifiability warnings, a
    corrected finite-n bias and the message of every fit that did not converge."""
    lines = []
    for method in outcome.methods:
        said = [*method.notes, *method.warnings]
        if method.result is not None and method.result.bias_corrected:
            said.append(method.result.bias_note)
        if method.status not in ("converged", "early_stopped"):
            said.append(method.message)
        lines.extend(f"{method.name}: {line}" for line in said)
    return lines


def lambda_x_table(result: LambdaXOutcome) -> Table:
    coef = ", ".join(number(c) for c in result.truth.coef)
    table = _table(f"lambda(x) experiment (true coefficients [{coef}])")
    for name in ("candidate", "parameters", "hold-out loss", "+/- se", "chosen"):
        table.add_column(name, no_wrap=True)
    for kind, selection in (("polynomial", result.by_degree), ("MLP", result.by_width)):
        for c in selection.candidates:
            table.add_row(
                f"{kind} {c.name}",
                str(c.n_params),
                number(c.holdout_loss),
                number(c.holdout_loss_se),
                "<-" if c.name == selection.best else "",
            )
    errors = ", ".join(number(e) for e in result.coef_abs_error)
    table.caption = (
        f"least squares, degree {result.degree}: coefficient errors [{errors}], max |lambda "
        f"error| {number(result.ls_max_lam_error)}; MLP width {result.mlp_width}: max |lambda "
        f"error| {number(result.mlp_max_lam_error)} over x in [{number(result.x_range[0])}, "
        f"{number(result.x_range[1])}]"
    )
    return table


def coverage_tables(report: CoverageReport) -> list[Table]:
    """How often each method's interval held the truth, then its error, width and cost; the
    noise level used and the selected methods skipped are the first table's caption."""
    noise = f"ar1 (phi = {report.phi:g})" if report.phi is not None else report.noise
    covered = _table(
        f"coverage of {percent(report.level)} intervals, {report.replicates} replicates, "
        f"{noise} noise ({report.seconds:.1f} s)"
    )
    caption = [report.noise_std_note]
    if report.noise_std is not None:
        caption[0] += f" (sd {report.noise_std:.3g})"
    caption += [f"skipped {name}: {reason}" for name, reason in report.skipped.items()]
    covered.caption = Text("\n".join(caption))  # plain text: a reason is never markup
    for name in ("method", "interval", "coverage", "95% CI of coverage"):
        covered.add_column(name, no_wrap=True)
    cost = _table("errors and widths")
    cost.caption = Text(
        "exact: the width 2 z sd(errors) that the estimates' spread calls for; "
        "ratio = mean / exact, below 1 the intervals claim more than the data hold"
    )
    for name in ("method", "bias", "mean width", "exact", "ratio", "ms per fit"):
        cost.add_column(name, no_wrap=True)
    for row in report.methods:
        lo, hi = row.coverage_ci95
        covered.add_row(row.name, row.interval, f"{row.coverage:.3f}", f"[{lo:.3f}, {hi:.3f}]")
        cost.add_row(
            row.name,
            ", ".join(f"{b:.2g}" for b in row.bias.values()),
            f"{row.mean_ci_width:.3g}",
            f"{row.exact_width:.3g}",
            f"{row.width_ratio:.2f}",
            f"{1e3 * row.seconds_per_fit:.2f}",
        )
    return [covered, cost]


def checks_table(checks: list[GradientCheck]) -> Table:
    table = _table("gradient check: autograd against central differences (float64)")
    for name in ("model", "parameter", "elements", "largest relative error", "result"):
        table.add_column(name, no_wrap=True)
    for check in checks:
        for tensor in check.tensors:
            verdict = "[green]pass[/green]" if tensor.passed else "[red]FAIL[/red]"
            table.add_row(
                check.model,
                tensor.name,
                str(tensor.n_elements),
                f"{tensor.max_relative_error:.2e}",
                verdict,
            )
    return table


def bench_table(report: BenchReport) -> Table:
    table = _table(report.title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for measure, value in report.rows:
        table.add_row(Text(measure), Text(value))  # plain text: a measure is never markup
    return table


def _truth_text(truth: dict[str, Any]) -> str:
    return ", ".join(
        f"{key} = [{', '.join(number(v) for v in value)}]"
        if isinstance(value, list)
        else f"{key} = {number(value)}"
        for key, value in truth.items()
    )
