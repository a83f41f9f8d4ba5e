"""From a RunOutcome to the report's figures, rendered to PNG bytes in memory."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pathfit.design import StreamedPaths
from pathfit.estimators import GradientFit
from pathfit.models import AbstractLinearModel, PolynomialLambda
from pathfit.report import figures
from pathfit.report.palette import method_color
from pathfit.targets import ConstantLam

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure

    from pathfit.app.outcome import MethodOutcome, RunOutcome


SCALE = 2
"""The report's PNGs have this many pixels per CSS pixel, for sharp figures on dense screens."""


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: its file name, heading, caption and PNG bytes.

    Attributes:
        css_width, css_height: the size to display it at, in CSS pixels (an ``<img>``'s width
            and height); the report's PNGs are ``SCALE`` times as many pixels each way.
    """

    filename: str
    title: str
    caption: str
    png: bytes
    css_width: int = round(figures.FIGSIZE[0] * figures.DPI)
    css_height: int = round(figures.FIGSIZE[1] * figures.DPI)


PALETTE = 256
"""Colours of the report's PNGs: a palette this size looks the same as full colour on these
figures (flat colours, antialiased edges) at a third to a quarter of the bytes."""


def report_figure(filename: str, title: str, caption: str, fig: Figure) -> ReportFigure:
    """``fig`` rendered at ``SCALE`` times its size, to be shown at its size in CSS pixels."""
    width, height = fig.get_size_inches() * fig.dpi
    png = png_bytes(fig, scale=SCALE, colors=PALETTE)
    return ReportFigure(filename, title, caption, png, round(width), round(height))


def png_bytes(fig: Figure, *, scale: float = 1, colors: int | None = None) -> bytes:
    """The figure as PNG bytes (no software tag, so that equal figures give equal bytes),
    ``scale`` times its size in pixels (its dpi times ``scale``), in full colour or, with
    ``colors``, as an opaque PNG of a palette of that many colours.

    Drawn once on its own Agg canvas: ``savefig`` would draw a figure that has a layout engine
    twice (once to lay it out, once to paint). A figure of one axes under constrained layout
    is laid out by :func:`lay_out` first, for about a third less time.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if scale != 1:
        fig.set_dpi(fig.dpi * scale)
    canvas = FigureCanvasAgg(fig)
    lay_out(fig, canvas.get_renderer())
    buffer = io.BytesIO()
    if colors is None:
        canvas.print_png(buffer, metadata={"Software": None})
        return buffer.getvalue()
    from PIL import Image  # matplotlib's own dependency

    canvas.draw()
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
    image.quantize(colors, method=Image.Quantize.FASTOCTREE).save(buffer, format="png")
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


_PROCESS_NAMES = {
    "abm": "arithmetic Brownian motion",
    "gbm": "geometric Brownian motion",
    "ou": "Ornstein-Uhlenbeck",
}


def paths_title(out: RunOutcome) -> str:
    """Where the paths come from: the user's data file, or the simulated process."""
    if out.source is not None:
        return f"Paths in {out.source} and their observation times"
    process = out.config.process
    name = _PROCESS_NAMES.get(process.kind, process.kind)
    return f"Simulated paths: {name} ($\\mu$ = {process.mu:g}, $\\sigma$ = {process.sigma:g})"


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


FLAT = 1e-6
"""A learned lambda(x) whose range is below this fraction of its size is flat."""


def lambda_x_is_flat(curves: dict[str, np.ndarray], truth: np.ndarray | None) -> bool:
    """Whether a lambda(x) figure would show nothing: the true lambda is a constant (or unknown)
    and every learned lambda(x) is flat, to ``FLAT`` of its size."""

    def flat(values: np.ndarray) -> bool:
        return float(np.ptp(values)) <= FLAT * float(np.abs(values).max(initial=0.0))

    return (truth is None or flat(truth)) and all(flat(v) for v in curves.values())


def _band_method(band: Band) -> str:
    return band[2].split("(")[1].split(",")[0]


