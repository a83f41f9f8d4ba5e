"""The report of ``pathfit coverage``: one self-contained page, report.html beside
coverage.json, saying per method how often its intervals held the truth (with the exact
Clopper-Pearson interval of that share), how wide they were against the spread of the
estimates, and the bias; read from the ``CoverageReport`` object, nothing recomputed but the
verdicts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from pathfit.atomic import write_text_atomic
from pathfit.report import content, page
from pathfit.report.page import Table

if TYPE_CHECKING:
    from pathfit.app.coverage import CoverageReport, CoverageRow

__all__ = ["render_coverage_html", "verdict", "write_coverage_report"]

COVERAGE_HELP = {
    "interval": "how the intervals were computed (the most common choice over the fits)",
    "intervals": "intervals counted: fits with an interval times the parameters",
    "coverage": "the share of those intervals that held the true value",
    "95% CI of coverage": "exact (Clopper-Pearson) 95% interval for the true coverage, given "
    "the replicates",
    "verdict": "under-covers: the whole interval lies below the nominal level; over-covers: "
    "above it; otherwise consistent with it",
    "by parameter": "the coverage of each parameter's intervals",
    "without interval": "fits that gave no interval (left out of the count)",
}
ERROR_HELP = {
    "bias": "mean of estimate - truth over the replicates, per parameter, in its units",
    "error sd": "standard deviation of estimate - truth, per parameter, in its units",
    "mean |error|": "mean over the replicates of the largest |estimate - truth|",
    "mean width": "the intervals' mean width, in the parameter's units",
    "exact width": "2 z sd(errors): the width the estimates' spread calls for at the level",
    "width ratio": "mean width / exact width: below 1 the intervals claim more than the data "
    "hold, above 1 they are wider than needed",
    "ms per fit": "wall-clock milliseconds per fit",
}


def verdict(row: CoverageRow, level: float) -> str:
    """under-covers, over-covers or consistent: where the nominal level falls against the
    exact 95% interval of the observed coverage."""
    lo, hi = row.coverage_ci95
    if math.isnan(lo) or math.isnan(hi):
        return "no interval"
    if hi < level:
        return "under-covers"
    if lo > level:
        return "over-covers"
    return "consistent"


def _num(value: float, spec: str) -> str:
    return content.fmt(float(value), spec)


def _params(values: dict[str, float], spec: str) -> str:
    if len(values) == 1:
        return _num(next(iter(values.values())), spec)
    return ", ".join(f"{name} {_num(v, spec)}" for name, v in values.items())


def _true_text(true: dict[str, object]) -> str:
    if "lam" in true:
        return f"lambda = {true['lam']:g}"
    coef = true.get("coef", [])
    return ", ".join(f"c{d} = {c:g}" for d, c in enumerate(coef))  # type: ignore[attr-defined]


def _setup(report: CoverageReport) -> list[tuple[str, str]]:
    noise = f"ar1 (phi = {report.phi:g})" if report.phi is not None else report.noise
    sd = "" if report.noise_std is None else f" (sd {report.noise_std:.3g})"
    s = report.config.sampling
    return [
        ("replicates", f"{report.replicates} independent datasets, seed {report.seed}"),
        (
            "each dataset",
            f"n = {s.n_paths} paths at m = {s.n_times} random times, uniform in (0, T] with "
            f"horizon T = {s.horizon:g}",
        ),
        ("truth", _true_text(report.true)),
        ("noise", f"{noise}: {report.noise_std_note}{sd}"),
        ("nominal level", content.level_label(report.level)),
        ("time", f"{report.seconds:.1f} s"),
    ]


def _tables(report: CoverageReport) -> tuple[Table, Table]:
    level = report.level
    covered, errors = [], []
    for row in report.methods:
        lo, hi = row.coverage_ci95
        counted = (row.n_fits - row.n_without_interval) * max(len(row.coverage_by_param), 1)
        covered.append(
            [
                row.name,
                row.interval,
                str(counted),
                _num(row.coverage, ".3f"),
                f"[{_num(lo, '.3f')}, {_num(hi, '.3f')}]",
                verdict(row, level),
                _params(row.coverage_by_param, ".3f"),
                str(row.n_without_interval),
            ]
        )
        errors.append(
            [
                row.name,
                _params(row.bias, ".3g"),
                _params(row.error_sd, ".3g"),
                _num(row.mean_abs_error, ".3g"),
                _num(row.mean_ci_width, ".3g"),
                _num(row.exact_width, ".3g"),
                _num(row.width_ratio, ".2f"),
                _num(1e3 * row.seconds_per_fit, ".3g"),
            ]
        )
    coverage = Table(
        f"Coverage of {content.level_label(level)} intervals",
        ["method", *COVERAGE_HELP],
        covered,
        "The reference least_squares_classical is least squares with the classical interval, "
        "always added.",
        help=COVERAGE_HELP,
        id="coverage-table",
        stack=True,
    )
    widths = Table(
        "Errors and widths",
        ["method", *ERROR_HELP],
        errors,
        help=ERROR_HELP,
        id="errors-table",
        stack=True,
    )
    return coverage, widths


def _findings(report: CoverageReport) -> list[str]:
    """One line per method: its coverage, the exact interval and the verdict."""
    lines = []
    for row in report.methods:
        lo, hi = row.coverage_ci95
        said = verdict(row, report.level)
        if said == "consistent":
            said = f"consistent with {report.level:g}"
        lines.append(
            f"{row.name} ({row.interval}): coverage {_num(row.coverage, '.3f')}, 95% interval "
            f"[{_num(lo, '.3f')}, {_num(hi, '.3f')}]: {said}; width ratio "
            f"{_num(row.width_ratio, '.2f')}."
        )
    return lines


def render_coverage_html(report: CoverageReport, *, title: str = "pathfit coverage") -> str:
    """The coverage report as one self-contained HTML page."""
    coverage, widths = _tables(report)
    return page.render(
        "coverage.html.j2",
        title=title,
        generated=page.generated_at(report.finished),
        toc=[
            ("summary", "Findings"),
            ("coverage", "Coverage"),
            ("errors", "Errors and widths"),
            ("config", "Configuration"),
            ("versions", "Versions"),
        ],
        versions=content.versions(),
        setup=_setup(report),
        findings=_findings(report),
        skipped=list(report.skipped.items()),
        coverage=coverage,
        widths=widths,
        config=content.config_toml(json.loads(json.dumps(report.config.model_dump()))),
    )


def write_coverage_report(folder: str | Path, report: CoverageReport) -> Path:
    """Write ``folder/report.html`` for a coverage run; returns its path."""
    return write_text_atomic(Path(folder) / "report.html", render_coverage_html(report))
