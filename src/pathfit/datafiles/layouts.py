"""Tables of a data file: which layout their columns make, how their rows become a grid, and
the checks every data set's content must pass.

The format modules read a file into a :class:`Table` (whatever the format, the same columns);
the functions here turn a table of the long or the wide layout into times (n_times,), values
(n_paths, n_times) and targets k (n_times,) sorted by time.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pathfit.exceptions import InputError

LONG_COLUMNS = ("path", "time", "value")
TARGET_COLUMNS = ("time", "k")

# Cells that mean "no value" (compared lower-cased, after stripping blanks); "nan" also parses.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null"})
# Rows per Parquet record batch read, and the order of magnitude of every block written. The
# format modules read it as layouts.BATCH_ROWS when they run, so one assignment changes them all.
BATCH_ROWS = 65_536


def companion_paths(path: str | Path) -> dict[str, Path]:
    """The companion files of a data file, beside it.

    ``{"targets": <stem>.targets<ext>, "truth": <stem>.truth.json}``; the targets file belongs
    to the long layout only.
    """
    path = Path(path)
    return {
        "targets": path.with_name(f"{path.stem}.targets{path.suffix}"),
        "truth": path.with_name(f"{path.stem}.truth.json"),
    }


class Rows:
    """Where the i-th data row of a table is in its file (a CSV line or a Parquet row).

    A piecewise map from data-row index to number: one piece per run of rows without blank
    lines or multi-line cells between them, so no number is stored per row.
    """

    def __init__(self, file: str, unit: str, first: int) -> None:
        self.file = file
        self.unit = unit
        self._starts = [0]
        self._offsets = [first]

    def note(self, index: int, number: int) -> None:
        if number - index != self._offsets[-1]:
            self._starts.append(index)
            self._offsets.append(number - index)

    def number(self, index: int) -> int:
        return int(index) + self._offsets[bisect_right(self._starts, index) - 1]

    def at(self, index: int, column: str | None = None) -> str:
        where = f"{self.file} {self.unit} {self.number(index)}"
        return where if column is None else f"{where}, column {column!r}"

    def pair(self, first: int, second: int) -> str:
        return f"{self.file} {self.unit}s {self.number(first)} and {self.number(second)}"


@dataclass(frozen=True)
class Spec:
    """What a table's columns are: its layout, its label column and its numeric columns."""

    layout: Literal["long", "wide", "targets"]
    label: str | None
    numeric: tuple[str, ...]
    paths: tuple[str, ...] = ()  # the path columns of the wide layout


@dataclass
class Table:
    spec: Spec
    labels: list[Any]  # path labels: by first appearance (long) or the path columns (wide)
    codes: np.ndarray | None  # (n_rows,) int64 index into labels, long layout only
    columns: dict[str, np.ndarray]  # (n_rows,) float64 each, NaN where missing
    rows: Rows


def column_spec(
    names: list[str], file: str, role: Literal["data", "targets"], where: str = "header"
) -> Spec:
    """The layout that the column ``names`` of ``file`` make, or the error that says why none."""
    where = f"{file} {where}"
    shown = [name if name.isprintable() else repr(name) for name in names]  # one line always
    found = "columns " + ", ".join(shown) if names else "no columns"
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(where, f"column {name!r} twice", "distinct column names")
        seen.add(name)
    if role == "targets":
        if seen != set(TARGET_COLUMNS):
            raise InputError(where, found, "the columns " + ", ".join(TARGET_COLUMNS))
        return Spec("targets", None, tuple(names))
    if seen == set(LONG_COLUMNS):
        return Spec("long", "path", tuple(c for c in names if c != "path"))
    if {"path", "value"} <= seen:
        raise InputError(
            where,
            found,
            "the long layout's columns path, time, value (its targets go in "
            f"{companion_paths(file)['targets'].name})",
        )
    if {"time", "k"} <= seen:
        paths = tuple(c for c in names if c not in TARGET_COLUMNS)
        return Spec("wide", None, tuple(names), paths)
    raise InputError(
        where,
        found,
        "the columns path, time, value (long layout) or time, k and one column per path "
        "(wide layout)",
    )


def cell_error(where: str, text: str, required: bool, missing: str) -> InputError | None:
    """The error for a cell that is not a finite number, or None when it is a missing value
    that ``missing="omit"`` lets through."""
    shown = "an empty cell" if not text.strip() else repr(text)
    if text.strip().lower() in MISSING_TOKENS or text.strip().lower() in ("+nan", "-nan"):
        if required:
            return InputError(where, shown, "a time (a row without one cannot be omitted)")
        if missing == "raise":
            return InputError(
                where, shown, "a value (missing='omit' drops the times with missing values)"
            )
        return None
    try:
        float(text)
    except ValueError:
        return InputError(where, repr(text), "a number")
    return InputError(where, repr(text), "a finite number")


def first_duplicate(keys: np.ndarray) -> tuple[int, int] | None:
    """The pair (first, second) of positions with equal keys whose second comes earliest."""
    order = np.argsort(keys, kind="stable")
    same = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if not same.size:
        return None
    j = same[np.argmin(order[same + 1])]
    return int(order[j]), int(order[j + 1])


