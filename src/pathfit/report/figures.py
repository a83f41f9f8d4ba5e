"""The report's figures, one function each, each answering one question.

Every function takes its data plus ``ax=None`` and returns ``(fig, ax)``: with an ``ax`` it draws
there and returns that axes' figure, without one it makes a figure ``FIGSIZE`` inches wide at
``DPI`` (the report renders it at twice that resolution). :func:`plot_residuals` draws one
panel per method: it takes and returns a list of axes (given one axes, it puts every method
there). matplotlib is imported inside the functions, never at import time, and figures are made
with ``matplotlib.figure.Figure`` (the Agg canvas, no pyplot and no global state), so that
importing pathfit never needs matplotlib and a report can be built in any thread.

Colours are Okabe-Ito's, one per method and the same in every figure (and in the study's maps),
distinguishable with every common colour-vision deficiency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pathfit.estimators import FitResult
from pathfit.paths import Paths
from pathfit.report.palette import LINESTYLES, MARKERS, OKABE_ITO, method_color

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_curvature",
    "plot_divergence",
    "plot_gradient_traces",
    "plot_lambda_x",
    "plot_losses",
    "plot_paths_fan",
    "plot_residuals",
    "plot_targets_fit",
]

FIGSIZE = (7.0, 4.0)
DPI = 110
# Zeros cannot be drawn on a log axis: an exact 0 is drawn one decade below the smallest
# positive value on the axes (at this floor when there is none), with its own marker.
LOG_FLOOR = 1e-17
# A diverging fit reaches 1e300 and beyond, where log-axis limits overflow: drawn here instead
# (its own panel has room for the 250 decades below).
LOG_CEILING = 1e250
# Residuals this small relative to max |k| are floating-point rounding, not error.
ROUNDING = 1e-12
# Fitted targets closer than this (relative) to the observed ones coincide on a linear plot:
# the targets figure shows the relative error instead.
EXACT_FIT = 1e-4

_GREY = "#666666"

K_J = r"$k_j$"
CURVATURE = r"$2|\Phi_j|^2$"


def new_figure(height: float = FIGSIZE[1], width: float = FIGSIZE[0]) -> Figure:
    """An empty figure of the report's width (inches) at ``DPI``, under constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = new_figure()
    return fig, fig.add_subplot()


def to_numpy(values: Any) -> np.ndarray:
    """A float64 NumPy array from a tensor, an array or a sequence."""
    if isinstance(values, torch.Tensor):  # possibly on a GPU
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def _log_limits(ax: Axes, values: list[np.ndarray]) -> None:
    """y limits for a log axis with a margin of 5% of the decades spanned (set before the
    scale, whose autoscaling would otherwise run on the linear limits)."""
    finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values] or [np.empty(0)])
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    decades = math.log10(hi / lo)
    if decades < 2:  # show at least two decades, centred on the data
        widen = 10 ** ((2 - decades) / 2)
        lo, hi, decades = lo / widen, hi * widen, 2.0
    pad = 10 ** (0.05 * decades)
    ax.set_ylim(lo / pad, hi * pad)


def _step_axis(ax: Axes, last_steps: list[float]) -> str:
    """Integer step ticks, with room around fits of a step or two; a log step axis when short
    fits share it with a long one, so that both stay visible. Returns the axis label."""
    from matplotlib.ticker import MaxNLocator

    if last_steps and max(last_steps) >= 50 and max(last_steps) > 20 * min(last_steps):
        ax.set_xscale("log")
        return "step (log scale)"
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if last_steps and max(last_steps) <= 5:
        ax.set_xlim(0.5, max(last_steps) + 0.5)
    return "step"


def _mark_level(ax: Axes, level: float, text: str, *, below: bool = False) -> None:
    ax.axhline(level, color="#999999", linestyle=":", linewidth=0.8)
    ax.annotate(
        text,
        (0.01, level),
        xycoords=("axes fraction", "data"),
        textcoords="offset points",
        xytext=(0, -9 if below else 3),
        fontsize=7,
        color=_GREY,
    )


