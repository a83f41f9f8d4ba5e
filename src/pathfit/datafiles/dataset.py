"""Reading and writing a data set: the data file, its companions, and the checks on both ends.

The format is chosen by the extension; the format modules read and write the tables, and
:mod:`pathfit.datafiles.layouts` turns tables into a grid of paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from pathfit._validation import check_choice
from pathfit.atomic import write_files_atomic
from pathfit.choices import LAYOUTS, MISSING_POLICIES, Layout, MissingPolicy
from pathfit.datafiles import csv_format, npz_format, parquet_format
from pathfit.datafiles.layouts import (
    Table,
    check_content,
    companion_paths,
    finish,
    first_duplicate,
    from_wide,
    long_grid,
    long_targets,
)
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.targets import Targets

FORMATS = (".csv", ".parquet", ".npz")


@dataclass(frozen=True)
class Dataset:
    """Paths and targets read from a file.

    Attributes:
        paths: the paths, float64 on the CPU, times sorted ascending; in the long layout the
            paths are in the order their labels first appear in the file, in the wide layout in
            column order.
        targets: the (n_times,) targets k_j at the same times (``noise_std`` None: unknown).
        truth: the true parameters from ``<stem>.truth.json`` when that file exists, else None.
        source: the file it was read from, as given.
        omitted_times: how many observation times ``missing="omit"`` dropped.
    """

    paths: Paths
    targets: Targets
    truth: dict[str, Any] | None
    source: str
    omitted_times: int = 0


# --- reading ----------------------------------------------------------------------------------


def read_dataset(path: str | Path, *, missing: MissingPolicy = "raise") -> Dataset:
    """Read paths, targets and (when present) the true parameters from a data file.

    Args:
        path: a ``.csv``, ``.parquet`` or ``.npz`` file (see :mod:`pathfit.datafiles` for the
            layouts); exactly the path :func:`write_dataset` was given.
        missing: what a missing value (an empty cell, NA, NaN, a Parquet null) in a path value
            or a target does: ``"raise"`` an error naming its line and column, or ``"omit"`` the
            observation times that have one (counted in ``omitted_times``). A missing time or
            path label is always an error: there is no time to drop.

    Returns:
        A :class:`Dataset` with float64 paths (n_paths, n_times) and targets (n_times,), times
        sorted ascending.

    Raises:
        InputError: the file is missing, unreadable or not as described; the message names the
            file, the line or row, the column and the value found.
    """
    missing = check_choice("missing", missing, MISSING_POLICIES)  # type: ignore[assignment]
    path = Path(path)
    file = str(path)
    fmt = check_format(path)
    _check_exists(path, "data file")
    if fmt == ".npz":
        times, values, k = npz_format.read_arrays(path, file, missing)
    else:
        table = _read_table(path, fmt, "data", missing)
        if table.spec.layout == "long":
            times, values, k = _from_long(table, path, fmt, missing)
        else:
            times, values, k = from_wide(table)
        del table  # free its columns: the grid holds the data now
    values, times, k, omitted = finish(file, values, times, k)
    truth = _read_truth(companion_paths(path)["truth"])
    times_t = torch.from_numpy(times)
    return Dataset(
        paths=Paths(values=torch.from_numpy(values), times=times_t),
        targets=Targets(values=torch.from_numpy(k), times=times_t.clone()),
        truth=truth,
        source=file,
        omitted_times=omitted,
    )


def check_format(path: str | Path) -> str:
    """The data file's format (its extension, lower case); InputError for any other."""
    path = Path(path)
    fmt = path.suffix.lower()
    if fmt not in FORMATS:
        raise InputError(
            str(path),
            f"the extension {path.suffix!r}" if path.suffix else "no extension",
            "a " + ", ".join(FORMATS[:-1]) + f" or {FORMATS[-1]} file",
        )
    return fmt