def long_grid(table: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The long rows as a (n_paths, n_times) grid over the sorted times.

    Returns the times (n_times,), the values (n_paths, n_times) and the key (n_rows,) of each
    row, its place ``path * n_times + time`` in the flattened grid (:func:`long_targets` needs
    it). The columns are taken out of the table and freed as soon as they are used, so that at
    most about twice the data is held at once.
    """
    rows, labels = table.rows, table.labels
    assert table.codes is not None
    t = table.columns.pop("time")
    times = np.unique(t)
    n_paths, n_times = len(labels), times.size
    # key = path index * n_times + time index, computed in the codes' own buffer
    key = np.array(table.codes, copy=True) if not table.codes.flags.writeable else table.codes
    table.codes = None
    key *= n_times
    key += np.searchsorted(times, t)
    del t
    # A complete grid has exactly one row per cell, so its cells are as many as its rows and
    # the checks below hold O(rows) memory, whatever n_paths x n_times a broken file implies.
    n_cells = n_paths * n_times
    if n_cells == key.size:
        seen = np.zeros(n_cells, dtype=bool)
        seen[key] = True
        complete = bool(seen.all())
        del seen
    else:
        complete = False
    if not complete:
        _grid_error(rows, labels, times, key)
    values = np.empty((n_paths, n_times))
    values.reshape(-1)[key] = table.columns.pop("value")
    return times, values, key


def _grid_error(rows: Rows, labels: list[Any], times: np.ndarray, key: np.ndarray) -> None:
    """Raise the error of long rows that do not fill their grid: the first pair of rows on one
    cell (in file order), else the first empty cell; O(rows) memory."""
    n_times = times.size
    dup = first_duplicate(key)
    if dup is not None:  # two rows on one (path, time)
        a, b = dup
        i, j = divmod(int(key[a]), n_times)
        raise InputError(
            rows.pair(a, b),
            f"path {labels[i]!r} at time {float(times[j])!r} twice",
            "one row per path and time",
        )
    ordered = np.sort(key)
    gaps = np.flatnonzero(ordered != np.arange(ordered.size))
    first_empty = int(gaps[0]) if gaps.size else ordered.size
    i, j = divmod(first_empty, n_times)
    raise InputError(
        rows.file,
        f"no row for path {labels[i]!r} at time {float(times[j])!r}",
        "every path observed at the same times (an empty value marks a missing observation)",
    )


def long_targets(targets: Table, times: np.ndarray, key: np.ndarray, rows: Rows) -> np.ndarray:
    """The (n_times,) targets k at the sorted ``times``, from the long layout's targets table.

    Its times must be exactly the observation times; ``key`` and ``rows`` (the data table's,
    from :func:`long_grid`) name the first data row at a time without a target.
    """
    n_times = times.size
    t, k = targets.columns["time"], targets.columns["k"]
    dup = first_duplicate(t)
    if dup is not None:
        raise InputError(
            targets.rows.pair(*dup), f"time {float(t[dup[0]])!r} twice", "one target per time"
        )
    extra = np.flatnonzero(~np.isin(t, times))
    if extra.size:
        i = int(extra[0])
        raise InputError(
            targets.rows.at(i, "time"),
            f"a target at time {float(t[i])!r}, where no path is observed",
            f"targets at the observation times of {rows.file} only",
        )
    lacking = np.flatnonzero(~np.isin(times, t))
    if lacking.size:
        # the first row, in file order, at a time without a target
        row = int(np.flatnonzero(np.isin(key % n_times, lacking))[0])
        raise InputError(
            rows.at(row, "time"),
            f"time {float(times[key[row] % n_times])!r} with no target in {targets.rows.file}",
            "a target for every observation time",
        )
    return k[np.argsort(t)]


def from_wide(table: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The wide rows sorted by time: times (n_times,), values (n_paths, n_times), k."""
    t = table.columns["time"]
    dup = first_duplicate(t)
    if dup is not None:
        raise InputError(
            table.rows.pair(*dup),
            f"time {float(t[dup[0]])!r} twice",
            "one row per observation time",
        )
    order = np.argsort(t, kind="stable")
    values = np.empty((len(table.spec.paths), t.size))
    for i, name in enumerate(table.spec.paths):
        values[i] = table.columns.pop(name)[order]
    return t[order], values, table.columns["k"][order]


def finish(
    file: str, values: np.ndarray, times: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Drop the times with a missing value (NaN; only there under missing="omit"), then check
    what is left can be fitted."""
    keep = ~(np.isnan(values).any(axis=0) | np.isnan(k))
    omitted = int(keep.size - np.count_nonzero(keep))
    if omitted:
        values, times, k = values[:, keep], times[keep], k[keep]
    if values.shape[1] == 0:
        found = (
            f"no time left after omitting {omitted} with missing values"
            if omitted
            else "no observation times"
        )
        raise InputError(file, found, "at least one observation time")
    check_content(file, values)
    return (
        np.ascontiguousarray(values),
        np.ascontiguousarray(times),
        np.ascontiguousarray(k),
        omitted,
    )


def check_content(where: str, values: np.ndarray) -> None:
    """What every data set needs to be fitted: two paths, and values that vary."""
    if values.shape[0] < 2:
        raise InputError(where, f"n_paths = {values.shape[0]}", "at least 2 paths")
    low, high = float(values.min()), float(values.max())
    if low == high:
        raise InputError(
            where, f"every path value equal to {low!r}", "path values that vary (nothing to fit)"
        )
