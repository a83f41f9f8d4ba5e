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
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
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
    """The figure as PNG bytes (no software tag, so that equal figures give equal bytes).

    Drawn once on its own Agg canvas: ``savefig`` would draw a figure that has a layout engine
    twice (once to lay it out, once to paint). A figure of one axes under constrained layout
    is laid out by :func:`lay_out` first, for about a third less time.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    lay_out(fig, canvas.get_renderer())
    buffer = io.BytesIO()
    canvas.print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()


def lay_out(fig: Figure, renderer: RendererBase) -> None:
    """Place the axes of a one-axes figure as constrained layout would, then switch its layout
    engine off.

    For one axes, constrained layout places the axes so that its decorations (tick labels,
    axis labels, title) end its pads from the figure's edges, measuring them twice (the second
    time on the axes the first pass placed, whose ticks may differ). Measuring is most of the
    cost of drawing. This measures once, and again only when the placed axes' tick labels
    differ from the measured ones; otherwise only the end tick labels' overhang can differ,
    by a fraction of a pixel here, inside the pads. Figures of several axes, under another
    engine or with a layout rectangle other than the whole figure are left as they are.
    """
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    engine = fig.get_layout_engine()
    if not isinstance(engine, ConstrainedLayoutEngine) or len(fig.axes) != 1:
        return
    settings = engine.get()
    if tuple(settings["rect"]) != (0, 0, 1, 1):
        return
    ax = fig.axes[0]
    w_pad, h_pad = settings["w_pad"] * fig.dpi, settings["h_pad"] * fig.dpi
    width, height = fig.bbox.width, fig.bbox.height
    for _ in range(2):
        labels = _tick_labels(ax)
        decorated = ax.get_tightbbox(renderer, for_layout_only=True)
        if decorated is None:
            return
        box = ax.get_window_extent(renderer)
        left = (w_pad + box.x0 - decorated.x0) / width
        right = 1 - (w_pad + decorated.x1 - box.x1) / width
        bottom = (h_pad + box.y0 - decorated.y0) / height
        top = 1 - (h_pad + decorated.y1 - box.y1) / height
        if right <= left or top <= bottom:  # decorations larger than the figure
            return
        ax.set_position((left, bottom, right - left, top - bottom))
        if _tick_labels(ax) == labels:
            break
    fig.set_layout_engine("none")


def _tick_labels(ax: Axes) -> list[list[str]]:
    """Each axis's major and minor tick labels, from its locators and formatters alone (no
    tick is made or measured)."""
    return [
        ticker.formatter.format_ticks(list(ticker.locator()))
        for axis in (ax.xaxis, ax.yaxis)
        for ticker in (axis.major, axis.minor)
    ]


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