def _min_span(ax: Axes, values: list[np.ndarray], share: float = 0.05) -> None:
    """Show at least ``share`` of the largest |value| on the y axis, without an offset, so
    that a curve flat to a few parts per million does not fill the axes like a real bend."""
    ax.ticklabel_format(axis="y", useOffset=False)
    finite = np.concatenate([v[np.isfinite(v)] for v in values] or [np.empty(0)])
    if finite.size == 0:
        return
    lo, hi = ax.get_ylim()
    span = share * float(np.abs(finite).max())
    if hi - lo < span:
        centre = (float(finite.min()) + float(finite.max())) / 2
        ax.set_ylim(centre - span / 2, centre + span / 2)


def _finish(
    ax: Axes, title: str, xlabel: str, ylabel: str, *, legend: bool = True, loc: str = "best"
) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5, framealpha=0.9, loc=loc)


def _note(ax: Axes, text: str) -> None:
    """A centred grey note on an axes with nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=_GREY)


def _tick_at_end(ax: Axes, end: float) -> None:
    """x ticks from 0 that end with one at ``end`` (the horizon), whatever its value."""
    from matplotlib.ticker import MaxNLocator

    ticks = [t for t in MaxNLocator(nbins=6).tick_values(0.0, end) if 0 <= t < 0.93 * end]
    ax.set_xticks([*ticks, end], [f"{t:g}" for t in ticks] + [f"{end:.4g}"])


# --- the data ---------------------------------------------------------------------------------


def plot_paths_fan(
    paths: Paths,
    ax: Axes | None = None,
    n_shown: int = 30,
    *,
    title: str = "Paths and their observation times",
    horizon: float | None = None,
) -> tuple[Figure, Axes]:
    """A fan of sample paths against t, their mean and 5-95% band, and the observation times.

    Args:
        paths: the observed paths; ``paths.values`` is (n_paths, n_times), ``paths.times``
            (n_times,), sorted.
        ax: the axes to draw on; a new figure when None.
        n_shown: how many paths to draw (the first ``n_shown``).
        title: where the paths come from (a simulated process, or the user's data file).
        horizon: the end of the time axis, which gets a tick of its own; the last observation
            time when None.
    """
    from matplotlib.lines import Line2D

    fig, ax = _axes(ax)
    values = to_numpy(paths.values)
    times = to_numpy(paths.times)
    shown = values[: max(0, n_shown)]
    if shown.size:
        # one collection of paths: one draw call, however many paths
        ax.plot(times, shown.T, color=OKABE_ITO["blue"], alpha=0.3, linewidth=0.7)
        ax.plot(
            [],
            [],
            color=OKABE_ITO["blue"],
            alpha=0.6,
            linewidth=0.9,
            label=f"{len(shown)} of {values.shape[0]} paths",
        )
    if values.shape[0] > 1:
        low, high = np.quantile(values, [0.05, 0.95], axis=0)
        ax.fill_between(
            times, low, high, color=OKABE_ITO["orange"], alpha=0.25, label="5-95% of paths"
        )
    ax.plot(times, values.mean(axis=0), color="black", linewidth=1.8, label="mean path")
    # The observation times as a rug along the time axis (thinned when very many); its legend
    # entry is a tick, not a line.
    every = max(1, math.ceil(times.size / 2000))
    ax.vlines(
        times[::every],
        0.0,
        0.035,
        transform=ax.get_xaxis_transform(),
        color=_GREY,
        alpha=0.5,
        linewidth=0.5,
    )
    label = f"observation times (m = {times.size})"
    if every > 1:
        label += f", every {every}th shown"
    rug = Line2D([], [], color=_GREY, marker="|", markersize=8, linestyle="none")
    end = horizon if horizon is not None else float(times[-1]) if times.size else 1.0
    ax.set_xlim(0.0, end)
    _tick_at_end(ax, end)
    _finish(ax, title, "time $t$", "$x(t)$", legend=False)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend([*handles, rug], [*labels, label], fontsize=7.5, framealpha=0.9, loc="upper left")
    return fig, ax


def _relative_errors(k: np.ndarray, fitted: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """|k_hat_j - k_j| / |k_j| at the times where k_j is not 0."""
    nonzero = k != 0
    return {
        name: np.abs(to_numpy(k_hat)[nonzero] - k[nonzero]) / np.abs(k[nonzero])
        for name, k_hat in fitted.items()
    }


def plot_targets_fit(
    times: Any, k: Any, fitted: Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """The observed targets k_j against t with each method's fitted k_hat_j; when every fit
    matches k to better than ``EXACT_FIT`` (relative), where the curves would coincide, the
    relative error |k_hat_j - k_j| / |k_j| on a log scale instead.

    Args:
        times: (n_times,) observation times.
        k: (n_times,) observed targets.
        fitted: method name -> (n_times,) fitted targets at the same times.
        ax: the axes to draw on; a new figure when None.
    """
    fig, ax = _axes(ax)
    t, observed = to_numpy(times), to_numpy(k)
    relative = _relative_errors(observed, fitted)
    worst = max((float(np.max(r, initial=0.0)) for r in relative.values()), default=math.inf)
    if not fitted or not worst < EXACT_FIT:
        for b, (name, k_hat) in enumerate(fitted.items()):
            ax.plot(
                t,
                to_numpy(k_hat),
                color=method_color(name, b),
                linestyle=LINESTYLES[b % len(LINESTYLES)],
                linewidth=1.3,
                label=f"{name} (fit)",
                zorder=2,
            )
        # the observations under the fits, grey and larger than the lines are wide, so that
        # each shows around the lines, and the lines through a cloud of many
        ax.scatter(
            t,
            observed,
            s=9,
            color="#888888",
            alpha=0.45,
            linewidths=0,
            label=f"{K_J} observed",
            zorder=1,
        )
        _finish(ax, "Observed and fitted targets", "time $t$", K_J)
        return fig, ax
    nonzero = observed != 0
    _draw_log_traces(
        ax,
        [
            _Trace(name, method_color(name, b), t[nonzero], r, "none", MARKERS[b % len(MARKERS)])
            for b, (name, r) in enumerate(relative.items())
        ],
        note=False,
    )
    _finish(
        ax,
        f"Every fit reproduces {K_J} to within {worst:.1g}: relative error",
        "time $t$",
        r"$|\hat k_j - k_j|\,/\,|k_j|$",
    )
    return fig, ax


def _lag1(values: np.ndarray) -> float:
    """The sample autocorrelation at lag 1 along time, as the interval choice measures it."""
    centred = values - values.mean()
    denominator = float(np.sum(centred**2))
    if denominator == 0 or values.size < 2:
        return 0.0
    return float(np.sum(centred[1:] * centred[:-1])) / denominator


def panel_figure(
    rows: int,
    columns: int,
    height: float,
    *,
    sharex: bool = False,
    row_gap: float = 0.8,
    column_gap: float = 1.0,
) -> tuple[Figure, list[Axes]]:
    """A figure of the report's width with a grid of panels at fixed margins (in inches, room
    for tick labels, axis labels and a title per panel): no layout engine, which would measure
    every label of every panel, several times, at a cost larger than the drawing's. The gaps
    between panels are in inches."""
    from matplotlib.figure import Figure

    width = FIGSIZE[0]
    fig = Figure(figsize=(width, height), dpi=DPI)
    grid = fig.subplots(
        rows,
        columns,
        sharex=sharex,
        squeeze=False,
        gridspec_kw={
            "left": 0.8 / width,
            "right": 1 - 0.15 / width,
            "bottom": 0.5 / height,
            "top": 1 - 0.32 / height,
            # the space between panels, as a fraction of a panel's size
            "hspace": row_gap / ((height - 0.82 - row_gap * (rows - 1)) / rows),
            "wspace": column_gap / ((width - 0.95 - column_gap * (columns - 1)) / columns),
        },
    )
    return fig, list(grid.ravel())


def residual_panels(n: int) -> tuple[Figure, list[Axes]]:
    """A figure with one residual panel per method: a column of two at most, else two columns."""
    columns = 1 if n <= 2 else 2
    rows = math.ceil(n / columns)
    fig, grid = panel_figure(rows, columns, 0.4 + 1.9 * rows, sharex=True, row_gap=0.45)
    for extra in grid[n:]:
        extra.set_visible(False)
    return fig, grid[:n]


def plot_residuals(
    times: Any,
    residuals: Mapping[str, Any],
    ax: Axes | Sequence[Axes] | np.ndarray | None = None,
    *,
    k: Any = None,
    intervals: Mapping[str, str | None] | None = None,
) -> tuple[Figure, Axes | list[Axes]]:
    """The residuals k_j - k_hat_j against t: one panel per method, each on its own scale, with
    the lag-1 autocorrelation along time that the interval choice reads; on one given axes,
    all methods on a symmetric-log scale.

    Args:
        times: (n_times,) observation times, sorted.
        residuals: method name -> (n_times,) residuals.
        ax: None for a new figure with one panel per method; a sequence of axes, one per
            method; or one axes for all methods (symmetric-log y).
        k: (n_times,) observed targets: residuals below ``ROUNDING`` x max |k| (rms) are marked
            as rounding, not error.
        intervals: method name -> the interval method its fit chose (shown with the lag-1
            autocorrelation).

    Returns:
        the figure and its panels: a list of axes, or one axes when there is one panel.
    """
    t = to_numpy(times)
    scale = float(np.abs(to_numpy(k)).max()) if k is not None and np.size(k) else None
    if ax is not None and not isinstance(ax, Sequence | np.ndarray):  # one axes for all
        return _residuals_symlog(t, residuals, ax, scale)
    if ax is None and len(residuals) == 1:  # one method: the report's usual figure
        fig, single = _axes(None)
        panels = [single]
    elif ax is None:
        fig, panels = residual_panels(len(residuals))
    else:
        panels = list(np.ravel(ax))  # a list, or an array from Figure.subplots
        fig = panels[0].figure
    for b, (panel, (name, r)) in enumerate(zip(panels, residuals.items(), strict=True)):
        values = to_numpy(r)
        rms = float(np.sqrt(np.mean(values**2))) if values.size else 0.0
        rounding = scale is not None and rms <= ROUNDING * scale
        panel.axhline(0.0, color="black", linewidth=0.6)
        panel.plot(t, values, color="#999999" if rounding else method_color(name, b), linewidth=0.8)
        interval = (intervals or {}).get(name)
        if rms == 0:
            what = "exactly 0 at every time"
        elif rounding:
            assert scale is not None
            what = (
                f"rms {rms:.1g} = {rms / scale:.0e} max$|k|$:\nfloating-point rounding, not error"
            )
        else:
            what = f"rms {rms:.2g}\nlag-1 autocorrelation {_lag1(values):.2f}"
            if interval:
                what += f"\n{interval} interval"
        panel.text(
            0.02,
            0.96,
            what,
            transform=panel.transAxes,
            ha="left",
            va="top",
            fontsize=7,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5},
            zorder=5,
        )
        panel.set_title(name, fontsize=9, color=method_color(name, b))
        panel.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3), useOffset=False)
        panel.yaxis.get_offset_text().set_fontsize(7)
        panel.tick_params(labelsize=7.5)
        panel.grid(True, alpha=0.3, linewidth=0.6)
        spec = panel.get_subplotspec()
        columns = 1 if spec is None else spec.get_gridspec().ncols
        if b + columns >= len(panels):  # no panel below this one
            panel.set_xlabel("time $t$", fontsize=8.5)
            panel.tick_params(labelbottom=True)
        if spec is None or spec.is_first_col():
            panel.set_ylabel(r"$k_j - \hat k_j$", fontsize=8.5)
    return fig, panels[0] if len(panels) == 1 else panels


def _residuals_symlog(
    t: np.ndarray, residuals: Mapping[str, Any], ax: Axes, scale: float | None
) -> tuple[Figure, Axes]:
    """All residuals on one symmetric-log axis, linear within the smallest rms."""
    fig = ax.figure
    ax.axhline(0.0, color="black", linewidth=0.6)
    sizes = []
    for b, (name, r) in enumerate(residuals.items()):
        values = to_numpy(r)
        rms = float(np.sqrt(np.mean(values**2))) if values.size else 0.0
        sizes.append(rms)
        tail = " (rounding)" if scale is not None and rms <= ROUNDING * scale else ""
        ax.plot(
            t,
            values,
            color=method_color(name, b),
            linestyle=LINESTYLES[b % len(LINESTYLES)],
            linewidth=0.9,
            label=f"{name}: rms {rms:.2g}, lag-1 {_lag1(values):.2f}{tail}",
        )
    positive = [s for s in sizes if s > 0]
    if positive:
        ax.set_yscale("symlog", linthresh=min(positive))
    _finish(ax, "Residuals along time (symmetric log)", "time $t$", r"$k_j - \hat k_j$")
    return fig, ax  # type: ignore[return-value]


# --- gradient training ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trace:
    """One curve on a log axis: its label, colour, x, y (>= 0, NaN where not recorded)."""

    label: str
    color: str
    x: np.ndarray
    y: np.ndarray
    linestyle: str = "-"
    marker: str | None = "o"


def _draw_log_traces(ax: Axes, traces: list[_Trace], *, note: bool = True) -> list[float]:
    """Draw ``traces`` on a log y axis; returns the last x of each (for the step axis).

    Exact zeros are drawn one decade below the smallest positive value (open down-triangles,
    or ticks where there are many, with a legend entry that says so); values above
    ``LOG_CEILING`` at the ceiling. A trace of one point is drawn as a large marker labelled
    with its value, not a dot. With ``note``, an axes left empty says so.
    """
    kept = [(tr, np.isfinite(tr.y)) for tr in traces]
    positive = np.concatenate([tr.y[k & (tr.y > 0)] for tr, k in kept] or [np.empty(0)])
    floor = 10 ** (math.floor(math.log10(positive.min())) - 1) if positive.size else LOG_FLOOR
    zeros = clipped = many_zeros = False
    plotted, last = [], []
    for trace, keep in kept:
        if not keep.any():
            continue
        x, y = trace.x[keep], trace.y[keep]
        zero = y <= 0
        zeros = zeros or bool(zero.any())
        high = y > LOG_CEILING
        clipped = clipped or bool(high.any())
        y = np.clip(y, floor, LOG_CEILING)
        points = trace.linestyle == "none"  # a cloud of points, one per time
        label = trace.label
        if points and zero.any():
            label += f" ({int(zero.sum())} of {len(x)} exactly 0)"
        many = int(zero.sum()) > 30
        many_zeros = many_zeros or many
        ax.plot(
            x[~zero] if points else x,
            y[~zero] if points else y,
            color=trace.color,
            linestyle=trace.linestyle,
            linewidth=1.4,
            marker=trace.marker if trace.marker and (points or len(x) <= 30) else None,
            markersize=7 if len(x) == 1 else 2.5 if points else 3.5,
            alpha=0.7 if points else 1.0,
            label=label,
        )
        if zero.any():
            ax.plot(
                x[zero],
                y[zero],
                linestyle="none",
                marker="|" if many else "v",
                markersize=5 if many else 7,
                markerfacecolor="white",
                color=trace.color,
                zorder=4,
            )
        if len(x) == 1:
            shown = "exactly 0" if zero[0] else f"{float(trace.y[keep][0]):.2g}"
            ax.annotate(
                shown,
                (x[0], y[0]),
                textcoords="offset points",
                xytext=(7, 4),
                fontsize=7.5,
                color=trace.color,
            )
        plotted.append(y)
        last.append(float(x[-1]))
    if zeros:
        ax.axhline(floor, color="#999999", linestyle=":", linewidth=0.8)
        ax.plot(
            [],
            [],
            linestyle="none",
            marker="|" if many_zeros else "v",
            markersize=7,
            markerfacecolor="white",
            color=_GREY,
            label=f"exactly 0, drawn at {floor:.0e}",
        )
    if clipped:
        _mark_level(
            ax, LOG_CEILING, f"above {LOG_CEILING:.0e} drawn at {LOG_CEILING:.0e}", below=True
        )
    if plotted:
        _log_limits(ax, plotted)  # first: set_yscale would autoscale and overflow
        ax.set_yscale("log")
    if note and not plotted:
        _note(ax, "nothing recorded to show")
    return last


def _trace(result: FitResult, truth: float | Sequence[float] | None) -> np.ndarray | None:
    """(n, 2) array of (step, quantity) for one fit, or None when it has nothing to compare."""
    history = result.history
    if history is None or not history.step:
        return None
    steps = np.asarray(history.step, dtype=np.float64)
    if truth is not None and not isinstance(truth, int | float):
        coef = np.asarray(truth, dtype=np.float64)
        params = history.params
        if params is None or len(params) != len(steps) or len(result.param_names) != coef.size:
            return None
        values = np.abs(np.asarray(params, dtype=np.float64) - coef).max(axis=1)
    else:
        values = _recorded(history.estimate)
        if result.model == "ConstantLambda" and history.params is not None:
            # the parameter is lambda itself, recorded even where the estimate was not measured
            values = np.asarray([p[0] for p in history.params], dtype=np.float64)
        # on a log axis: the distance from the truth, or the size of the estimate without one
        values = np.abs(values if truth is None else values - float(truth))
    keep = np.isfinite(values)
    if not keep.any():
        return None
    return np.column_stack([steps[keep], values[keep]])


def _trace_label(truth: float | Sequence[float] | None) -> str:
    if truth is None:
        return r"$|\hat\lambda|$"
    if isinstance(truth, int | float):
        return r"$|\hat\lambda - \lambda|$"
    return r"$\max_d |\hat c_d - c_d|$"


def _diverged_entries(ax: Axes, diverged: list[FitResult], index: Mapping[str, int]) -> None:
    """A legend entry for each diverged fit left out, so that none vanishes silently."""
    for result in diverged:
        ax.plot(
            [],
            [],
            linestyle="none",
            marker="X",
            markersize=7,
            color=method_color(result.method, index[result.method]),
            label=f"{result.method}: diverged at step {result.steps} (own panel)",
        )


def plot_gradient_traces(
    results: Sequence[FitResult],
    true_lam: float | Sequence[float] | None,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """How far each converging gradient fit's estimate is from the truth, step by step, on a log
    scale. A diverged fit is not drawn here (its trajectory would squeeze the others into a
    strip; :func:`plot_divergence` draws it on its own axes): the legend names it.

    Args:
        results: fit results; those without a history (closed-form fits) are left out.
        true_lam: the true constant lambda, plotted as |lambda_hat - lambda|; or the true
            coefficients of a linear model, plotted as max_d |c_hat_d - c_d| for the fits with
            that many coefficients; or None when the truth is unknown, to plot |lambda_hat|.
        ax: the axes to draw on; a new figure when None.
    """
    fig, ax = _axes(ax)
    index = {r.method: b for b, r in enumerate(results)}
    traces, diverged = [], []
    for b, result in enumerate(results):
        trace = _trace(result, true_lam)
        if trace is None:
            continue
        if result.status == "diverged":
            diverged.append(result)
            continue
        traces.append(
            _Trace(
                f"{result.method} ({result.status}, {result.steps} steps)",
                method_color(result.method, b),
                trace[:, 0],
                trace[:, 1],
            )
        )
    last = _draw_log_traces(ax, traces)
    _diverged_entries(ax, diverged, index)
    if true_lam is None:
        title = "Converging gradient fits: estimate by step (truth unknown)"
    elif isinstance(true_lam, int | float):
        title = "Converging gradient fits: error by step"
    else:
        title = "Converging gradient fits: coefficient error by step"
    _finish(ax, title, _step_axis(ax, last), _trace_label(true_lam))
    return fig, ax


def plot_losses(results: Sequence[FitResult], ax: Axes | None = None) -> tuple[Figure, Axes]:
    """Training loss, and hold-out loss where it was recorded, of the converging fits against
    step on a log scale; a diverged fit is named in the legend, not drawn.

    The training loss is the full training loss where it was measured (every step in
    full-batch mode, at epoch ends otherwise), else the batch loss. Fits without a history are
    left out.

    Args:
        results: fit results.
        ax: the axes to draw on; a new figure when None.
    """
    fig, ax = _axes(ax)
    index = {r.method: b for b, r in enumerate(results)}
    traces, diverged = [], []
    for b, result in enumerate(results):
        history = result.history
        if history is None or not history.step:
            continue
        if result.status == "diverged":
            diverged.append(result)
            continue
        steps = np.asarray(history.step, dtype=np.float64)
        color = method_color(result.method, b)
        train, what = _recorded(history.train_loss), "training loss"
        if not np.isfinite(train).any():
            train, what = _recorded(history.loss), "batch loss"
        traces.append(_Trace(f"{result.method}: {what}", color, steps, train))
        holdout = _recorded(history.holdout_loss)
        if np.isfinite(holdout).any():
            traces.append(
                _Trace(f"{result.method}: hold-out loss", color, steps, holdout, "--", "s")
            )
    last = _draw_log_traces(ax, traces)
    _diverged_entries(ax, diverged, index)
    _finish(
        ax,
        "Converging gradient fits: loss by step",
        _step_axis(ax, last),
        r"mean squared error of $k$",
    )
    return fig, ax


def _recorded(values: Sequence[float | None]) -> np.ndarray:
    """A float array with NaN where nothing was recorded."""
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def plot_curvature(
    times: Any,
    curvature: Any,
    steps: Mapping[str, float],
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Why a per-sample gradient fit is stable or not: the curvature 2 |Phi_j|^2 of the loss of
    each sample j against t_j, beside the line 2/lr of each fit's step size lr. A step on
    sample j multiplies the error along Phi_j by 1 - lr 2 |Phi_j|^2, larger than 1 in size
    where the curvature is above 2/lr (shaded); the largest curvature L sets the stable limit
    lr < 2/L.

    Args:
        times: (n_times,) observation times t_j.
        curvature: (n_times,) per-sample curvature 2 |Phi_j|^2 at those times.
        steps: fit label (a method name) -> its step size lr.
        ax: the axes to draw on; a new figure when None.
    """
    fig, ax = _axes(ax)
    t, c = to_numpy(times), to_numpy(curvature)
    order = np.argsort(t)
    t, c = t[order], c[order]
    ax.plot(t, c, color="black", linewidth=1.0, label=CURVATURE)
    top = float(c.max()) if c.size else 1.0
    for b, (name, lr) in enumerate(steps.items()):
        color = method_color(name, b)
        level = 2.0 / lr
        unstable = c > level
        ax.axhline(
            level,
            color=color,
            linestyle="--",
            linewidth=1.3,
            label=f"2/lr = {level:.4g} ({name})",
        )
        if unstable.any():
            ax.fill_between(
                t,
                level,
                c,
                where=unstable,
                color=color,
                alpha=0.25,
                linewidth=0,
                label=f"unstable{'' if len(steps) == 1 else f' for {name}'}: "
                f"{unstable.mean():.0%} of times",
            )
        top = max(top, level)
    if c.size:
        j = int(np.argmax(c))
        ax.plot(
            t[j],
            c[j],
            marker="o",
            color="black",
            markersize=5,
            linestyle="none",
            label=f"L = {c[j]:.4g}: stable for lr < {2 / c[j]:.2g}",
        )
    ax.set_ylim(0.0, 1.08 * top)
    ax.set_xlim(0.0, float(t[-1]) if t.size else 1.0)
    _finish(
        ax,
        "Per-sample curvature against the stable limit",
        "time $t_j$",
        f"curvature {CURVATURE}",
        loc="upper left",
    )
    return fig, ax


