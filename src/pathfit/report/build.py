"""From a RunOutcome to the report's figures, rendered to PNG bytes in memory."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pathfit.design import StreamedPaths
from pathfit.models import PolynomialLambda
from pathfit.report import figures
from pathfit.targets import ConstantLam

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


Band = tuple[np.ndarray, np.ndarray, str]
"""A pointwise band on the lambda(x) grid: (lower, upper, legend label)."""


def lambda_x_curves(
    out: RunOutcome,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None, list[Band]]:
    """The learned lambda(x) of the run's fits on the grid over the observed x, the truth, and
    at most two bands.

    Everything comes from the methods' ``lam_curve`` (each estimator's ``lam_curve`` on the
    grid, computed by the run), so a band is drawn from the same numbers results.json holds.
    Every fit that learns a lambda(x) gives a curve; the bands are those of the first
    polynomial lambda(x) and of the first pointwise MLP that have one, polynomial first, so that
    two bands at most share the axes.

    Returns:
        grid (empty without curves), curves (label -> values), the truth on the grid (or None),
        and the bands.
    """
    grid = np.empty(0)
    curves: dict[str, np.ndarray] = {}
    truth = None
    banded: dict[bool, Band] = {}  # polynomial or not -> its band
    for method in out.methods:
        learned = method.lam_curve
        if learned is None:
            continue
        curve, model = learned.curve, method.estimator.model_
        polynomial = isinstance(model, PolynomialLambda)
        label = f"{method.name} (degree {model.degree})" if polynomial else method.name
        if not curves:
            grid = figures.to_numpy(curve.x)
            truth = None if learned.truth is None else figures.to_numpy(learned.truth)
        curves[label] = figures.to_numpy(curve.lam)
        if polynomial not in banded and curve.lower is not None and curve.upper is not None:
            banded[polynomial] = (
                figures.to_numpy(curve.lower),
                figures.to_numpy(curve.upper),
                f"{curve.level:.0%} band ({method.name}, {curve.interval})",
            )
    bands = [banded[kind] for kind in (True, False) if kind in banded]
    return grid, curves, truth, bands


def _second_band(ax: Axes, grid: np.ndarray, band: Band) -> None:
    """A second band on a lambda(x) figure: faint and outlined in thin solid lines of the
    pointwise MLP's colour, so that it reads apart from the first (shaded) band where they
    overlap and from the curves, which are thicker."""
    lower, upper, label = band
    color = figures.method_color("pointwise_mlp")
    ax.fill_between(grid, lower, upper, facecolor=color, alpha=0.08, edgecolor="none")
    ax.plot(grid, lower, color=color, linewidth=0.8, alpha=0.8, label=label)
    ax.plot(grid, upper, color=color, linewidth=0.8, alpha=0.8)
    ax.legend(fontsize=8, framealpha=0.9)


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

    shown = out.paths.sample if isinstance(out.paths, StreamedPaths) else out.paths
    fig, _ = figures.plot_paths_fan(shown)
    n, kept = out.paths.n_paths, shown.n_paths
    band = "their mean and the band holding 90% of them"
    if kept < n:
        band = (
            f"the mean and the 90% band of the first {kept} (the run kept only the power sums "
            "of the others)"
        )
    add(
        "paths.png",
        "Paths",
        f"{min(30, kept)} of the {n} paths, {band}, at the {out.paths.n_times} observation "
        "times (ticks on the time axis).",
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
    grid, curves, truth_x, bands = lambda_x_curves(out)
    if curves:
        first = bands[0] if bands else None
        fig, ax = figures.plot_lambda_x(
            grid,
            curves,
            truth_x,
            None if first is None else first[:2],
            band_label="band" if first is None else first[2],
        )
        for band in bands[1:]:
            _second_band(ax, grid, band)
        caption = (
            "lambda(x) as learned by the fits of this run's target, over the central 98% of the "
            "observed x"
        )
        if len(bands) == 1:
            caption += f", with the pointwise {bands[0][2]}"
        elif bands:
            caption += ", with pointwise bands: the " + ", the ".join(
                f"{band[2]} {'shaded' if b == 0 else 'outlined'}" for b, band in enumerate(bands)
            )
        caption += "."
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
