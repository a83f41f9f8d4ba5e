"""The validation report of a trained amortized estimator: one self-contained HTML page with
the rank histogram, the coverage curve, posteriors beside the exact ones and the error by size.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from pathfit.atomic import write_text_atomic
from pathfit.report import content, page
from pathfit.report.build import ReportFigure, png_bytes
from pathfit.report.html import page_figure


def _figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.0), dpi=110, layout="constrained")
    return fig, fig.add_subplot()


def rank_histogram(validation: dict[str, Any]) -> ReportFigure:
    counts = np.asarray(validation["sbc"]["histogram"], dtype=float)
    n = float(counts.sum())
    bins = counts.size
    fig, ax = _figure()
    span = (validation["sbc"]["draws"] + 1) / bins  # ranks per bin
    centers = (np.arange(bins) + 0.5) * span
    ax.bar(centers, counts, width=0.9 * span, color="#4c72b0", label="datasets per rank bin")
    # where a bin's count falls 99% of the time when the ranks are uniform
    lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / bins)
    for bound in (lo, hi):
        ax.axhline(bound, color="#c44e52", lw=1, ls="--", zorder=3)
    ax.plot([], [], color="#c44e52", lw=1, ls="--", label="99% band if calibrated")
    ax.axhline(n / bins, color="#333333", lw=1)
    ax.set_xlim(0, validation["sbc"]["draws"] + 1)
    ax.set_xlabel(f"rank of the truth among {validation['sbc']['draws']} posterior draws")
    ax.set_ylabel("datasets")
    ax.set_title("Simulation-based calibration")
    ax.legend(loc="lower right", fontsize=8)
    caption = (
        f"Ranks of the true coefficient among the posterior draws, over "
        f"{validation['sbc']['n']} fresh datasets from the prior; calibrated, they are uniform "
        f"(KS p-value {validation['sbc']['ks_pvalue']:.3f}). A U shape means too narrow, a "
        "hump too wide, a slope a bias."
    )
    return ReportFigure("sbc.png", "Rank histogram", caption, png_bytes(fig))


def coverage_curve(validation: dict[str, Any]) -> ReportFigure:
    levels = np.asarray(validation["coverage"]["levels"])
    empirical = np.asarray(validation["coverage"]["empirical"])
    exact = validation["coverage"].get("exact_posterior")
    n = validation["sbc"]["n"]
    fig, ax = _figure()
    grid = np.linspace(0.4, 1.0, 61)
    half = 2.576 * np.sqrt(grid * (1 - grid) / n)
    ax.fill_between(
        grid,
        grid - half,
        grid + half,
        color="#999999",
        alpha=0.25,
        label=f"99% band for {n} datasets",
    )
    ax.plot(grid, grid, color="#333333", lw=1)
    ax.plot(levels, empirical, "o-", color="#4c72b0", label="amortized")
    if exact is not None:
        ax.plot(levels, exact, "s--", color="#dd8452", label="exact posterior")
    ax.set_xlabel("nominal level of the central interval")
    ax.set_ylabel("fraction that covered the truth")
    ax.set_title("Coverage")
    ax.legend(loc="upper left", fontsize=8)
    caption = (
        "Empirical coverage of the central posterior intervals against their level, with the "
        "exact posterior on the same datasets beside it."
    )
    return ReportFigure("coverage.png", "Coverage of the intervals", caption, png_bytes(fig))


def examples(validation: dict[str, Any]) -> ReportFigure | None:
    cases: Sequence[dict[str, Any]] = validation.get("examples", [])
    if not cases:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 2.4), dpi=110, layout="constrained")
    axes = fig.subplots(1, len(cases), squeeze=False)[0]
    for ax, case in zip(axes, cases, strict=True):
        mean, sd = case["exact_mean"], case["exact_sd"]
        draws = (np.asarray(case["amortized_draws"]) - mean) / sd
        ax.hist(draws, bins=30, density=True, color="#4c72b0", alpha=0.6)
        z = np.linspace(-4, 4, 200)
        ax.plot(z, stats.norm.pdf(z), color="#dd8452")
        ax.set_yticks([])
        ax.set_xlabel("(lambda - exact mean) / exact sd", fontsize=7)
    caption = (
        "Amortized posterior draws (histogram) against the exact Gaussian posterior (line) for "
        f"{len(cases)} held-out datasets, each in its exact posterior's own units; the "
        f"classifier two-sample test on them scores {validation['c2st']:.3f} (0.5: "
        "indistinguishable)."
    )
    return ReportFigure(
        "posteriors.png", "Posteriors beside the exact ones", caption, png_bytes(fig)
    )


def error_by_size(validation: dict[str, Any]) -> ReportFigure | None:
    rows = validation.get("by_size", [])
    if not rows:
        return None
    points = np.asarray([[r["n"] * r["m"], r["rmse_amortized"] / r["rmse_exact"]] for r in rows])
    fig, ax = _figure()
    ax.scatter(points[:, 0], points[:, 1], color="#4c72b0", label="prior's sizes")
    for g in validation.get("generalization", []):
        ax.scatter(g["n"] * g["m"], g["rmse_ratio_vs_exact"], marker="D", color="#c44e52")
        ax.annotate(
            f"n={g['n']}, m={g['m']}",
            (g["n"] * g["m"], g["rmse_ratio_vs_exact"]),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.axhline(1.0, color="#333333", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("n paths x m times")
    ax.set_ylabel("RMSE amortized / exact posterior")
    ax.set_title("Error of the posterior mean by size")
    caption = (
        "Ratio of the amortized posterior mean's RMSE to the exact posterior mean's, per "
        "validation batch (one size each), and at sizes outside the training ranges "
        "(diamonds); 1 is the best any estimator can do."
    )
    return ReportFigure("rmse_by_size.png", "Error by size", caption, png_bytes(fig))


def validation_lines(v: dict[str, Any]) -> list[str]:
    """What validation.json says, one line per finding (the terminal and the report)."""
    cov = ", ".join(
        f"{level:.2f}: {emp:.3f}"
        for level, emp in zip(v["coverage"]["levels"], v["coverage"]["empirical"], strict=True)
    )
    rmse = v["rmse"]
    lines = [
        f"trained on {v['simulations']} simulations in {v['train_s']:.0f} s",
        f"calibration (SBC, {v['sbc']['n']} datasets): KS p-value {v['sbc']['ks_pvalue']:.3f}",
        f"coverage of central intervals: {cov}",
    ]
    if v["coverage"].get("exact_posterior") is not None:
        lines.append(
            "exact posterior on the same datasets: "
            + ", ".join(f"{c:.3f}" for c in v["coverage"]["exact_posterior"])
        )
    lines += [
        f"posterior-mean RMSE: amortized {rmse['amortized']:.4g}, exact posterior "
        f"{rmse['exact_posterior']:.4g} (ratio {rmse['ratio_vs_exact']:.3f}), least squares "
        f"{rmse['least_squares']:.4g}",
        f"C2ST against the exact posterior: {v['c2st']:.3f} (0.5: indistinguishable)",
    ]
    for g in v["generalization"]:
        lines.append(
            f"outside the training sizes, n = {g['n']}, m = {g['m']}: RMSE ratio "
            f"{g['rmse_ratio_vs_exact']:.3f}, 90% coverage {g['coverage_90']:.3f}"
        )
    lines.append(
        f"inference: {v['inference_ms_per_dataset']:.1f} ms per 100 x 1000 dataset; "
        f"{v['batch_1000_s']:.2f} s for a batch of {v['timing_batch']}"
    )
    return lines


GLOSSARY = {
    "SBC": "simulation-based calibration: the rank of the true coefficient among the "
    "posterior draws, over fresh datasets from the prior; uniform when the posterior is "
    "calibrated",
    "KS p-value": "Kolmogorov-Smirnov test of those ranks against uniform; small (below 0.01, "
    "say) means miscalibrated",
    "coverage": "the fraction of central posterior intervals at each level that held the "
    "truth; calibrated, it equals the level",
    "RMSE": "root mean squared error of the posterior mean against the truth, in the "
    "coefficient's units; the exact posterior's is the best any estimator can do",
    "C2ST": "classifier two-sample test accuracy between amortized and exact posterior draws: "
    "0.5 when indistinguishable, 1 when fully separable",
    "inference": "wall-clock time to draw the posterior of one dataset, and of a batch",
}


def write_validation_report(
    folder: str | Path,
    validation: dict[str, Any],
    lines: Sequence[str],
    *,
    title: str,
    generated: str | None = None,
) -> Path:
    """Write report.html for validation.json into ``folder``; returns its path.

    ``generated`` is the time the footer shows (by default now).
    """
    built = [rank_histogram(validation), coverage_curve(validation)]
    built += [f for f in (examples(validation), error_by_size(validation)) if f is not None]
    if generated is None:
        generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    html = page.render(
        "amortize.html.j2",
        title=title,
        generated=generated,
        toc=[("summary", "Validation"), ("figures", "Figures"), ("versions", "Versions")],
        versions=content.versions(),
        lines=list(lines),
        glossary=GLOSSARY,
        figures=[page_figure(f) for f in built],
    )
    return write_text_atomic(Path(folder) / "report.html", html)
