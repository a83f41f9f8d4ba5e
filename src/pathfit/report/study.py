"""The report of a study: its maps, drawn from the shards, on one self-contained page.

``write_study_report(folder)`` reads ``study.json`` and ``parts/*.parquet`` and draws each map
the rows allow; for a map it cannot draw it says in one line why:

- **stability**: seed_sgd's status over step size x horizon, with the curvature bound 2/L and
  the exact frontier of noise-free per-sample SGD as lines, beside the guarded gradient fit's
  status on the same grid; and how often "diverged in most replicates" agrees with
  "lr > 2/L" and with "lr > frontier";
- **coverage**: interval coverage over n x m, one panel per noise kind and interval method,
  with exact (Clopper-Pearson) 95% intervals;
- **accuracy**: RMSE against n and m for each method, log-log, with fitted slopes;
- **scaling**: rows and chunks per second against workers, from the runs in study.json.

The numbers behind each map come from plain functions (``stability_summary``,
``coverage_cells``, ``accuracy_curves``, ``scaling_points``), which return ``Unavailable``
with the reason where the rows do not allow the map. matplotlib is imported only where a
figure is drawn.
"""

from __future__ import annotations

import datetime
import math
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pathfit.app.coverage import clopper_pearson
from pathfit.app.study import read_results, read_study
from pathfit.atomic import write_files_atomic
from pathfit.exceptions import InputError
from pathfit.report import content, page
from pathfit.report.build import png_bytes
from pathfit.report.page import Table
from pathfit.report.palette import LINESTYLES, MARKERS, OKABE_ITO, method_color

if TYPE_CHECKING:
    import pyarrow as pa
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "AccuracyCurve",
    "CoverageCell",
    "ScalingPoint",
    "StabilityCell",
    "StabilitySummary",
    "Unavailable",
    "accuracy_curves",
    "coverage_cells",
    "scaling_points",
    "stability_summary",
    "write_study_report",
]

LR_AXIS = "methods.seed_sgd.lr"
HORIZON_AXIS = "sampling.horizon"
N_AXIS = "sampling.n_paths"
M_AXIS = "sampling.n_times"
INTERVAL_AXIS = "methods.least_squares.interval"
DPI = 150
FIGURES = "figures"
MAPS = ("stability", "coverage", "accuracy", "scaling")


STATUS_CLASSES = ("converged", "slow", "diverged", "other")
"""How a fit's status is shown: converged (or early-stopped), slow (ran out of steps or
stalled), diverged, anything else."""
_STATUS_CLASS = {
    "converged": "converged",
    "early_stopped": "converged",
    "max_steps": "slow",
    "stalled": "slow",
    "diverged": "diverged",
}
_CLASS_COLORS = {
    "converged": OKABE_ITO["green"],
    "slow": OKABE_ITO["orange"],
    "diverged": OKABE_ITO["vermillion"],
    "other": "#999999",
}
# Ties for the majority go to the worse outcome.
_TIE_ORDER = ("diverged", "slow", "other", "converged")


@dataclass(frozen=True)
class Unavailable:
    """A map the data do not allow, and why (one line)."""

    reason: str


Columns = Mapping[str, Sequence[Any]]
"""The study's rows by column: name -> one value per row (None where nothing was recorded)."""


# --------------------------------------------------------------------------------------------
# Reading the rows


def _columns(table: pa.Table | None) -> dict[str, list[Any]]:
    return {} if table is None else table.to_pydict()


def _n_rows(columns: Columns) -> int:
    return len(next(iter(columns.values()), []))