def _second_band(ax: Axes, grid: np.ndarray, band: Band) -> None:
    """A second band on a lambda(x) figure: faint and outlined in thin solid lines of its
    method's colour, so that it reads apart from the first (shaded) band where they overlap and
    from the curves, which are thicker."""
    lower, upper, label = band
    color = method_color(_band_method(band))
    ax.fill_between(grid, lower, upper, facecolor=color, alpha=0.08, edgecolor="none")
    ax.plot(grid, lower, color=color, linewidth=0.8, alpha=0.8, label=label)
    ax.plot(grid, upper, color=color, linewidth=0.8, alpha=0.8)
    ax.legend(fontsize=7.5, framealpha=0.9)


def _cut_wide_bands(
    ax: Axes, curves: dict[str, np.ndarray], truth: np.ndarray | None, bands: list[Band]
) -> list[str]:
    """Fit the y axis to the curves, the truth and the first band when a second band is far
    wider (a network's band where the data hardly see lambda(x), near x = 0), so that the
    curves are not squeezed into a strip; returns the labels of the bands cut."""
    core = [*curves.values(), *([] if truth is None else [truth]), *(bands[0][:2] if bands else [])]
    low = min(float(np.min(v)) for v in core)
    high = max(float(np.max(v)) for v in core)
    pad = 0.25 * (high - low)
    cut = [
        label
        for lower, upper, label in bands[1:]
        if float(np.min(lower)) < low - 2 * pad or float(np.max(upper)) > high + 2 * pad
    ]
    if cut and pad > 0:
        ax.set_ylim(low - pad, high + pad)
    return cut if pad > 0 else []


def _history(method: MethodOutcome) -> bool:
    r = method.result
    return r is not None and r.history is not None and bool(r.history.step)


def per_sample_curvature(method: MethodOutcome, out: RunOutcome) -> np.ndarray | None:
    """2 |Phi_j|^2 at every time j, for a linear model trained on single samples or minibatches
    (whose stability the largest of them decides); None for any other fit."""
    r = method.result
    model = method.estimator.model
    if (
        r is None
        or r.stability is None
        or "per-sample" not in r.stability.curvature_method
        or not isinstance(model, AbstractLinearModel)
    ):
        return None
    design = figures.to_numpy(model.prepare(out.paths))
    return 2 * np.square(design).sum(axis=1)


def steps_per_epoch(method: MethodOutcome, n_times: int) -> int | None:
    """Steps in one pass over the training times of a gradient fit without hold-out times (one
    per time in per-sample mode, one per batch in minibatch mode); None otherwise."""
    fit = method.estimator
    if not isinstance(fit, GradientFit) or fit.holdout != 0:
        return None
    if fit.mode == "per_sample":
        return n_times
    if fit.mode == "minibatch":
        return math.ceil(n_times / min(fit.batch_size, n_times))
    return 1


_POSITIONS = ("Left", "Right", "Bottom left", "Bottom right")