def plot_divergence(
    result: FitResult,
    true_lam: float | Sequence[float] | None,
    ax: Axes | None = None,
    *,
    steps_per_epoch: int | None = None,
) -> tuple[Figure, Axes]:
    """A diverged fit's trajectory on its own log axis: its distance from the truth (or the
    size of its estimate) by step, ending in a cross at its last finite value; the step where it
    stopped also in epochs when one is defined.

    Args:
        result: the diverged fit.
        true_lam: as for :func:`plot_gradient_traces`.
        ax: the axes to draw on; a new figure when None.
        steps_per_epoch: steps in one pass over the training times, to say when in epochs.
    """
    fig, ax = _axes(ax)
    color = method_color(result.method)
    trace = _trace(result, true_lam)
    if trace is None:
        _note(ax, f"{result.method}: no recorded trajectory")
        _finish(ax, f"{result.method}: {result.status}", "step", _trace_label(true_lam))
        return fig, ax
    _draw_log_traces(ax, [_Trace(result.method, color, trace[:, 0], trace[:, 1], "-", None)])
    x, y = trace[-1, 0], min(float(trace[-1, 1]), LOG_CEILING)
    ax.plot(x, y, marker="X", markersize=10, color=color, linestyle="none", zorder=5)
    where = f"diverged at step {result.steps}"
    if steps_per_epoch:
        where += f"\n= {result.steps / steps_per_epoch:.3g} epochs of {steps_per_epoch} steps"
    ax.text(
        0.03, 0.96, where, transform=ax.transAxes, ha="left", va="top", fontsize=7.5, color=color
    )
    ax.set_xlim(0.0, 1.04 * max(float(x), 1.0))
    _finish(
        ax,
        f"{result.method}: {where.splitlines()[0]}",
        "step",
        _trace_label(true_lam),
        legend=False,
    )
    return fig, ax