def _check_exists(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(str(path), "no such file", f"an existing {what}")
    if not path.is_file():
        raise InputError(str(path), "a folder", f"a {what}")


def _read_table(path: Path, fmt: str, role: Literal["data", "targets"], missing: str) -> Table:
    if fmt == ".csv":
        return csv_format.read_table(path, role, missing)
    return parquet_format.read_table(path, role, missing)


def _from_long(
    table: Table, path: Path, fmt: str, missing: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The long rows as a (n_paths, n_times) grid over the sorted times, and the targets from
    the companion file."""
    rows = table.rows
    times, values, key = long_grid(table)
    targets_path = companion_paths(path)["targets"]
    if not targets_path.exists():
        raise InputError(
            rows.file,
            f"no file {targets_path.name} beside it",
            f"the long layout's targets in {targets_path.name} (columns time, k)",
        )
    targets = _read_table(targets_path, fmt, "targets", missing)
    return times, values, long_targets(targets, times, key, rows)


class _DuplicateKey(Exception):
    """A JSON object that names a key twice (json keeps the last value silently)."""


def _distinct_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKey(key)
        record[key] = value
    return record


def _read_truth(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    _check_exists(path, "truth file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_distinct_keys)
    except _DuplicateKey as err:
        raise InputError(str(path), f"the key {err.args[0]!r} twice", "each key once") from None
    except json.JSONDecodeError as err:
        raise InputError(
            f"{path} line {err.lineno}",
            f"invalid JSON ({err.msg})",
            "a JSON object of the true parameters",
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(str(path), str(err), "a readable UTF-8 JSON file") from err
    if not isinstance(data, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        found = kinds.get(type(data), "a number")
        raise InputError(str(path), f"{found}", "a JSON object of the true parameters")
    return data


# --- writing ----------------------------------------------------------------------------------


def write_dataset(
    path: str | Path,
    paths: Paths,
    targets: Targets,
    *,
    truth: dict[str, Any] | None = None,
    layout: Layout = "long",
) -> list[Path]:
    """Write paths and targets (and the true parameters) so that ``read_dataset(path)`` reads
    them back: float64 values exactly (CSV floats are written at repr precision).

    Args:
        path: the data file, ``.csv``, ``.parquet`` or ``.npz``; its folder is created.
        paths: the paths; they need at least 2 paths, distinct times and values that vary.
        targets: the targets at the paths' times.
        truth: the true parameters (a JSON-safe dict, e.g. ``{"lam": 0.25}``), written to
            ``<stem>.truth.json``; without it an old ``<stem>.truth.json`` is removed.
        layout: ``"long"`` (rows ``path, time, value`` and a ``<stem>.targets<ext>`` file) or
            ``"wide"`` (rows ``time, k, <one column per path>``; an old targets file is
            removed). Ignored for ``.npz``, which has one layout.

    Returns:
        The files written, the data file first.

    Raises:
        InputError: bad arguments, or a file that cannot be written. Either way nothing is
            written: every file goes to a temporary first and all are renamed at the end, and
            any that was replaced is put back if a rename fails.
    """
    path = Path(path)
    fmt = check_format(path)
    layout = check_choice("layout", layout, LAYOUTS)  # type: ignore[assignment]
    if not isinstance(paths, Paths):
        raise InputError("paths", type(paths).__name__, "a pathfit.Paths")
    if not isinstance(targets, Targets):
        raise InputError("targets", type(targets).__name__, "a pathfit.Targets")
    values = np.ascontiguousarray(paths.values.detach().to("cpu", torch.float64).numpy())
    times = np.ascontiguousarray(paths.times.detach().to("cpu", torch.float64).numpy())
    k = np.ascontiguousarray(targets.values.detach().to("cpu", torch.float64).numpy())
    _check_targets(times, targets, paths.dtype)
    check_content("paths", values)
    dup = first_duplicate(times)
    if dup is not None:
        raise InputError(
            "paths.times",
            f"{float(times[dup[0]])!r} at indices {dup[0]} and {dup[1]}",
            "distinct observation times",
        )
    truth_text = None if truth is None else _truth_text(truth)

    companions = companion_paths(path)
    # Destination -> writer of its new content into a given file, or None to remove it.
    plan: dict[Path, Callable[[Path], None] | None] = {}
    if fmt == ".npz":
        plan[path] = lambda tmp: npz_format.write_arrays(tmp, times, values, k)
    elif layout == "long":
        plan[path] = lambda tmp: _write_long(tmp, fmt, times, values)
        plan[companions["targets"]] = lambda tmp: _write_targets(tmp, fmt, times, k)
    else:
        plan[path] = lambda tmp: _write_wide(tmp, fmt, times, values, k)
        plan[companions["targets"]] = None
    if truth_text is None:
        plan[companions["truth"]] = None
    else:
        plan[companions["truth"]] = lambda tmp: tmp.write_text(truth_text, encoding="utf-8")
    return write_files_atomic(plan)


def _check_targets(times: np.ndarray, targets: Targets, dtype: torch.dtype) -> None:
    if targets.n_times != times.size:
        raise InputError(
            "targets", f"{targets.n_times} targets for {times.size} times", "one target per time"
        )
    coarse = torch.float32 if torch.float32 in (dtype, targets.values.dtype) else torch.float64
    target_times = targets.times.detach().to("cpu", torch.float64).numpy()
    eps = float(torch.finfo(coarse).eps)
    if not np.allclose(target_times, times, rtol=4 * eps, atol=0.0):
        j = int(np.flatnonzero(~np.isclose(target_times, times, rtol=4 * eps, atol=0.0))[0])
        raise InputError(
            "targets.times",
            f"{float(target_times[j])!r} where paths.times has {float(times[j])!r}",
            "targets at the paths' times",
        )


def _truth_text(truth: object) -> str:
    def plain(value: object) -> object:
        if isinstance(value, np.generic | np.ndarray | torch.Tensor):
            return value.tolist()
        raise TypeError(f"{type(value).__name__} is not JSON-safe")

    if not isinstance(truth, dict) or not all(isinstance(key, str) for key in truth):
        raise InputError("truth", repr(truth), "a dict of the true parameters with string keys")
    try:
        return json.dumps(truth, indent=2, allow_nan=False, default=plain) + "\n"
    except (TypeError, ValueError) as err:
        raise InputError("truth", f"{truth!r} ({err})", "JSON-safe finite values") from err


def _write_long(tmp: Path, fmt: str, times: np.ndarray, values: np.ndarray) -> None:
    if fmt == ".csv":
        csv_format.write_long(tmp, times, values)
    else:
        parquet_format.write_long(tmp, times, values)


def _write_wide(tmp: Path, fmt: str, times: np.ndarray, values: np.ndarray, k: np.ndarray) -> None:
    if fmt == ".csv":
        csv_format.write_wide(tmp, times, values, k)
    else:
        parquet_format.write_wide(tmp, times, values, k)


def _write_targets(tmp: Path, fmt: str, times: np.ndarray, k: np.ndarray) -> None:
    if fmt == ".csv":
        csv_format.write_targets(tmp, times, k)
    else:
        parquet_format.write_targets(tmp, times, k)