def _recorded(columns: Columns, name: str) -> bool:
    """Whether column ``name`` exists and holds at least one value."""
    return any(v is not None for v in columns.get(name, ()))


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, not a number, NaN or infinite)."""
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _numeric_axis(columns: Columns, axis: str, rows: Sequence[int]) -> bool:
    values = columns.get(axis, ())
    return bool(rows) and all(_number(values[i]) is not None for i in rows)


def _rows_of(columns: Columns, method: str) -> list[int]:
    return [i for i, m in enumerate(columns.get("method", ())) if m == method]


def _median(values: Sequence[float | None]) -> float | None:
    finite = [v for v in (_number(x) for x in values) if v is not None]
    return statistics.median(finite) if finite else None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


# --------------------------------------------------------------------------------------------
# 1. stability


@dataclass(frozen=True)
class StabilityCell:
    """One (step size, horizon) point of a method: its replicates' outcomes.

    Attributes:
        lr, horizon: the cell's step size and horizon T.
        counts: status class (see STATUS_CLASSES) -> replicates.
        bound: the median curvature bound 2/L over the cell's rows (None if not recorded).
        frontier: the median exact divergence step size (None if not recorded).
    """

    lr: float
    horizon: float
    counts: Mapping[str, int]
    bound: float | None = None
    frontier: float | None = None

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def share(self, status: str) -> float:
        return self.counts.get(status, 0) / self.n if self.n else 0.0

    @property
    def majority(self) -> str:
        """The status class of most replicates (ties to the worse one)."""
        return max(_TIE_ORDER, key=lambda c: (self.counts.get(c, 0), -_TIE_ORDER.index(c)))

    @property
    def diverged(self) -> bool:
        """Diverged in the majority (more than half) of its replicates."""
        return self.counts.get("diverged", 0) * 2 > self.n


@dataclass(frozen=True)
class Agreement:
    """How often a predicted frontier agrees with what the cells did.

    Attributes:
        cells: cells with both a prediction and an outcome.
        agree: cells where "diverged in most replicates" equals "lr above the line".
        missed: cells that diverged though lr is at or below the line.
        spared: cells that did not diverge though lr is above the line.
    """

    cells: int
    agree: int
    missed: int
    spared: int

    @property
    def share(self) -> float | None:
        return self.agree / self.cells if self.cells else None


@dataclass(frozen=True)
class StabilitySummary:
    """The stability map's numbers.

    Attributes:
        cells: seed_sgd's cells, sorted by (horizon, lr).
        gradient: the gradient fit's cells on the same axes (empty without gradient rows).
        bound_line, frontier_line: (horizon, median 2/L or frontier over that horizon's
            seed_sgd rows), sorted by horizon; empty where not recorded.
        by_bound, by_frontier: agreement of "diverged" with "lr > 2/L", "lr > frontier".
        ratio: the median of frontier / (2/L) over the seed_sgd rows with both.
        pooled: the other axes, pooled within each (lr, horizon).
    """

    cells: tuple[StabilityCell, ...]
    gradient: tuple[StabilityCell, ...]
    bound_line: tuple[tuple[float, float], ...]
    frontier_line: tuple[tuple[float, float], ...]
    by_bound: Agreement
    by_frontier: Agreement
    ratio: float | None
    pooled: tuple[str, ...]


def _status_cells(columns: Columns, rows: Sequence[int]) -> tuple[StabilityCell, ...]:
    groups: dict[tuple[float, float], list[int]] = {}
    lrs, horizons = columns[LR_AXIS], columns[HORIZON_AXIS]
    status = columns["status"]
    for i in rows:
        if status[i] is None:
            continue
        lr, horizon = _number(lrs[i]), _number(horizons[i])
        if lr is None or horizon is None:
            continue
        groups.setdefault((lr, horizon), []).append(i)
    bounds, frontiers = columns.get("bound"), columns.get("frontier")
    cells = []
    for (lr, horizon), members in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        counts = Counter(_STATUS_CLASS.get(status[i], "other") for i in members)
        cells.append(
            StabilityCell(
                lr,
                horizon,
                dict(counts),
                None if bounds is None else _median([bounds[i] for i in members]),
                None if frontiers is None else _median([frontiers[i] for i in members]),
            )
        )
    return tuple(cells)


def _agreement(
    cells: Sequence[StabilityCell], line: Callable[[StabilityCell], float | None]
) -> Agreement:
    agree = missed = spared = total = 0
    for cell in cells:
        limit = line(cell)
        if limit is None or cell.n == 0:
            continue
        total += 1
        above = cell.lr > limit
        if above == cell.diverged:
            agree += 1
        elif cell.diverged:
            missed += 1
        else:
            spared += 1
    return Agreement(total, agree, missed, spared)


def _line(columns: Columns, rows: Sequence[int], metric: str) -> tuple[tuple[float, float], ...]:
    if not _recorded(columns, metric):
        return ()
    by_horizon: dict[float, list[Any]] = {}
    for i in rows:
        horizon = _number(columns[HORIZON_AXIS][i])
        if horizon is not None:
            by_horizon.setdefault(horizon, []).append(columns[metric][i])
    line = ((t, _median(values)) for t, values in sorted(by_horizon.items()))
    return tuple((t, v) for t, v in line if v is not None)


def stability_summary(columns: Columns, axes: Sequence[str] = ()) -> StabilitySummary | Unavailable:
    """The stability map's numbers from the study's rows (see StabilitySummary).

    Args:
        columns: the rows by column (``pyarrow.Table.to_pydict()``).
        axes: the study's axes, to name those pooled within a cell.
    """
    sgd = _rows_of(columns, "seed_sgd")
    if not sgd:
        return Unavailable("no seed_sgd rows")
    missing = [a for a in (LR_AXIS, HORIZON_AXIS) if a not in columns]
    if missing:
        return Unavailable(f"no {' or '.join(missing)} axis")
    if not _recorded(columns, "status") or all(columns["status"][i] is None for i in sgd):
        return Unavailable("no status recorded for seed_sgd (add 'status' to the metrics)")
    for axis in (LR_AXIS, HORIZON_AXIS):
        if not _numeric_axis(columns, axis, sgd):
            return Unavailable(f"the {axis} axis is not numeric")
    cells = _status_cells(columns, sgd)
    gradient = _rows_of(columns, "gradient")
    gradient_cells = _status_cells(columns, gradient) if gradient else ()
    ratios = []
    if "bound" in columns and "frontier" in columns:
        for i in sgd:
            frontier, bound = _number(columns["frontier"][i]), _number(columns["bound"][i])
            if frontier is not None and bound is not None and bound > 0:
                ratios.append(frontier / bound)
    return StabilitySummary(
        cells=cells,
        gradient=gradient_cells,
        bound_line=_line(columns, sgd, "bound"),
        frontier_line=_line(columns, sgd, "frontier"),
        by_bound=_agreement(cells, lambda c: c.bound),
        by_frontier=_agreement(cells, lambda c: c.frontier),
        ratio=statistics.median(ratios) if ratios else None,
        pooled=tuple(a for a in axes if a not in (LR_AXIS, HORIZON_AXIS)),
    )


# --------------------------------------------------------------------------------------------
# 2. coverage


@dataclass(frozen=True)
class CoverageCell:
    """How often one (interval method, noise, n, m) cell's intervals held the truth.

    Attributes:
        interval: the interval method (prefixed with the fitting method when several are).
        noise: the noise kind (with its AR(1) coefficient where it has one).
        n, m: the cell's paths and times, None where the study has no such axis.
        hits, total: intervals that held the truth, intervals recorded.
        lo, hi: the exact (Clopper-Pearson) 95% interval of the coverage.
        level: the nominal coverage.
    """

    interval: str
    noise: str
    n: float | None
    m: float | None
    hits: int
    total: int
    lo: float
    hi: float
    level: float

    @property
    def coverage(self) -> float:
        return self.hits / self.total

    @property
    def verdict(self) -> str:
        """ "under-covers" when the whole interval lies below the nominal level, "over-covers"
        when above it, "holds" otherwise."""
        if self.hi < self.level:
            return "under-covers"
        if self.lo > self.level:
            return "over-covers"
        return "holds"


_INTERVAL_ORDER = ("auto", "classical", "hac", "block_bootstrap", "path_bootstrap")
_NOISE_ORDER = ("iid", "population", "ar1", "heteroscedastic")


def _ordered(values: set[str], known: Sequence[str]) -> list[str]:
    def key(label: str) -> tuple[int, str]:
        base = label.split(": ")[-1].split(",")[0]
        return (known.index(base) if base in known else len(known), label)

    return sorted(values, key=key)


def _size_order(values: set[float | None]) -> list[float | None]:
    return sorted(values, key=lambda v: (v is None, v or 0.0))


def coverage_cells(columns: Columns, level: float = 0.95) -> tuple[CoverageCell, ...] | Unavailable:
    """Coverage per (interval method, noise, n, m), pooled over every other axis.

    The interval method is the ``methods.least_squares.interval`` axis for least-squares rows
    where the study has that axis (what was asked for: "auto" stays "auto"), otherwise the
    ``interval`` column (what was used).
    """
    if "covered" not in columns:
        return Unavailable("no covered column (add 'ci' and 'covered' to the metrics)")
    covered = columns["covered"]
    rows = [i for i, c in enumerate(covered) if c is not None]
    if not rows:
        return Unavailable("covered is null in every row (no fit gave an interval)")
    methods = {columns["method"][i] for i in rows} if "method" in columns else set()
    groups: dict[tuple[str, str, float | None, float | None], list[bool]] = {}
    for i in rows:
        method = columns["method"][i] if "method" in columns else None
        interval = None
        if INTERVAL_AXIS in columns and method == "least_squares":
            interval = columns[INTERVAL_AXIS][i]
        if interval is None and "interval" in columns:
            interval = columns["interval"][i]
        label = "—" if interval is None else str(interval)
        if len(methods) > 1:
            label = f"{method}: {label}"
        noise = columns["noise"][i] if "noise" in columns else None
        phi = _number(columns["phi"][i]) if "phi" in columns else None
        noise_label = "—" if noise is None else str(noise)
        if phi is not None:
            noise_label += f", phi {phi:g}"
        n = _number(columns[N_AXIS][i]) if N_AXIS in columns else None
        m = _number(columns[M_AXIS][i]) if M_AXIS in columns else None
        groups.setdefault((label, noise_label, n, m), []).append(bool(covered[i]))
    cells = []
    for (label, noise, n, m), hits in groups.items():
        lo, hi = clopper_pearson(sum(hits), len(hits), 0.95)
        cells.append(CoverageCell(label, noise, n, m, sum(hits), len(hits), lo, hi, level))
    intervals = _ordered({c.interval for c in cells}, _INTERVAL_ORDER)
    noises = _ordered({c.noise for c in cells}, _NOISE_ORDER)
    sizes = _size_order({c.n for c in cells}), _size_order({c.m for c in cells})
    cells.sort(
        key=lambda c: (
            noises.index(c.noise),
            intervals.index(c.interval),
            sizes[0].index(c.n),
            sizes[1].index(c.m),
        )
    )
    return tuple(cells)


# --------------------------------------------------------------------------------------------
# 3. accuracy


@dataclass(frozen=True)
class AccuracyCurve:
    """RMSE of one method's estimate against n (or m), with its log-log slope.

    Attributes:
        method: the fitting method.
        axis: the size axis on x (``sampling.n_paths`` or ``sampling.n_times``).
        other: the other size axis's value the curve holds fixed ("" when it does not vary).
        sizes: the axis's values, increasing.
        rmse: sqrt(mean(error^2)) at each size, over the rows with a finite error.
        counts: those rows, at each size.
        left_out: rows without a finite error (a diverged fit), over the whole curve.
        slope, intercept: least squares of log RMSE on log size (None with fewer than two
            sizes of positive RMSE).
    """

    method: str
    axis: str
    other: str
    sizes: tuple[float, ...]
    rmse: tuple[float, ...]
    counts: tuple[int, ...]
    left_out: int
    slope: float | None
    intercept: float | None


def _fit_power(sizes: Sequence[float], rmse: Sequence[float]) -> tuple[float | None, float | None]:
    points = [(math.log(s), math.log(r)) for s, r in zip(sizes, rmse, strict=True) if s > 0 < r]
    if len({x for x, _ in points}) < 2:
        return None, None
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    design = np.column_stack([x, np.ones_like(x)])
    (slope, intercept), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(slope), float(intercept)


def _size_label(axis: str) -> str:
    return "n" if axis == N_AXIS else "m"


def accuracy_curves(columns: Columns) -> tuple[AccuracyCurve, ...] | Unavailable:
    """RMSE against each size axis (n, m) for each method, pooled over the other axes except
    the other size axis, which gives one curve per value where it varies."""
    metric = next((name for name in ("error", "abs_error") if _recorded(columns, name)), None)
    if metric is None:
        return Unavailable("no error or abs_error recorded")
    n_rows = _n_rows(columns)
    everything = range(n_rows)
    axes = [a for a in (N_AXIS, M_AXIS) if a in columns]
    if not axes:
        return Unavailable(f"no {N_AXIS} or {M_AXIS} axis")
    for axis in axes:
        if not _numeric_axis(columns, axis, everything):
            return Unavailable(f"the {axis} axis is not numeric")
    errors = columns[metric]
    methods = columns.get("method", [None] * n_rows)
    curves = []
    for axis in axes:
        other = next((a for a in axes if a != axis), None)
        if other is not None and len({columns[other][i] for i in everything}) < 2:
            other = None
        groups: dict[tuple[str, float | None], dict[float, list[float]]] = {}
        left: Counter[tuple[str, float | None]] = Counter()
        for i in everything:
            key = (str(methods[i]), None if other is None else _number(columns[other][i]))
            error = _number(errors[i])
            size = _number(columns[axis][i])
            assert size is not None  # checked numeric above
            points = groups.setdefault(key, {})
            if error is None:
                left[key] += 1
                continue
            points.setdefault(size, []).append(error)
        for (method, fixed), points in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0.0)
        ):
            sizes = sorted(points)
            rmse = [math.sqrt(sum(e * e for e in points[s]) / len(points[s])) for s in sizes]
            slope, intercept = _fit_power(sizes, rmse)
            label = "" if other is None or fixed is None else f"{_size_label(other)} = {fixed:g}"
            curves.append(
                AccuracyCurve(
                    method,
                    axis,
                    label,
                    tuple(sizes),
                    tuple(rmse),
                    tuple(len(points[s]) for s in sizes),
                    left[(method, fixed)],
                    slope,
                    intercept,
                )
            )
    if not any(curve.sizes for curve in curves):
        return Unavailable(f"no finite {metric} in any row")
    return tuple(curve for curve in curves if curve.sizes)


# --------------------------------------------------------------------------------------------
# 4. scaling


@dataclass(frozen=True)
class ScalingPoint:
    """One run's throughput.

    Attributes:
        run: the run's number in study.json (from 1).
        workers: the workers its cluster had.
        seconds: its wall time.
        rows, chunks: rows written and chunks computed.
    """

    run: int
    workers: int
    seconds: float
    rows: int
    chunks: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds


def scaling_points(runs: Sequence[Mapping[str, Any]]) -> tuple[ScalingPoint, ...] | Unavailable:
    """The throughput of every run in study.json that computed something."""
    if not runs:
        return Unavailable("no run recorded in study.json")
    points = []
    for number, run in enumerate(runs, start=1):
        seconds, workers = _number(run.get("seconds")), _number(run.get("workers"))
        rows, chunks = _number(run.get("rows")), _number(run.get("computed"))
        if seconds is None or seconds <= 0 or workers is None or not chunks or rows is None:
            continue
        points.append(ScalingPoint(number, int(workers), seconds, int(rows), int(chunks)))
    if not points:
        return Unavailable("no recorded run computed a chunk (each found its chunks on disk)")
    return tuple(points)


# --------------------------------------------------------------------------------------------
# Drawing


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _edges(values: Sequence[float], *, log: bool) -> dict[float, tuple[float, float]]:
    """Each value's cell (low, high): halfway to its neighbours (geometrically on a log axis)."""
    ordered = sorted(set(values))
    v = np.log(ordered) if log else np.asarray(ordered, dtype=np.float64)
    if v.size == 1:
        half = 0.5 if log else max(0.1 * abs(float(v[0])), 0.5)
        lows, highs = v - half, v + half
    else:
        mids = (v[1:] + v[:-1]) / 2
        lows = np.concatenate([[v[0] - (mids[0] - v[0])], mids])
        highs = np.concatenate([mids, [v[-1] + (v[-1] - mids[-1])]])
    if log:
        lows, highs = np.exp(lows), np.exp(highs)
    return {x: (float(lo), float(hi)) for x, lo, hi in zip(ordered, lows, highs, strict=True)}