# --- lambda(x) --------------------------------------------------------------------------------


def plot_lambda_x(
    x_grid: Any,
    curves: Mapping[str, Any],
    truth: Any = None,
    band: tuple[Any, Any] | None = None,
    ax: Axes | None = None,
    *,
    band_label: str = "95% band",
    band_color: str | None = None,
) -> tuple[Figure, Axes]:
    """Learned lambda(x) against the truth, with an uncertainty band.

    The truth is a wide pale line under the learned curves, so that it shows on both sides of
    a curve that lies on it.

    Args:
        x_grid: (n,) points x.
        curves: name -> (n,) learned lambda(x) on the grid.
        truth: (n,) true lambda(x) on the grid, or None when unknown.
        band: (lower, upper), each (n,), a pointwise band (drawn shaded), or None.
        ax: the axes to draw on; a new figure when None.
        band_label: the band's legend entry.
        band_color: the band's colour (its method's); the first curve's when None.
    """
    fig, ax = _axes(ax)
    x = to_numpy(x_grid)
    if band is not None:
        color = band_color or method_color(next(iter(curves), "").split(" ")[0])
        ax.fill_between(
            x, to_numpy(band[0]), to_numpy(band[1]), color=color, alpha=0.2, label=band_label
        )
    if truth is not None:
        ax.plot(
            x,
            to_numpy(truth),
            color="black",
            linewidth=5.0,
            alpha=0.25,
            solid_capstyle="butt",
            label=r"true $\lambda(x)$",
        )
    for b, (name, values) in enumerate(curves.items()):
        ax.plot(
            x,
            to_numpy(values),
            color=method_color(name.split(" ")[0], b),
            linestyle=LINESTYLES[b % len(LINESTYLES)],
            linewidth=1.6,
            label=name,
        )
    _min_span(
        ax, [to_numpy(v) for v in curves.values()] + ([] if truth is None else [to_numpy(truth)])
    )
    title = r"$\hat\lambda(x)$: learned" + (" (truth unknown)" if truth is None else " and true")
    _finish(ax, title, "$x$ (path value)", r"$\lambda(x)$")
    return fig, ax