def _stability_figure(out: RunOutcome) -> tuple[str, str, Figure] | None:
    """The figure that says why a gradient fit diverged (or why a per-sample one is stable):
    the per-sample curvature against 2/lr, and each diverged fit's trajectory on its own axes.
    None when no fit trains on single samples and none diverged.

    Returns:
        the title, the caption and the figure.
    """
    times = figures.to_numpy(out.targets.times)
    curvature: np.ndarray | None = None
    steps: dict[str, float] = {}
    for method in out.methods:
        values = per_sample_curvature(method, out)
        stability = None if method.result is None else method.result.stability
        if values is None or stability is None:
            continue
        if curvature is None:
            curvature = values
        if np.array_equal(values, curvature):  # the same design: the same curvature
            steps[method.name] = stability.step
    diverged = [m for m in out.methods if m.status == "diverged" and m.result is not None]
    n_panels = (curvature is not None) + len(diverged[:3])
    if n_panels == 0:
        return None
    rows = math.ceil(n_panels / 2)
    fig, panels = figures.panel_figure(rows, min(n_panels, 2), 0.6 + 3.2 * rows)
    for extra in panels[n_panels:]:
        extra.set_visible(False)
    positions = iter(_POSITIONS if n_panels > 1 else ("",))
    sentences = []
    if curvature is not None:
        figures.plot_curvature(times, curvature, steps, ax=panels.pop(0))
        L = float(curvature.max())
        where = next(positions)
        sentences.append(
            f"{where + ': t' if where else 'T'}he curvature 2|Phi_j|^2 of the loss of each "
            "sample j against its time (Phi_j, the design row; for one lambda Phi_j = (1/n) "
            "sum_i x_ij^2). A step of size lr on sample j multiplies the error along Phi_j by "
            "1 - lr 2|Phi_j|^2, which is larger than 1 in size where the curvature is above "
            "2/lr (shaded)."
        )
        for name, lr in steps.items():
            unstable = curvature > 2 / lr
            if unstable.any():
                sentences.append(
                    f"{name} steps at lr = {lr:.3g}, so 2/lr = {2 / lr:.4g}: unstable samples "
                    f"are {unstable.mean():.0%} of the times, the first at t = "
                    f"{float(times[unstable].min()):.3g}."
                )
            else:
                sentences.append(
                    f"{name} steps at lr = {lr:.3g}: 2/lr = {2 / lr:.4g} is above every "
                    "sample's curvature, a stable step."
                )
        sentences.append(f"The largest curvature L = {L:.4g} allows only lr < 2/L = {2 / L:.3g}.")
    truth = true_lambda(out)
    for method in diverged[:3]:
        assert method.result is not None
        n_steps = method.result.steps
        per_epoch = steps_per_epoch(method, out.targets.times.shape[0])
        figures.plot_divergence(method.result, truth, ax=panels.pop(0), steps_per_epoch=per_epoch)
        what = "distance from the truth" if truth is not None else "estimate"
        where = next(positions)
        sentences.append(
            f"{where + ': ' if where else ''}{method.name}'s {what} by step, on its own log "
            f"scale, until the loss stopped being finite at step {n_steps}."
        )
        if per_epoch is not None and per_epoch > 1:
            sentences.append(
                f"An epoch here is one pass over the {out.targets.times.shape[0]} times "
                f"({per_epoch} steps), so step {n_steps} is {n_steps / per_epoch:.2g} epochs."
            )
        if method.name == "seed_sgd":
            sentences.append(
                "The seed's 'exploded after about 20 epochs' counted its own epochs, whose "
                "length, step size and data are not recorded here, so the two counts cannot be "
                "matched; the cause, a step above 2/L, is the one shown."
            )
    if len(diverged) > 3:
        sentences.append(
            "Also diverged, not drawn: " + ", ".join(m.name for m in diverged[3:]) + "."
        )
    title = (
        f"Why {diverged[0].name} diverged"
        if len(diverged) == 1
        else "Why " + ", ".join(m.name for m in diverged) + " diverged"
        if diverged
        else "Stability of per-sample gradient training"
    )
    return title, " ".join(sentences), fig


def _converging_figure(out: RunOutcome) -> tuple[str, Figure] | None:
    """The converging gradient fits on their own axes: distance from the truth (or size of the
    estimate) by step above, losses below. None when no converging fit has a history."""
    results = [m.result for m in out.methods if m.result is not None and _history(m)]
    if not any(r.status != "diverged" for r in results):
        return None
    fig, (top, bottom) = figures.panel_figure(2, 1, 6.0)
    truth = true_lambda(out)
    figures.plot_gradient_traces(results, truth, ax=top)
    figures.plot_losses(results, ax=bottom)
    if truth is None:
        what = "the size of the estimate, |lambda_hat| (the truth is unknown)"
    elif isinstance(truth, list):
        what = (
            "the largest distance of its coefficients from the true ones (networks, which have "
            "no such coefficients, appear in the loss panel only)"
        )
    else:
        what = "the distance of the estimate from the truth"
    caption = (
        f"Top: for each converging gradient fit, {what} at every recorded step; bottom: its "
        "training loss (solid) and hold-out loss (dashed, where recorded); both on log scales. "
        "An exact 0 cannot be drawn on a log scale: it is drawn as an open triangle one decade "
        "below the smallest value shown. A fit of one or two steps is drawn as large markers "
        "with their values."
    )
    diverged = [r.method for r in results if r.status == "diverged"]
    if diverged:
        caption += (
            f" {', '.join(diverged)} diverged and is drawn on its own axes in the figure above, "
            "so that it does not squeeze these fits into a strip."
        )
    return caption, fig