def _log_horizon(cells: Sequence[StabilityCell]) -> bool:
    """A log horizon axis where the horizons are positive and span a factor of 4 or more."""
    horizons = [c.horizon for c in cells]
    return bool(horizons) and min(horizons) > 0 and max(horizons) >= 4 * min(horizons)


def _status_panel(
    ax: Axes, cells: Sequence[StabilityCell], title: str, empty: str, *, log_y: bool
) -> None:
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle

    ax.set_title(title, fontsize=10)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    if not cells:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, color="#666")
        return
    lrs = sorted({c.lr for c in cells})
    horizons = sorted({c.horizon for c in cells})
    colors = [
        to_rgba(_CLASS_COLORS[c.majority], alpha=0.35 + 0.65 * c.share(c.majority)) for c in cells
    ]
    if len(lrs) * len(horizons) <= 2 * len(cells):  # a grid: one rectangle per cell
        x_edges, y_edges = _edges(lrs, log=True), _edges(horizons, log=log_y)
        patches = [
            Rectangle(
                (x_edges[c.lr][0], y_edges[c.horizon][0]),
                x_edges[c.lr][1] - x_edges[c.lr][0],
                y_edges[c.horizon][1] - y_edges[c.horizon][0],
            )
            for c in cells
        ]
        ax.add_collection(
            PatchCollection(patches, facecolors=colors, edgecolors="white", linewidths=0.4)
        )
        size = max(4.0, min(7.0, 120 / max(len(lrs), len(horizons))))
        for c in cells:
            share = c.share("diverged")
            if 0 < share < 1:
                ax.text(
                    c.lr,
                    c.horizon,
                    f"{100 * share:.0f}",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="black",
                )
        ax.set_xlim(x_edges[lrs[0]][0], x_edges[lrs[-1]][1])
        ax.set_ylim(y_edges[horizons[0]][0], y_edges[horizons[-1]][1])
    else:  # scattered cells (random axes): one square marker each
        ax.scatter(
            [c.lr for c in cells],
            [c.horizon for c in cells],
            c=colors,
            marker="s",
            s=30,
            edgecolors="none",
        )


