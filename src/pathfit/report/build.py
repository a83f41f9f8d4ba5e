"""From a RunOutcome to the report's figures, rendered to PNG bytes in memory."""

from __future__ import annotations

import io
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import torch

from pathfit.app.experiment import x_grid
from pathfit.estimators import LeastSquares
from pathfit.models import PointwiseMLP, PolynomialLambda
from pathfit.report import figures
from pathfit.targets import ConstantLam, PolynomialLam

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pathfit.app.outcome import RunOutcome


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: its file name, heading, caption and PNG bytes."""

    filename: str
    title: str
    caption: str
    png: bytes


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (no software tag, so that equal figures give equal bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=figures.DPI, metadata={"Software": None})
    return buffer.getvalue()


def true_lambda(out: RunOutcome) -> float | list[float] | None:
    """What the gradient traces compare with: lambda, the true coefficients, or None."""
    if isinstance(out.truth, ConstantLam):
        return float(out.truth.value)
    return None if out.truth is None else [float(c) for c in out.truth.coef]


def fitted_targets(out: RunOutcome) -> dict[str, np.ndarray]:
    """Method name -> k_hat on the run's paths, for every fit with an estimate."""
    return {
        method.name: figures.to_numpy(method.estimator.predict(out.paths))
        for method in out.methods
        if method.has_estimate
    }


def lambda_x_curves(
    out: RunOutcome,
) -> tuple[torch.Tensor, dict[str, np.ndarray], np.ndarray | None, tuple | None, str]:
    """The learned lambda(x) of the run's fits on a grid, the truth, and a band.

    Curves come from the fitted pointwise MLPs and, for a polynomial lambda(x) target, from the
    least-squares polynomial, whose band is +/- z sqrt(b(x)^T Cov b(x)) with
    b(x) = (1, x, x^2, ...) and Cov the estimator's ``cov_``.

    Returns:
        grid, curves (name -> values), truth (or None), band (lower, upper) or None, and the
        band's label.
    """
    grid = x_grid(out.paths.values)
    curves: dict[str, np.ndarray] = {}
    band = None
    band_label = ""
    for method in out.methods:
        if not method.has_estimate:
            continue
        estimator = method.estimator
        model = estimator.model_
        if isinstance(model, PointwiseMLP):
            with torch.no_grad():
                curves[method.name] = figures.to_numpy(model.lam(grid))
        elif (
            isinstance(model, PolynomialLambda)
            and isinstance(estimator, LeastSquares)
            and out.config.target.kind == "poly_lambda"
        ):
            label = f"{method.name} (degree {model.degree})"
            curves[label] = figures.to_numpy(model.lam(grid))
            if band is None and estimator.cov_ is not None:
                x = figures.to_numpy(grid)
                basis = np.vander(x, model.degree + 1, increasing=True)
                cov = figures.to_numpy(estimator.cov_)
                sd = np.sqrt(np.clip(np.einsum("nb,bc,nc->n", basis, cov, basis), 0.0, None))
                z = NormalDist().inv_cdf(0.5 + out.level / 2)
                band = (curves[label] - z * sd, curves[label] + z * sd)
                band_label = f"{out.level:.0%} band ({method.name}, {estimator.interval_})"
    truth = None
    if isinstance(out.truth, ConstantLam | PolynomialLam):
        truth = figures.to_numpy(out.truth.lam(grid))
    return grid, curves, truth, band, band_label


def _has_history(out: RunOutcome) -> bool:
    return any(
        m.result is not None and m.result.history is not None and m.result.history.step
        for m in out.methods
    )


def build_figures(out: RunOutcome) -> list[ReportFigure]:
    """Every figure that applies to ``out``, rendered in memory."""
    built: list[ReportFigure] = []

    def add(filename: str, title: str, caption: str, fig: Figure) -> None:
        built.append(ReportFigure(filename, title, caption, png_bytes(fig)))

    fig, _ = figures.plot_paths_fan(out.paths)
    add(
        "paths.png",
        "Paths",
        f"{min(30, out.paths.n_paths)} of the {out.paths.n_paths} paths, their mean and the "
        f"band holding 90% of them, at the {out.paths.n_times} observation times (ticks on the "
        "time axis).",
        fig,
    )
    fitted = fitted_targets(out)
    k = figures.to_numpy(out.targets.values)
    times = figures.to_numpy(out.targets.times)
    fig, _ = figures.plot_targets_fit(times, k, fitted)
    add(
        "targets.png",
        "Targets and fits",
        "The observed targets k_j and each method's fitted k_hat_j (fits that diverged are left "
        "out).",
        fig,
    )
    if fitted:
        fig, _ = figures.plot_residuals(times, {name: k - f for name, f in fitted.items()})
        add(
            "residuals.png",
            "Residuals",
            "k_j - k_hat_j along time. Residuals that drift together over time point to error "
            "shared through the paths rather than independent noise.",
            fig,
        )
    if _has_history(out):
        truth = true_lambda(out)
        results = [m.result for m in out.methods if m.result is not None]
        fig, _ = figures.plot_gradient_traces(results, truth)
        if truth is None:
            what = "the size of the estimate, |lambda_hat| (the truth is unknown)"
        elif isinstance(truth, list):
            what = (
                "the largest distance of its coefficients from the true ones (fits without "
                "such coefficients, networks, are in the loss figure)"
            )
        else:
            what = "the distance of the estimate from the truth"
        add(
            "gradient.png",
            "Gradient training",
            f"For each gradient fit, {what} at every recorded step, on a log scale. A cross "
            "marks where a diverged fit stopped.",
            fig,
        )
        fig, _ = figures.plot_losses(results)
        add(
            "losses.png",
            "Losses",
            "Training loss (solid) and hold-out loss (dashed, where recorded) by step.",
            fig,
        )
    grid, curves, truth_x, band, band_label = lambda_x_curves(out)
    if curves:
        fig, _ = figures.plot_lambda_x(grid, curves, truth_x, band, band_label=band_label or "band")
        caption = (
            "lambda(x) as learned by the fits of this run's target, over the central 98% of the "
            "observed x" + (f", with the {band_label}" if band is not None else "") + "."
        )
        if truth_x is not None:
            caption += (
                " Largest |learned - true| on this range: "
                + "; ".join(
                    f"{name} {float(np.abs(values - truth_x).max()):.2g}"
                    for name, values in curves.items()
                )
                + "."
            )
        add("lambda_x.png", "lambda(x)", caption, fig)
    return built
