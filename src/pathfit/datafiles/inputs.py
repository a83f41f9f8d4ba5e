"""What an estimator's ``fit`` accepts as paths and targets, turned into ``Paths`` and targets.

Paths may be a :class:`~pathfit.paths.Paths`, a (n_paths, n_times) NumPy array, torch tensor or
nested list with its ``times``, or a pandas DataFrame in one of the data files' layouts:

- long: columns ``path, time, value``, one row per path and time (a ``(path, time)`` index
  counts as columns);
- wide: one row per observation time, a ``time`` column (or index), one column per path and,
  optionally, the targets in a column ``k``.

Targets may be a :class:`~pathfit.targets.Targets`, a (n_times,) array, tensor or Series in the
order of the paths' times, a DataFrame with columns ``time, k`` (the long layout's targets
file), or a Series indexed by ``time``; the last two are matched to the paths by time. An array
of paths without ``times`` takes them from targets that carry them.

float32 stays float32 (arrays, tensors and DataFrame columns alike); see
:func:`pathfit._validation.check_tensor` for the other dtypes. pandas is never imported here: a
DataFrame is recognised only when pandas is already loaded, which it is if one exists.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from pathfit._types import TargetValues
from pathfit._validation import check_tensor
from pathfit.datafiles.layouts import (
    LONG_COLUMNS,
    TARGET_COLUMNS,
    Rows,
    Spec,
    Table,
    from_wide,
    long_grid,
    long_targets,
)
from pathfit.design import StreamedPaths
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.targets import Targets

_NO_TIMES = (
    "the (n_times,) observation times of the columns of paths: times=..., or targets that "
    "carry them (a pathfit.Targets, a DataFrame with columns time, k, or a Series indexed by "
    "time)"
)


def is_frame(value: object) -> bool:
    """Whether ``value`` is a pandas DataFrame (False whenever pandas is not loaded)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def is_series(value: object) -> bool:
    """Whether ``value`` is a pandas Series (False whenever pandas is not loaded)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.Series)


def as_paths(paths: object, times: object = None) -> Paths | StreamedPaths:
    """``paths`` as :class:`~pathfit.paths.Paths` (see the module docstring for what it may
    be); ``times`` (n_times,) goes with an array or tensor, and only with one.

    Raises:
        InputError: naming ``paths`` or ``times`` (a DataFrame's column and row where the
            problem is one cell) and what was found.
    """
    return as_data(paths, None, times, need_targets=False)[0]


def as_targets(targets: object, times: object = None) -> Targets:
    """``targets`` as :class:`~pathfit.targets.Targets`: a Targets as it is, a DataFrame with
    columns ``time, k`` or a Series indexed by ``time``, or (n_times,) values with their
    ``times``."""
    if isinstance(targets, Targets):
        if times is not None:
            raise InputError("times", "times besides a pathfit.Targets", "None (it has its own)")
        return targets
    carried = _carried_times(targets)
    if carried is not None:
        if times is not None:
            raise InputError("times", "times besides targets that carry them", "None")
        t, k = _target_columns(targets)
        return Targets(values=k, times=t)
    if times is None:
        raise InputError("times", "None", "the (n_times,) times of the targets")
    return Targets(values=_values("targets", targets, ndim=1), times=times)


def as_data(
    paths: object,
    targets: object,
    times: object = None,
    *,
    need_targets: bool = True,
) -> tuple[Paths | StreamedPaths, Targets | TargetValues]:
    """Paths and targets from any of the forms the module docstring lists.

    Returns ``Paths`` (or ``StreamedPaths``, as given) and either ``Targets`` or the (n_times,)
    target values in the paths' time order; the estimators check the pair against each other.
    ``targets`` may be None for a wide DataFrame with a ``k`` column (or when ``need_targets``
    is False).
    """
    k_from_frame: np.ndarray | None = None
    if isinstance(paths, Paths | StreamedPaths):
        if times is not None:
            raise InputError(
                "times", "times besides a pathfit.Paths", "None (the paths carry their times)"
            )
        out_paths: Paths | StreamedPaths = paths
    elif is_frame(paths):
        if times is not None:
            raise InputError(
                "times", "times besides a DataFrame", "None (the DataFrame's time column)"
            )
        frame_times, values, k_from_frame, key, rows = _paths_frame(paths)
        out_paths = Paths(values=values, times=torch.from_numpy(frame_times))
        if is_frame(targets) or _time_indexed(targets):
            t, k = _target_columns(targets)
            table = _targets_table(t, k)
            aligned = long_targets(table, frame_times, key, rows)
            return out_paths, Targets(values=_like(aligned, k), times=out_paths.times)
    else:
        if isinstance(paths, str | bytes) or paths is None:
            raise InputError(
                "paths",
                type(paths).__name__,
                "a pathfit.Paths, a (n_paths, n_times) array or tensor, or a DataFrame",
            )
        values = _values("paths", paths, ndim=2)
        if times is None:
            times = _carried_times(targets)
            if times is None:
                raise InputError("times", "None", _NO_TIMES)
        out_paths = Paths(values=values, times=_values("times", times, ndim=1))
    if targets is None:
        if k_from_frame is not None:
            return out_paths, Targets(values=torch.from_numpy(k_from_frame), times=out_paths.times)
        if need_targets:
            raise InputError(
                "targets",
                "None",
                "the (n_times,) targets k (None only with a wide DataFrame that has a k column)",
            )
        return out_paths, torch.empty(0)
    if k_from_frame is not None:
        raise InputError(
            "targets", "targets besides the DataFrame's k column", "None, or a frame without k"
        )
    if is_frame(targets) or _time_indexed(targets):
        t, k = _target_columns(targets)
        # matched in the paths' dtype, to which Paths rounds its times (float32 paths)
        if out_paths.dtype == torch.float32:
            t = t.astype(np.float32).astype(np.float64)
        grid = out_paths.times.detach().to("cpu", torch.float64).numpy()
        order = np.arange(grid.size, dtype=np.int64)
        aligned = long_targets(_targets_table(t, k), grid, order, Rows("paths", "time index", 0))
        return out_paths, Targets(values=_like(aligned, k), times=out_paths.times)
    if isinstance(targets, Targets):
        return out_paths, targets
    return out_paths, _values("targets", targets, ndim=1)


# --- arrays -----------------------------------------------------------------------------------


def _values(field: str, value: object, *, ndim: int) -> torch.Tensor:
    """An array, tensor, Series or list as a tensor, float32 kept (check_tensor's rules)."""
    if is_series(value) or is_frame(value):
        value = _numeric(field, value)  # type: ignore[arg-type]
    return check_tensor(field, value, ndim=ndim)


def _numeric(field: str, column: Any) -> np.ndarray:
    """A pandas column (or frame) as a NumPy array of its own float dtype, NaN where missing."""
    dtypes = list(column.dtypes) if is_frame(column) else [column.dtype]
    for dtype in dtypes:
        if getattr(dtype, "kind", "O") not in "biuf":
            raise InputError(field, f"a column of dtype {dtype}", "numbers")
    single = all(getattr(d, "kind", "") == "f" and getattr(d, "itemsize", 8) == 4 for d in dtypes)
    return column.to_numpy(dtype=np.float32 if single else np.float64, na_value=np.nan)


def _like(values: np.ndarray, source: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values.astype(source.dtype, copy=False)))