def draw_stability(summary: StabilitySummary) -> Figure:
    """seed_sgd's status over lr x T with 2/L and the frontier, beside the gradient fit's."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = _figure(12.0, 5.4)
    left, right = fig.subplots(1, 2, sharey=True)
    log_y = _log_horizon(summary.cells)
    _status_panel(left, summary.cells, "seed_sgd: per-sample SGD at a fixed step", "", log_y=log_y)
    _status_panel(
        right,
        summary.gradient,
        "gradient: the guarded fit (it chooses its own step)",
        "no gradient rows",
        log_y=log_y,
    )
    lines = [
        (summary.bound_line, r"$2/L$ (curvature bound)", OKABE_ITO["black"], "-"),
        (summary.frontier_line, "exact frontier", OKABE_ITO["blue"], "--"),
    ]
    xs = [c.lr for c in summary.cells]
    for line, label, color, style in lines:
        if line:
            left.plot(
                [v for _, v in line],
                [t for t, _ in line],
                color=color,
                linestyle=style,
                linewidth=2.0,
                marker="o",
                markersize=2.5,
                label=label,
                zorder=3,
            )
            xs.extend(v for _, v in line)
    if xs:  # keep the lines in view where they leave the grid
        lo, hi = left.get_xlim()
        left.set_xlim(min(lo, min(xs) / 1.5), max(hi, max(xs) * 1.5))
    left.set_xlabel(r"step size $\eta$ (lr)")
    left.set_ylabel(r"horizon $T$")
    right.set_xlabel(r"the cell's seed_sgd step size $\eta$ (not used by gradient)")
    shown = {c.majority for c in (*summary.cells, *summary.gradient)}
    handles = [Patch(color=_CLASS_COLORS[c], label=c) for c in STATUS_CLASSES if c in shown]
    handles += [
        Line2D([], [], color=color, linestyle=style, linewidth=2.0, label=label)
        for line, label, color, style in lines
        if line
    ]
    fig.legend(
        handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False
    )
    return fig


def draw_coverage(cells: Sequence[CoverageCell]) -> Figure:
    """One heat map over n x m per (noise, interval method), centred on the nominal level."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    intervals = list(dict.fromkeys(c.interval for c in cells))
    noises = list(dict.fromkeys(c.noise for c in cells))
    ns = _size_order({c.n for c in cells})
    ms = _size_order({c.m for c in cells})
    level = cells[0].level
    low = min(min(c.coverage for c in cells), level - 0.05)
    norm = TwoSlopeNorm(vcenter=level, vmin=max(0.0, low - 1e-9), vmax=1.0)
    width = min(20.0, 1.2 + len(intervals) * (0.5 + 0.75 * len(ns)))
    height = min(20.0, 1.0 + len(noises) * (0.9 + 0.5 * len(ms)))
    fig = _figure(width, height)
    axes = fig.subplots(len(noises), len(intervals), squeeze=False)
    by_key = {(c.noise, c.interval, c.n, c.m): c for c in cells}
    image = None
    for r, noise in enumerate(noises):
        for k, interval in enumerate(intervals):
            ax = axes[r][k]
            grid = np.full((len(ms), len(ns)), np.nan)
            for (i, m), (j, n) in ((im, jn) for im in enumerate(ms) for jn in enumerate(ns)):
                cell = by_key.get((noise, interval, n, m))
                if cell is None:
                    continue
                grid[i, j] = cell.coverage
                shade = norm(cell.coverage)
                ax.text(
                    j,
                    i,
                    f"{cell.coverage:.3f}\n[{cell.lo:.3f}, {cell.hi:.3f}]",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if shade < 0.15 or shade > 0.85 else "black",
                )
                if cell.verdict == "under-covers":
                    ax.add_patch(
                        Rectangle(
                            (j - 0.5, i - 0.5),
                            1,
                            1,
                            fill=False,
                            hatch="///",
                            edgecolor="#00000055",
                            linewidth=0,
                        )
                    )
            image = ax.imshow(grid, cmap="RdBu", norm=norm, origin="lower", aspect="auto")
            ax.set_xticks(range(len(ns)), ["—" if n is None else f"{n:g}" for n in ns], fontsize=7)
            ax.set_yticks(range(len(ms)), ["—" if m is None else f"{m:g}" for m in ms], fontsize=7)
            if r == 0:
                ax.set_title(interval, fontsize=9)
            if r == len(noises) - 1:
                ax.set_xlabel(r"paths $n$", fontsize=8)
            if k == 0:
                ax.set_ylabel(f"noise: {noise}\n" + r"times $m$", fontsize=8)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.8, pad=0.01)
        bar.set_label(f"coverage (nominal {level:g})", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return fig


def draw_accuracy(curves: Sequence[AccuracyCurve]) -> Figure:
    """RMSE against n and against m, log-log, one curve per method (and fixed other size)."""
    axes_shown = list(dict.fromkeys(c.axis for c in curves))
    fig = _figure(6.0 * len(axes_shown), 4.6)
    panels = fig.subplots(1, len(axes_shown), squeeze=False)[0]
    methods = list(dict.fromkeys(c.method for c in curves))
    for ax, axis in zip(panels, axes_shown, strict=True):
        others = list(dict.fromkeys(c.other for c in curves if c.axis == axis))
        for curve in (c for c in curves if c.axis == axis):
            slope = "n/a" if curve.slope is None else f"{curve.slope:.3f}"
            name = curve.method + (f", {curve.other}" if curve.other else "")
            ax.plot(
                curve.sizes,
                curve.rmse,
                marker=MARKERS[others.index(curve.other) % len(MARKERS)],
                markersize=4,
                color=method_color(curve.method, methods.index(curve.method)),
                linestyle=LINESTYLES[others.index(curve.other) % len(LINESTYLES)],
                label=f"{name}: slope {slope}",
            )
        symbol = _size_label(axis)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"{'paths' if symbol == 'n' else 'times'} ${symbol}$")
        ax.set_ylabel(r"RMSE of $\hat\lambda$")
        ax.set_title(f"Error against ${symbol}$", fontsize=10)
        ax.grid(True, which="both", alpha=0.3, linewidth=0.5)
        ax.legend(fontsize=7, framealpha=0.9)
    return fig