def build_figures(out: RunOutcome) -> list[ReportFigure]:
    """Every figure that applies to ``out``, rendered in memory."""
    built: list[ReportFigure] = []

    def add(filename: str, title: str, caption: str, fig: Figure) -> None:
        built.append(report_figure(filename, title, caption, fig))

    shown = out.paths.sample if isinstance(out.paths, StreamedPaths) else out.paths
    horizon = None if out.source is not None else float(out.config.sampling.horizon)
    fig, _ = figures.plot_paths_fan(shown, title=paths_title(out), horizon=horizon)
    n, kept = out.paths.n_paths, shown.n_paths
    band = "their mean and the band holding 90% of them"
    if kept < n:
        band = (
            f"the mean and the 90% band of the first {kept} (the run kept only the power sums "
            "of the others)"
        )
    end = (
        f"the horizon {horizon:g} has its own tick"
        if horizon is not None
        else "the axis ends at the last observation time"
    )
    add(
        "paths.png",
        "Paths",
        f"{min(30, kept)} of the {n} paths, {band}, at the {out.paths.n_times} observation "
        f"times (ticks along the time axis); {end}.",
        fig,
    )
    fitted = fitted_targets(out)
    k = figures.to_numpy(out.targets.values)
    times = figures.to_numpy(out.targets.times)
    fig, ax = figures.plot_targets_fit(times, k, fitted)
    if ax.get_yscale() == "log":
        caption = (
            "Every fit reproduces the observed targets k_j so closely that the curves would "
            "coincide, so the figure shows each fit's relative error |k_hat_j - k_j| / |k_j| "
            "on a log scale (times with k_j = 0 left out; an exact 0 drawn as an open triangle). "
        )
    else:
        caption = "The observed targets k_j (dots) and each method's fitted k_hat_j. "
    add("targets.png", "Targets and fits", caption + "Fits that diverged are left out.", fig)
    if fitted:
        intervals = {m.name: m.result.interval for m in out.methods if m.result is not None}
        fig, _ = figures.plot_residuals(
            times, {name: k - f for name, f in fitted.items()}, k=k, intervals=intervals
        )
        add(
            "residuals.png",
            "Residuals",
            "k_j - k_hat_j along time, one panel per method, each on its own scale, with the "
            "lag-1 autocorrelation along time that chooses the interval method (near 0: "
            "independent noise, classical intervals; near 1: error shared along the paths). "
            f"Residuals below {figures.ROUNDING:g} of max |k_j| (rms) are floating-point "
            "rounding, drawn in grey: their steps and drifts are rounding, not error.",
            fig,
        )
    stability = _stability_figure(out)
    if stability is not None:
        add("stability.png", *stability)
    converging = _converging_figure(out)
    if converging is not None:
        add("losses.png", "Converging gradient fits", *converging)
    grid, curves, truth_x, bands = lambda_x_curves(out)
    if curves and not lambda_x_is_flat(curves, truth_x):
        first = bands[0] if bands else None
        fig, ax = figures.plot_lambda_x(
            grid,
            curves,
            truth_x,
            None if first is None else first[:2],
            band_label="band" if first is None else first[2],
            band_color=None if first is None else method_color(_band_method(first)),
        )
        for band in bands[1:]:
            _second_band(ax, grid, band)
        cut = _cut_wide_bands(ax, curves, truth_x, bands)
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
                " The truth is the wide grey line. Largest |learned - true| on this range: "
                + "; ".join(
                    f"{name} {float(np.abs(values - truth_x).max()):.2g}"
                    for name, values in curves.items()
                )
                + "."
            )
        elif not bands:
            caption += " No fit gave a band, so the wiggles carry no measure of their uncertainty."
        if cut:
            caption += (
                " The axes hold the curves, the truth and the first band; "
                + " and ".join(f"the {label}" for label in cut)
                + " reaches beyond them where it is wider."
            )
        add("lambda_x.png", "lambda(x)", caption, fig)
    return built