# --- DataFrames -------------------------------------------------------------------------------


def _columns(frame: Any) -> tuple[Any, dict[str, Any]]:
    """The frame with a named index turned into columns, and its columns by name (as text)."""
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    return frame, {str(name): name for name in frame.columns}


def _paths_frame(
    frame: Any,
) -> tuple[np.ndarray, torch.Tensor, np.ndarray | None, np.ndarray, Rows]:
    """A DataFrame of paths in the long or wide layout: its sorted times (n_times,), values
    (n_paths, n_times) in the dtype of its value columns, targets k (wide layout with a ``k``
    column, else None), and the row key and row numbers that align targets with it."""
    frame, names = _columns(frame)
    seen = set(names)
    if len(seen) != len(frame.columns):
        raise InputError("paths", "a column name twice", "distinct column names")
    rows = Rows("paths", "row", first=0)
    if seen == set(LONG_COLUMNS):
        spec = Spec("long", "path", ("time", "value"))
    elif "time" in seen and not seen & {"path", "value"} and len(seen - {"time", "k"}) >= 1:
        spec = Spec("wide", None, tuple(names), tuple(n for n in names if n not in ("time", "k")))
    else:
        shown = ", ".join(map(repr, names)) if names else "none"
        raise InputError(
            "paths",
            f"a DataFrame with columns {shown}",
            "the long layout's columns path, time, value, or the wide layout's time column "
            "(or index), one column per path and optionally k",
        )
    columns: dict[str, np.ndarray] = {}
    single = True
    for name in spec.numeric:
        column = _numeric(f"paths column {name!r}", frame[names[name]])
        if name not in ("time", "k"):
            single = single and column.dtype == np.float32
        columns[name] = column.astype(np.float64, copy=False)
        _check_cells(column, name, rows)
    codes = None
    labels: list[Any] = []
    if spec.layout == "long":
        found, uniques = frame[names["path"]].factorize()
        if (found < 0).any():
            raise InputError(
                rows.at(int(np.flatnonzero(found < 0)[0]), "path"),
                "a missing label",
                "a path label",
            )
        codes, labels = np.asarray(found, dtype=np.int64), list(uniques)
    table = Table(spec=spec, labels=labels, codes=codes, columns=columns, rows=rows)
    k: np.ndarray | None = None
    if spec.layout == "long":
        times, values, key = long_grid(table)
    else:
        has_k = "k" in table.columns
        if not has_k:
            table.columns["k"] = np.zeros_like(table.columns["time"])
        t = table.columns["time"]
        key = np.empty(t.size, dtype=np.int64)
        key[np.argsort(t, kind="stable")] = np.arange(t.size)
        times, values, k = from_wide(table)
        if not has_k:
            k = None
    dtype = np.float32 if single else np.float64
    if k is not None and "k" in names and frame[names["k"]].dtype == np.float32:
        k = k.astype(np.float32)
    return times, torch.from_numpy(values.astype(dtype, copy=False)), k, key, rows