def draw_scaling(points: Sequence[ScalingPoint]) -> Figure:
    """Rows and chunks per second against workers, with linear scaling from the fewest."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(10.0, 4.0)
    panels = fig.subplots(1, 2)
    base = min(points, key=lambda p: (p.workers, p.run))
    quantities = (
        ("rows per second", lambda p: p.rows_per_second),
        ("chunks per second", lambda p: p.chunks_per_second),
    )
    for ax, (label, value) in zip(panels, quantities, strict=True):
        workers = [p.workers for p in points]
        ax.plot(
            workers,
            [value(p) for p in points],
            "o",
            color=OKABE_ITO["blue"],
            markersize=6,
            label="runs",
        )
        for p in points:
            ax.annotate(
                f"run {p.run}",
                (p.workers, value(p)),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=7,
            )
        span = np.linspace(min(workers), max(workers), 50)
        if len(set(workers)) > 1:
            ax.plot(
                span,
                value(base) * span / base.workers,
                linestyle="--",
                color="#777777",
                label=f"linear from {base.workers} worker(s)",
            )
        if len(points) == 1:
            ax.text(
                0.5,
                0.08,
                "one run recorded",
                transform=ax.transAxes,
                ha="center",
                fontsize=8,
                color="#666666",
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.set_xlabel("workers")
        ax.set_ylabel(label)
        ax.set_title(f"Throughput: {label}", fontsize=10)
        ax.grid(True, alpha=0.3, linewidth=0.5)
        ax.legend(fontsize=7)
    return fig


# --------------------------------------------------------------------------------------------
# The page


@dataclass(frozen=True)
class _Map:
    """One section of the page: its figure (or why there is none) and its text.

    ``text`` is the section's finding, ``notes`` smaller print, ``tables`` what the figure
    shows as numbers, ``header_table`` what the page's header shows of this map."""

    name: str
    title: str
    caption: str = ""
    png: bytes | None = None
    reason: str | None = None
    text: str = ""
    notes: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    header_table: Table | None = None

    def figure(self) -> page.Figure | None:
        if self.png is None:
            return None
        return page.figure(self.name, self.title, self.caption, self.png)


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    note: str = "",
    *,
    title: str = "",
    help: Mapping[str, str] | None = None,
) -> Table:
    return Table(title, list(header), [list(r) for r in rows], note, help=dict(help or {}))


