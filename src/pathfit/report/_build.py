"""From a RunOutput to the report's figures, rendered to PNG bytes in memory."""

from __future__ import annotations

import io
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pathfit.estimators import LeastSquares
from pathfit.models import PointwiseMLP, PolynomialLambda
from pathfit.paths import Paths
from pathfit.report import figures
from pathfit.targets import PolynomialLam

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pathfit.app.experiment import RunOutput


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


def true_lambda(true: dict[str, Any]) -> float | list[float] | None:
    """What the gradient traces compare with: lambda, the true coefficients, or None."""
    if "lam" in true:
        return float(true["lam"])
    for key in ("lam_coef", "k_coef"):
        if key in true:
            return [float(c) for c in true[key]]
    return None


def fitted_targets(out: RunOutput) -> dict[str, np.ndarray]:
    """Method name -> k_hat on the run's paths, for every fit that did not diverge."""
    fitted = {}
    for estimator, result in zip(out.estimators, out.results, strict=True):
        if result.status == "diverged":
            continue
        fitted[result.method] = figures.to_numpy(estimator.predict(out.paths))
    return fitted


def x_grid(paths: Paths, n: int = 201) -> torch.Tensor:
    """Points spanning the central 98% of the observed x, where lambda(x) has support."""
    flat = paths.values.detach().reshape(-1)
    if flat.numel() > 1_000_000:
        flat = flat[:: flat.numel() // 1_000_000 + 1]
    lo, hi = np.quantile(flat.cpu().numpy().astype(np.float64), [0.01, 0.99])
    return torch.linspace(float(lo), float(hi), n, dtype=paths.dtype, device=paths.device)


def lambda_x_curves(
    out: RunOutput,
) -> tuple[torch.Tensor, dict[str, np.ndarray], np.ndarray | None, tuple | None, str]:
    """The learned lambda(x) of the run's fits on a grid, the truth, and a band.

    Curves come from the fitted pointwise MLPs and, for a polynomial lambda(x) target, from the
    least-squares polynomial, whose band is +/- z sqrt(b(x)^T Cov b(x)) with
    b(x) = (1, x, x^2, ...) and Cov the estimator's ``cov_``.

    Returns:
        grid, curves (name -> values), truth (or None), band (lower, upper) or None, and the
        band's label.
    """
    grid = x_grid(out.paths)
    curves: dict[str, np.ndarray] = {}
    band = None
    band_label = ""
    level = out.config.methods.level
    for estimator, result in zip(out.estimators, out.results, strict=True):
        if result.status == "diverged":
            continue
        model = estimator.model_
        if isinstance(model, PointwiseMLP):
            with torch.no_grad():
                curves[result.method] = figures.to_numpy(model.lam(grid))
        elif (
            isinstance(model, PolynomialLambda)
            and isinstance(estimator, LeastSquares)
            and out.config.target.kind == "poly_lambda"
        ):
            curves[f"{result.method} (degree {model.degree})"] = figures.to_numpy(model.lam(grid))
            if band is None and estimator.cov_ is not None:
                x = figures.to_numpy(grid)
                basis = np.vander(x, model.degree + 1, increasing=True)
                cov = figures.to_numpy(estimator.cov_)
                sd = np.sqrt(np.clip(np.einsum("nb,bc,nc->n", basis, cov, basis), 0.0, None))
                z = NormalDist().inv_cdf(0.5 + level / 2)
                centre = curves[f"{result.method} (degree {model.degree})"]
                band = (centre - z * sd, centre + z * sd)
                band_label = f"{level:.0%} band ({result.method}, {estimator.interval_})"
    truth = None
    if "lam" in out.true:
        truth = np.full(grid.shape[0], float(out.true["lam"]))
    elif "lam_coef" in out.true:
        truth = figures.to_numpy(PolynomialLam(tuple(out.true["lam_coef"])).lam(grid))
    return grid, curves, truth, band, band_label


def _has_history(out: RunOutput) -> bool:
    return any(r.history is not None and r.history.step for r in out.results)


def build_figures(out: RunOutput) -> list[ReportFigure]:
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
        truth = true_lambda(out.true)
        fig, _ = figures.plot_gradient_traces(out.results, truth)
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
        fig, _ = figures.plot_losses(out.results)
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