def _check_cells(column: np.ndarray, name: str, rows: Rows) -> None:
    bad = np.flatnonzero(~np.isfinite(column))
    if bad.size:
        i = int(bad[0])
        found = "a missing value" if np.isnan(column[i]) else repr(float(column[i]))
        raise InputError(
            rows.at(i, name), found, "a finite number (drop or fill missing values first)"
        )


def _time_indexed(value: object) -> bool:
    return is_series(value) and value.index.name == "time"  # type: ignore[attr-defined]


def _carried_times(targets: object) -> object:
    """The times targets carry (a Targets, a (time, k) frame, a time-indexed Series), in their
    row order, or None."""
    if isinstance(targets, Targets):
        return targets.times
    if is_frame(targets) or _time_indexed(targets):
        return torch.from_numpy(_target_columns(targets)[0].copy())
    return None


def _target_columns(targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """(time, k) of a DataFrame with those columns (or a time index), or of a Series indexed
    by time, in row order, checked cell by cell."""
    rows = Rows("targets", "row", first=0)
    if is_series(targets):
        t = _numeric("targets index 'time'", targets.index.to_series())
        k = _numeric("targets", targets)
    else:
        frame, names = _columns(targets)
        if set(names) != set(TARGET_COLUMNS) or len(names) != len(frame.columns):
            shown = ", ".join(map(repr, names)) if names else "none"
            raise InputError("targets", f"a DataFrame with columns {shown}", "the columns time, k")
        t = _numeric("targets column 'time'", frame[names["time"]])
        k = _numeric("targets column 'k'", frame[names["k"]])
    _check_cells(t, "time", rows)
    _check_cells(k, "k", rows)
    return t.astype(np.float64, copy=False), k


def _targets_table(t: np.ndarray, k: np.ndarray) -> Table:
    return Table(
        spec=Spec("targets", None, TARGET_COLUMNS),
        labels=[],
        codes=None,
        columns={"time": t, "k": k.astype(np.float64, copy=False)},
        rows=Rows("targets", "row", first=0),
    )


__all__ = ["as_data", "as_paths", "as_targets", "is_frame", "is_series"]