def _agreement_rows(summary: StabilitySummary) -> list[list[str]]:
    rows = []
    for name, agreement in (
        ("lr > 2/L (curvature bound)", summary.by_bound),
        ("lr > exact frontier", summary.by_frontier),
    ):
        rows.append(
            [
                name,
                _share(agreement.share),
                f"{agreement.agree} of {agreement.cells}",
                str(agreement.missed),
                str(agreement.spared),
            ]
        )
    return rows


def _stability_map(summary: StabilitySummary | Unavailable) -> _Map:
    title = "Stability: where per-sample SGD diverges"
    if isinstance(summary, Unavailable):
        return _Map("stability", title, reason=summary.reason)
    pooled = f" Pooled within each cell over {', '.join(summary.pooled)}." if summary.pooled else ""
    caption = (
        "Each cell is coloured by the status of most of its replicates (converged, slow = ran "
        "out of steps or stalled, diverged); paler where the majority is slimmer; the number "
        "is the percentage that diverged where some but not all did. The solid line is the "
        "curvature bound lr = 2/L, the dashed line the exact divergence step size of "
        "noise-free per-sample SGD, each the median over that horizon's seed_sgd rows. "
        "Right: the guarded gradient fit on the same cells." + pooled
    )
    by_bound, by_frontier = summary.by_bound, summary.by_frontier
    text = (
        f"Diverged in most replicates agrees with lr > 2/L in {_share(by_bound.share)} of "
        f"cells ({by_bound.agree} of {by_bound.cells}) and with lr > frontier in "
        f"{_share(by_frontier.share)} ({by_frontier.agree} of {by_frontier.cells})."
    )
    if summary.ratio is not None:
        text += f" The exact frontier is a median {summary.ratio:.3g} times 2/L."
    gradient = Counter(c.majority for c in summary.gradient)
    if gradient:
        text += (
            " gradient, by the majority of each cell: "
            + ", ".join(f"{gradient[c]} {c}" for c in STATUS_CLASSES if gradient[c])
            + f" of {sum(gradient.values())} cells."
        )
    table = _table(
        [
            "prediction of divergence",
            "agreement",
            "cells",
            "diverged below it",
            "did not diverge above it",
        ],
        _agreement_rows(summary),
        "A cell diverged when more than half of its replicates did; its 2/L and frontier are "
        "the medians over its seed_sgd rows. Cells without that line recorded are left out.",
        title="Stability: does a line predict divergence?",
        help={
            "agreement": "the share of cells where the prediction (step size lr above the "
            "line) and the outcome (diverged in most replicates) agree",
            "cells": "cells that agree, of the cells with that line recorded",
            "diverged below it": "cells that diverged although lr is below the line",
            "did not diverge above it": "cells that did not diverge although lr is above it",
        },
    )
    return _Map(
        "stability",
        title,
        caption,
        png_bytes(draw_stability(summary)),
        text=text,
        header_table=table,
    )


