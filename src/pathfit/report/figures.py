"""The report's figures, one function each.

Every function takes its data plus ``ax=None`` and returns ``(fig, ax)``: with an ``ax`` it draws
there and returns that axes' figure, without one it makes a 7 x 4 in figure at 110 dpi.
matplotlib is imported inside the functions, never at import time, and figures are made with
``matplotlib.figure.Figure`` (the Agg canvas, no pyplot and no global state), so that importing
pathfit never needs matplotlib and a report can be built in any thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pathfit.estimators import FitResult
from pathfit.paths import Paths

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_gradient_traces",
    "plot_lambda_x",
    "plot_losses",
    "plot_paths_fan",
    "plot_residuals",
    "plot_targets_fit",
]

FIGSIZE = (7.0, 4.0)
DPI = 110
# Zeros cannot be drawn on a log axis; an error of exactly 0 is drawn at this floor instead.
LOG_FLOOR = 1e-17
# A diverging fit reaches 1e300 and beyond, where log-axis ticks overflow: drawn here instead.
LOG_CEILING = 1e100

# One colour per method, the same in every figure.
_METHOD_COLORS = {
    "least_squares": "#1f77b4",
    "seed_sgd": "#d62728",
    "gradient": "#2ca02c",
    "seed_network": "#9467bd",
    "pointwise_mlp": "#ff7f0e",
}
_OTHER_COLORS = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
_LINESTYLES = ("-", "--", "-.", ":")


def method_color(name: str, index: int = 0) -> str:
    """The colour of method ``name`` in every figure (a fixed palette for unknown names)."""
    return _METHOD_COLORS.get(name, _OTHER_COLORS[index % len(_OTHER_COLORS)])


def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
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
    """Integer step ticks; a log step axis when short fits share it with a long one, so that
    both stay visible. Returns the axis label."""
    from matplotlib.ticker import MaxNLocator

    if last_steps and max(last_steps) >= 50 and max(last_steps) > 20 * min(last_steps):
        ax.set_xscale("log")
        return "step (log scale)"
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return "step"


def _clip_high(values: np.ndarray) -> tuple[np.ndarray, bool]:
    return np.minimum(values, LOG_CEILING), bool((values > LOG_CEILING).any())


def _mark_level(ax: Axes, level: float, text: str, *, below: bool = False) -> None:
    ax.axhline(level, color="#999999", linestyle=":", linewidth=0.8)
    ax.annotate(
        text,
        (0.01, level),
        xycoords=("axes fraction", "data"),
        textcoords="offset points",
        xytext=(0, -9 if below else 3),
        fontsize=7,
        color="#666666",
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


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str, *, legend: bool = True) -> None:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, framealpha=0.9)


def plot_paths_fan(paths: Paths, ax: Axes | None = None, n_shown: int = 30) -> tuple[Figure, Axes]:
    """A fan of sample paths against t, their mean and 5-95% band, and the observation times.

    Args:
        paths: the observed paths; ``paths.values`` is (n_paths, n_times), ``paths.times``
            (n_times,), sorted.
        ax: the axes to draw on; a new figure when None.
        n_shown: how many paths to draw (the first ``n_shown``).
    """
    fig, ax = _axes(ax)
    values = to_numpy(paths.values)
    times = to_numpy(paths.times)
    shown = values[: max(0, n_shown)]
    for i, row in enumerate(shown):
        ax.plot(
            times,
            row,
            color="#4c72b0",
            alpha=0.35,
            linewidth=0.7,
            label=f"{len(shown)} of {values.shape[0]} paths" if i == 0 else None,
        )
    if values.shape[0] > 1:
        low, high = np.quantile(values, [0.05, 0.95], axis=0)
        ax.fill_between(times, low, high, color="#dd8452", alpha=0.25, label="5-95% of paths")
    ax.plot(times, values.mean(axis=0), color="black", linewidth=1.8, label="mean path")
    # The random observation times as a rug along the time axis (thinned when very many).
    rug = times if times.size <= 2000 else times[:: math.ceil(times.size / 2000)]
    label = f"observation times (m = {times.size})"
    if rug.size < times.size:
        label += f", every {math.ceil(times.size / 2000)}th shown"
    ax.vlines(
        rug,
        0.0,
        0.035,
        transform=ax.get_xaxis_transform(),
        color="#555555",
        alpha=0.5,
        linewidth=0.5,
        label=label,
    )
    ax.set_xlim(0.0, float(times[-1]) if times.size else 1.0)
    _finish(ax, "Simulated paths and their observation times", "time t", "x(t)")
    return fig, ax


def plot_targets_fit(
    times: Any, k: Any, fitted: Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """The observed targets k_j against t with each method's fitted k_hat_j.

    Args:
        times: (n_times,) observation times.
        k: (n_times,) observed targets.
        fitted: method name -> (n_times,) fitted targets at the same times.
        ax: the axes to draw on; a new figure when None.
    """
    fig, ax = _axes(ax)
    t = to_numpy(times)
    ax.scatter(t, to_numpy(k), s=6, color="#888888", alpha=0.6, label="k_j observed", zorder=1)
    for b, (name, k_hat) in enumerate(fitted.items()):
        ax.plot(
            t,
            to_numpy(k_hat),
            color=method_color(name, b),
            linestyle=_LINESTYLES[b % len(_LINESTYLES)],
            linewidth=1.8 if b == 0 else 1.4,
            label=f"{name} (fit)",
            zorder=2 + b,
        )
    _finish(ax, "Targets and fitted curves", "time t", "k_j")
    return fig, ax


def plot_residuals(
    times: Any, residuals: Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """The residuals k_j - k_hat_j of each method against t.

    Args:
        times: (n_times,) observation times.
        residuals: method name -> (n_times,) residuals.
        ax: the axes to draw on; a new figure when None.
    """
    fig, ax = _axes(ax)
    t = to_numpy(times)
    ax.axhline(0.0, color="black", linewidth=0.8)
    for b, (name, r) in enumerate(residuals.items()):
        values = to_numpy(r)
        scale = float(np.sqrt(np.mean(values**2))) if values.size else 0.0
        ax.plot(
            t,
            values,
            color=method_color(name, b),
            linestyle=_LINESTYLES[b % len(_LINESTYLES)],
            linewidth=1.0,
            alpha=0.85,
            label=f"{name} (rms {scale:.2g})",
        )
    _finish(ax, "Residuals along time", "time t", "k_j - k_hat_j")
    return fig, ax


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


def plot_gradient_traces(
    results: Sequence[FitResult],
    true_lam: float | Sequence[float] | None,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """How far each gradient fit's estimate is from the truth, step by step, on a log scale.

    Args:
        results: fit results; those without a history (closed-form fits) are left out.
        true_lam: the true constant lambda, plotted as |lambda_hat - lambda|; or the true
            coefficients of a linear model, plotted as max_d |c_hat_d - c_d| for the fits with
            that many coefficients; or None when the truth is unknown, to plot |lambda_hat|.
        ax: the axes to draw on; a new figure when None.

    A fit that diverged ends in a cross at its last finite value, labelled with its step.
    Exact zeros are drawn at ``LOG_FLOOR``, values beyond ``LOG_CEILING`` at the ceiling.
    """
    fig, ax = _axes(ax)
    coefficients = true_lam is not None and not isinstance(true_lam, int | float)
    drawn = 0
    floored = clipped = False
    plotted: list[np.ndarray] = []
    last_steps: list[float] = []
    for b, result in enumerate(results):
        trace = _trace(result, true_lam)
        if trace is None:
            continue
        steps, values = trace[:, 0], trace[:, 1]
        floored = floored or bool((values <= 0).any())
        values = np.maximum(values, LOG_FLOOR)
        values, high = _clip_high(values)
        clipped = clipped or high
        last_steps.append(float(steps[-1]))
        color = method_color(result.method, b)
        ax.plot(
            steps,
            values,
            color=color,
            linewidth=1.4,
            marker="o" if len(steps) <= 30 else None,
            markersize=3,
            label=f"{result.method} ({result.status}, {result.steps} steps)",
        )
        if result.status == "diverged":
            ax.plot(steps[-1], values[-1], marker="X", markersize=10, color=color, zorder=5)
            ax.annotate(
                f"diverged at step {result.steps}",
                (steps[-1], values[-1]),
                textcoords="offset points",
                xytext=(-8, -14),
                ha="right",
                fontsize=8,
                color=color,
            )
        drawn += 1
        plotted.append(values)
    if floored:
        _mark_level(ax, LOG_FLOOR, f"exactly 0 drawn at {LOG_FLOOR:g}")
    if clipped:
        _mark_level(ax, LOG_CEILING, f"above {LOG_CEILING:g} drawn at {LOG_CEILING:g}", below=True)
    if drawn == 0:
        ax.text(
            0.5,
            0.5,
            "no gradient fit to show",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="#666666",
        )
    else:
        _log_limits(ax, plotted)  # first: set_yscale would autoscale and overflow
        ax.set_yscale("log")
    if true_lam is None:
        ylabel, title = "|lambda_hat|", "Gradient fits: estimate by step (truth unknown)"
    elif coefficients:
        ylabel, title = "max_d |c_hat_d - c_d|", "Gradient fits: coefficient error by step"
    else:
        ylabel, title = "|lambda_hat - lambda|", "Gradient fits: error by step"
    _finish(ax, title, _step_axis(ax, last_steps), ylabel)
    return fig, ax


def plot_losses(results: Sequence[FitResult], ax: Axes | None = None) -> tuple[Figure, Axes]:
    """Training loss, and hold-out loss where it was recorded, against step on a log scale.

    The training loss is the full training loss where it was measured (every step in
    full-batch mode, at epoch ends otherwise), else the batch loss. Fits without a history are
    left out; a diverged fit ends in a cross.

    Args:
        results: fit results.
        ax: the axes to draw on; a new figure when None.
    """
    fig, ax = _axes(ax)
    clipped = False
    plotted: list[np.ndarray] = []
    last_steps: list[float] = []
    for b, result in enumerate(results):
        history = result.history
        if history is None or not history.step:
            continue
        steps = np.asarray(history.step, dtype=np.float64)
        color = method_color(result.method, b)
        train, what = _recorded(history.train_loss), "training loss"
        if not np.isfinite(train).any():
            train, what = _recorded(history.loss), "batch loss"
        curves = (
            (train, what, "-", "o"),
            (_recorded(history.holdout_loss), "hold-out loss", "--", "s"),
        )
        for values, label, linestyle, marker in curves:
            keep = np.isfinite(values) & (values > 0)
            if not keep.any():
                continue
            x, y = steps[keep], values[keep]
            y, high = _clip_high(y)
            clipped = clipped or high
            ax.plot(
                x,
                y,
                color=color,
                linestyle=linestyle,
                linewidth=1.4,
                marker=marker if len(x) <= 30 else None,
                markersize=3,
                label=f"{result.method}: {label}",
            )
            plotted.append(y)
            last_steps.append(float(x[-1]))
            if result.status == "diverged" and label != "hold-out loss":
                ax.plot(x[-1], y[-1], marker="X", markersize=10, color=color, zorder=5)
    if clipped:
        _mark_level(ax, LOG_CEILING, f"above {LOG_CEILING:g} drawn at {LOG_CEILING:g}", below=True)
    if plotted:
        _log_limits(ax, plotted)  # first: set_yscale would autoscale and overflow
        ax.set_yscale("log")
    else:
        ax.text(
            0.5,
            0.5,
            "no recorded losses",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="#666666",
        )
    _finish(ax, "Loss by step", _step_axis(ax, last_steps), "mean squared error of k")
    return fig, ax


def _recorded(values: Sequence[float | None]) -> np.ndarray:
    """A float array with NaN where nothing was recorded."""
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def plot_lambda_x(
    x_grid: Any,
    curves: Mapping[str, Any],
    truth: Any = None,
    band: tuple[Any, Any] | None = None,
    ax: Axes | None = None,
    *,
    band_label: str = "95% band",
) -> tuple[Figure, Axes]:
    """Learned lambda(x) against the truth, with an uncertainty band.

    Args:
        x_grid: (n,) points x.
        curves: name -> (n,) learned lambda(x) on the grid.
        truth: (n,) true lambda(x) on the grid, or None when unknown.
        band: (lower, upper), each (n,), a pointwise band (drawn shaded), or None.
        ax: the axes to draw on; a new figure when None.
        band_label: the band's legend entry.
    """
    fig, ax = _axes(ax)
    x = to_numpy(x_grid)
    if band is not None:
        ax.fill_between(
            x, to_numpy(band[0]), to_numpy(band[1]), color="#1f77b4", alpha=0.2, label=band_label
        )
    if truth is not None:
        ax.plot(x, to_numpy(truth), color="black", linewidth=2.2, alpha=0.8, label="truth")
    for b, (name, values) in enumerate(curves.items()):
        base = name.split(" ")[0]
        ax.plot(
            x,
            to_numpy(values),
            color=method_color(base, b),
            linestyle=_LINESTYLES[(b + 1) % len(_LINESTYLES)],
            linewidth=1.6,
            label=name,
        )
    _min_span(
        ax, [to_numpy(v) for v in curves.values()] + ([] if truth is None else [to_numpy(truth)])
    )
    _finish(ax, "lambda(x): learned and true", "x (path value)", "lambda(x)")
    return fig, ax