def _coverage_map(cells: tuple[CoverageCell, ...] | Unavailable) -> _Map:
    title = "Coverage: where the intervals hold"
    if isinstance(cells, Unavailable):
        return _Map("coverage", title, reason=cells.reason)
    level = cells[0].level
    caption = (
        f"Share of the intervals that held the truth in each (noise, interval method, n, m), "
        f"with its exact (Clopper-Pearson) 95% interval; blue above the nominal {level:g}, red "
        "below, white at it; hatched where the whole interval lies below it (under-covers). "
        "Axes the study does not vary show as a dash."
    )
    rows = [
        [
            c.interval,
            c.noise,
            "—" if c.n is None else f"{c.n:g}",
            "—" if c.m is None else f"{c.m:g}",
            f"{c.hits} of {c.total}",
            f"{c.coverage:.3f}",
            f"[{c.lo:.3f}, {c.hi:.3f}]",
            c.verdict,
        ]
        for c in cells
    ]
    under = sum(c.verdict == "under-covers" for c in cells)
    text = f"{under} of {len(cells)} cells under-cover the nominal {level:g}."
    table = _table(
        ["interval", "noise", "n", "m", "covered", "coverage", "95% interval", "verdict"],
        rows,
        help={
            "n": "paths per dataset",
            "m": "observation times per dataset",
            "covered": "intervals that held the truth, of the fits in the cell",
            "coverage": f"the share that held it; nominal {level:g}",
            "95% interval": "exact (Clopper-Pearson) 95% interval for the true coverage",
        },
    )
    return _Map(
        "coverage", title, caption, png_bytes(draw_coverage(cells)), text=text, tables=(table,)
    )


def _accuracy_map(curves: tuple[AccuracyCurve, ...] | Unavailable) -> _Map:
    title = "Accuracy: how the error falls with n and m"
    if isinstance(curves, Unavailable):
        return _Map("accuracy", title, reason=curves.reason)
    caption = (
        "RMSE of the estimate against the number of paths n and of times m, log-log, over the "
        "fits with a finite error, pooled over the other axes (one curve per value of the "
        "other size where it varies). The slope is the least-squares fit of log RMSE on log "
        "size; -0.5 is the usual 1/sqrt rate."
    )
    rows = [
        [
            c.method,
            _size_label(c.axis),
            c.other or "—",
            "—" if c.slope is None else f"{c.slope:.4f}",
            ", ".join(f"{s:g}" for s in c.sizes),
            ", ".join(f"{r:.3g}" for r in c.rmse),
            str(sum(c.counts)),
            str(c.left_out),
        ]
        for c in curves
    ]
    table = _table(
        ["method", "against", "holding", "slope", "sizes", "RMSE", "fits", "no finite error"],
        rows,
        help={
            "against": "the size the RMSE is drawn against (n paths or m times)",
            "holding": "the value of the other size, where it varies",
            "slope": "d log RMSE / d log size; -0.5 is the 1/sqrt rate",
            "RMSE": "root mean squared error of the estimate at each size, in its units",
            "fits": "fits with a finite error",
            "no finite error": "fits left out: no estimate, or an infinite error",
        },
    )
    return _Map("accuracy", title, caption, png_bytes(draw_accuracy(curves)), tables=(table,))


def _scaling_map(points: tuple[ScalingPoint, ...] | Unavailable, runs: int) -> _Map:
    title = "Scaling: throughput against workers"
    if isinstance(points, Unavailable):
        return _Map("scaling", title, reason=points.reason)
    caption = (
        "Rows and chunks computed per second of each run's wall time (cluster start "
        "included) against its workers; dashed: linear scaling from the run with the fewest."
    )
    notes = []
    if len(points) == 1:
        notes.append(
            "Only one run is recorded: one point. Run the study into other folders with other "
            "--workers to compare."
        )
    if len(points) < runs:
        notes.append(f"{runs - len(points)} run(s) computed nothing and are left out.")
    rows = [
        [
            str(p.run),
            str(p.workers),
            f"{p.seconds:.3g}",
            str(p.rows),
            str(p.chunks),
            f"{p.rows_per_second:.4g}",
            f"{p.chunks_per_second:.4g}",
        ]
        for p in points
    ]
    table = _table(
        ["run", "workers", "seconds", "rows", "chunks", "rows/s", "chunks/s"],
        rows,
        help={"seconds": "the run's wall-clock time, cluster start included"},
    )
    return _Map(
        "scaling",
        title,
        caption,
        png_bytes(draw_scaling(points)),
        notes=tuple(notes),
        tables=(table,),
    )


def _setup(study: Mapping[str, Any], n_rows: int, shards: int) -> list[tuple[str, str]]:
    return [
        ("source", str(study.get("source", "—"))),
        ("axes", ", ".join(study.get("axes", [])) or "none"),
        ("cells", str(len(study.get("cells", [])))),
        ("replicates", str(study.get("replicates", "—"))),
        ("methods", ", ".join(study.get("methods", [])) or "—"),
        ("metrics", ", ".join(study.get("metrics", [])) or "—"),
        ("rows", f"{n_rows} in {shards} shard(s) of {len(study.get('plan', []))} planned"),
    ]


def _runs_table(study: Mapping[str, Any]) -> Table | None:
    runs = study.get("runs", [])
    rows = [
        [
            str(number),
            str(run.get("started", "—")),
            str(run.get("workers", "—")),
            _fmt(_number(run.get("seconds"))),
            f"{run.get('computed', '—')} computed, {run.get('skipped', '—')} skipped",
            str(run.get("rows", "—")),
            str(run.get("scheduler") or "embedded cluster"),
        ]
        for number, run in enumerate(runs, start=1)
    ]
    if not rows:
        return None
    return _table(
        ["run", "started", "workers", "seconds", "chunks", "rows", "scheduler"],
        rows,
        help={"seconds": "the run's wall-clock time", "rows": "result rows the run wrote"},
    )


def render_study_html(
    study: Mapping[str, Any], maps: Sequence[_Map], *, n_rows: int, shards: int, generated: str
) -> str:
    """The study's page: header (setup, runs, which maps are drawn), one section per map,
    footer."""
    return page.render(
        "study.html.j2",
        title="pathfit study report",
        generated=generated,
        toc=[(m.name, m.title.split(":")[0]) for m in maps] + [("versions", "Versions")],
        versions=content.versions(),
        setup=_setup(study, n_rows, shards),
        runs=_runs_table(study),
        maps=maps,
    )


def _generated(study: Mapping[str, Any]) -> str:
    """The footer's time: when the study's last run finished (so that the same folder gives
    the same page), else when it was created, else now."""
    runs = study.get("runs") or []
    when = (runs[-1].get("finished") if runs else None) or study.get("created")
    if isinstance(when, str) and when:
        return page.generated_at(when)
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _level(study: Mapping[str, Any]) -> float:
    """The nominal coverage: the study's ``methods.level``, 0.95 by default."""
    methods = (study.get("study") or {}).get("methods") or {}
    level = _number(methods.get("level")) if isinstance(methods, dict) else None
    return level if level is not None and 0 < level < 1 else 0.95


def write_study_report(folder: str | Path) -> Path:
    """Draw a study's maps into ``folder/report.html`` and ``folder/figures/<map>.png``.

    Draws each map the rows allow (stability, coverage, accuracy, scaling; see the module
    docstring) and says in one line why for each it cannot. Everything is built in memory
    first; the files are then written together, atomically, and figures of maps no longer
    drawn are removed.

    Args:
        folder: a study's folder (from ``run_study``).

    Returns:
        The report's path, ``folder/report.html``.

    Raises:
        InputError: the folder has no readable study.json, or a file cannot be written.
    """
    folder = Path(folder)
    study = read_study(folder)
    try:
        table: pa.Table | None = read_results(folder)
    except InputError:
        table = None
    columns = _columns(table)
    if table is None:
        reason = Unavailable("no shard in parts/ (nothing computed yet)")
        stability: Any = reason
        coverage: Any = reason
        accuracy: Any = reason
    else:
        stability = stability_summary(columns, study.get("axes", []))
        coverage = coverage_cells(columns, _level(study))
        accuracy = accuracy_curves(columns)
    runs = study.get("runs", [])
    maps = [
        _stability_map(stability),
        _coverage_map(coverage),
        _accuracy_map(accuracy),
        _scaling_map(scaling_points(runs), len(runs)),
    ]
    generated = _generated(study)
    shards = len(list((folder / "parts").glob("*.parquet")))
    page = render_study_html(
        study,
        maps,
        n_rows=0 if table is None else table.num_rows,
        shards=shards,
        generated=generated,
    )
    report = folder / "report.html"
    figures = folder / FIGURES
    plan: dict[Path, Callable[[Path], None] | None] = {report: _writer(page.encode("utf-8"))}
    for m in maps:
        if m.png is not None:
            figures.mkdir(parents=True, exist_ok=True)
            plan[figures / f"{m.name}.png"] = _writer(m.png)
        elif (figures / f"{m.name}.png").exists():
            plan[figures / f"{m.name}.png"] = None  # a stale figure of an earlier report
    write_files_atomic(plan)
    return report


def _writer(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(data)

    return write
