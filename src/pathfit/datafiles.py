"""Observed data in files: paths, their targets and, when known, the true parameters.

Three formats, chosen by the extension:

- ``.csv`` and ``.parquet``, in one of two layouts, told apart by the columns:

  - long: columns ``path, time, value``, one row per path and time (``path`` is any integer or
    string label); the targets are in a companion file ``<stem>.targets<ext>`` beside it, with
    columns ``time, k``;
  - wide: one row per observation time, columns ``time``, ``k`` and one column per path.

- ``.npz``: arrays ``times`` (n_times,), ``values`` (n_paths, n_times) and ``k`` (n_times,).

The true parameters, when known, are a JSON object in ``<stem>.truth.json`` beside the file.
Rows need not be sorted by time; reading sorts them. Every problem with a file is an
:class:`~pathfit.exceptions.InputError` whose one-line message names the file, the line (CSV) or
row (Parquet) or array index (NPZ), the column and the value found.

Example:
    >>> import pathfit as pf
    >>> paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=1000,
    ...                     horizon=10.0, seed=0)
    >>> targets = pf.make_targets(paths, pf.targets.ConstantLam(0.25))
    >>> write_dataset("data.csv", paths, targets, truth={"lam": 0.25})
    [PosixPath('data.csv'), PosixPath('data.targets.csv'), PosixPath('data.truth.json')]
    >>> data = read_dataset("data.csv")
    >>> data.paths.values.shape, data.truth
    (torch.Size([100, 1000]), {'lam': 0.25})
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from pathfit._validation import check_choice
from pathfit.atomic import _current_umask
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.targets import Targets

if TYPE_CHECKING:
    import pyarrow as pa

MissingPolicy = Literal["raise", "omit"]
Layout = Literal["long", "wide"]

FORMATS = (".csv", ".parquet", ".npz")
LONG_COLUMNS = ("path", "time", "value")
TARGET_COLUMNS = ("time", "k")
NPZ_ARRAYS = ("times", "values", "k")

# Cells that mean "no value" (compared lower-cased, after stripping blanks); "nan" also parses.
_MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null"})
# Rows per Parquet record batch read, and the order of magnitude of every block written.
_BATCH_ROWS = 65_536


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


# --- reading ----------------------------------------------------------------------------------


def read_dataset(path: str | Path, *, missing: MissingPolicy = "raise") -> Dataset:
    """Read paths, targets and (when present) the true parameters from a data file.

    Args:
        path: a ``.csv``, ``.parquet`` or ``.npz`` file (see the module docstring for the
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
    missing = check_choice("missing", missing, ("raise", "omit"))  # type: ignore[assignment]
    path = Path(path)
    file = str(path)
    fmt = _format(path)
    _check_exists(path, "data file")
    if fmt == ".npz":
        times, values, k = _read_npz(path, file, missing)
    else:
        table = _read_table(path, fmt, "data", missing)
        if table.spec.layout == "long":
            times, values, k = _from_long(table, path, fmt, missing)
        else:
            times, values, k = _from_wide(table)
        del table  # free its columns: the grid holds the data now
    values, times, k, omitted = _finish(file, values, times, k)
    truth = _read_truth(companion_paths(path)["truth"])
    times_t = torch.from_numpy(times)
    return Dataset(
        paths=Paths(values=torch.from_numpy(values), times=times_t),
        targets=Targets(values=torch.from_numpy(k), times=times_t.clone()),
        truth=truth,
        source=file,
        omitted_times=omitted,
    )


def _format(path: Path) -> str:
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


class _Rows:
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
class _Spec:
    """What a table's columns are: its layout, its label column and its numeric columns."""

    layout: Literal["long", "wide", "targets"]
    label: str | None
    numeric: tuple[str, ...]
    paths: tuple[str, ...] = ()  # the path columns of the wide layout


@dataclass
class _Table:
    spec: _Spec
    labels: list[Any]  # path labels: by first appearance (long) or the path columns (wide)
    codes: np.ndarray | None  # (n_rows,) int64 index into labels, long layout only
    columns: dict[str, np.ndarray]  # (n_rows,) float64 each, NaN where missing
    rows: _Rows


def _spec(
    names: list[str], file: str, role: Literal["data", "targets"], where: str = "header"
) -> _Spec:
    where = f"{file} {where}"
    found = "columns " + ", ".join(names) if names else "no columns"
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(where, f"column {name!r} twice", "distinct column names")
        seen.add(name)
    if role == "targets":
        if seen != set(TARGET_COLUMNS):
            raise InputError(where, found, "the columns " + ", ".join(TARGET_COLUMNS))
        return _Spec("targets", None, tuple(names))
    if seen == set(LONG_COLUMNS):
        return _Spec("long", "path", tuple(c for c in names if c != "path"))
    if {"path", "value"} <= seen:
        raise InputError(
            where,
            found,
            "the long layout's columns path, time, value (its targets go in "
            f"{companion_paths(file)['targets'].name})",
        )
    if {"time", "k"} <= seen:
        paths = tuple(c for c in names if c not in TARGET_COLUMNS)
        return _Spec("wide", None, tuple(names), paths)
    raise InputError(
        where,
        found,
        "the columns path, time, value (long layout) or time, k and one column per path "
        "(wide layout)",
    )


def _read_table(path: Path, fmt: str, role: Literal["data", "targets"], missing: str) -> _Table:
    if fmt == ".csv":
        return _read_csv(path, role, missing)
    return _read_parquet(path, role, missing)


def _cell_error(where: str, text: str, required: bool, missing: str) -> InputError | None:
    """The error for a cell that is not a finite number, or None when it is a missing value
    that ``missing="omit"`` lets through."""
    shown = "an empty cell" if not text.strip() else repr(text)
    if text.strip().lower() in _MISSING_TOKENS or text.strip().lower() in ("+nan", "-nan"):
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


def _read_csv(path: Path, role: Literal["data", "targets"], missing: str) -> _Table:
    file = str(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as err:
        raise InputError(file, err.strerror or str(err), "a readable file") from err
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(file, "an empty file", "a header line with the column names")
            names = [name.strip() for name in header]
            spec = _spec(names, file, role)
            return _csv_body(reader, names, spec, file, missing)
        except UnicodeDecodeError as err:
            line, byte = _first_bad_utf8(path)
            raise InputError(f"{file} line {line}", f"the byte {byte}", "UTF-8 text") from err
        except csv.Error as err:
            raise InputError(f"{file} line {reader.line_num}", str(err), "valid CSV") from err


def _first_bad_utf8(path: Path) -> tuple[int, str]:
    """The line of the first byte that is not UTF-8, and that byte: the text reader decodes in
    blocks, so its own position says only which block."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                # err.start counts from the undecoded tail of the last block (< 4 bytes, no
                # newline in it) and then this block
                start = max(0, err.start - (len(err.object) - len(chunk)))
                return line + chunk.count(b"\n", 0, start), f"0x{chunk[start]:02x}"
            line += chunk.count(b"\n")
    return line, "at the end of the file"


def _csv_body(
    reader: Iterable[list[str]], names: list[str], spec: _Spec, file: str, missing: str
) -> _Table:
    width = len(names)
    rows = _Rows(file, "line", first=2)
    label_at = names.index(spec.label) if spec.label is not None else -1
    slots = [(names.index(c), c, array("d"), c == "time") for c in spec.numeric]
    codes = array("q")
    index: dict[str, int] = {}
    n_rows = 0
    for row in reader:
        if not row:  # a blank line
            continue
        line = reader.line_num  # type: ignore[attr-defined]
        if len(row) != width:
            raise InputError(
                f"{file} line {line}",
                f"{len(row)} cells",
                f"{width} cells, one per column ({', '.join(names)})",
            )
        rows.note(n_rows, line)
        if label_at >= 0:
            label = row[label_at].strip()
            if not label:
                raise InputError(
                    f"{file} line {line}, column {spec.label!r}",
                    "an empty cell",
                    "a path label (a row without one cannot be placed)",
                )
            code = index.get(label)
            if code is None:
                code = index[label] = len(index)
            codes.append(code)
        for at, name, out, required in slots:
            text = row[at]
            try:
                x = float(text)
            except ValueError:
                x = float("nan")
            if x - x != 0:  # NaN, inf or not a number at all
                err = _cell_error(f"{file} line {line}, column {name!r}", text, required, missing)
                if err is not None:
                    raise err
            out.append(x)
        n_rows += 1
    return _Table(
        spec=spec,
        labels=list(index),
        codes=np.frombuffer(codes, dtype=np.int64) if label_at >= 0 else None,
        columns={name: np.frombuffer(out, dtype=np.float64) for _, name, out, _ in slots},
        rows=rows,
    )


def _read_parquet(path: Path, role: Literal["data", "targets"], missing: str) -> _Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise InputError(file, f"an unreadable file ({err})", "a Parquet file") from err
    with parquet:
        names = list(parquet.schema_arrow.names)
        spec = _spec(names, file, role, where="schema")
        n_rows = parquet.metadata.num_rows
        rows = _Rows(file, "row", first=1)
        codes = np.empty(n_rows, dtype=np.int64) if spec.label is not None else None
        columns = {name: np.empty(n_rows, dtype=np.float64) for name in spec.numeric}
        index: dict[Any, int] = {}
        start = 0
        try:
            batches = parquet.iter_batches(batch_size=_BATCH_ROWS)
            for batch in batches:
                stop = start + batch.num_rows
                if codes is not None:
                    codes[start:stop] = _arrow_labels(batch.column("path"), start, rows, index)
                for name, out in columns.items():
                    out[start:stop] = _arrow_numbers(
                        batch.column(name), name, start, rows, name == "time", missing
                    )
                start = stop
        except pa.ArrowException as err:
            raise InputError(file, f"an unreadable file ({err})", "a Parquet file") from err
    return _Table(spec=spec, labels=list(index), codes=codes, columns=columns, rows=rows)


def _arrow_labels(column: pa.Array, start: int, rows: _Rows, index: dict[Any, int]) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if column.null_count:
        i = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(
            rows.at(start + i, "path"),
            "a null",
            "a path label (a row without one cannot be placed)",
        )
    kind = column.type
    if not (
        pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)
    ):
        raise InputError(
            rows.at(start, "path"),
            f"{column[0].as_py()!r} in a column of type {kind}",
            "integer or string path labels",
        )
    encoded = pc.dictionary_encode(column)
    lookup = np.array(
        [index.setdefault(label, len(index)) for label in encoded.dictionary.to_pylist()],
        dtype=np.int64,
    )
    return lookup[encoded.indices.to_numpy(zero_copy_only=False)]


def _arrow_numbers(
    column: pa.Array, name: str, start: int, rows: _Rows, required: bool, missing: str
) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        # Numbers stored as text: parse them as the CSV reader does.
        texts = column.to_pylist()
        out = np.empty(len(texts))
        for i, text in enumerate(texts):
            text = "" if text is None else text
            try:
                out[i] = float(text)
            except ValueError:
                out[i] = np.nan
            if not np.isfinite(out[i]):
                err = _cell_error(rows.at(start + i, name), text, required, missing)
                if err is not None:
                    raise err
        return out
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        raise InputError(
            rows.at(start, name), f"{column[0].as_py()!r} in a column of type {kind}", "a number"
        )
    out = column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)  # null -> NaN
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        i = int(bad[0])
        text = "" if not column[i].is_valid else repr(float(out[i]))
        err = _cell_error(rows.at(start + i, name), text, required, missing)
        if err is not None:
            raise err
        if np.isinf(out).any():  # a missing value came first; an inf later is still an error
            j = int(np.flatnonzero(np.isinf(out))[0])
            raise InputError(rows.at(start + j, name), repr(float(out[j])), "a finite number")
    return out


def _first_duplicate(keys: np.ndarray) -> tuple[int, int] | None:
    """The pair (first, second) of positions with equal keys whose second comes earliest."""
    order = np.argsort(keys, kind="stable")
    same = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if not same.size:
        return None
    j = same[np.argmin(order[same + 1])]
    return int(order[j]), int(order[j + 1])


def _from_long(
    table: _Table, path: Path, fmt: str, missing: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The long rows as a (n_paths, n_times) grid over the sorted times, and the targets.

    The columns are taken out of the table and freed as soon as they are used, so that at most
    about twice the data is held at once.
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
    seen = np.zeros(n_paths * n_times, dtype=bool)
    seen[key] = True
    n_seen = int(np.count_nonzero(seen))
    if n_seen != key.size:  # two rows on one (path, time)
        a, b = _first_duplicate(key)  # type: ignore[misc]
        i, j = divmod(int(key[a]), n_times)
        raise InputError(
            rows.pair(a, b),
            f"path {labels[i]!r} at time {float(times[j])!r} twice",
            "one row per path and time",
        )
    if n_seen != seen.size:
        i, j = divmod(int(np.argmin(seen)), n_times)
        raise InputError(
            rows.file,
            f"no row for path {labels[i]!r} at time {float(times[j])!r}",
            "every path observed at the same times (an empty value marks a missing observation)",
        )
    del seen
    values = np.empty((n_paths, n_times))
    values.reshape(-1)[key] = table.columns.pop("value")

    targets_path = companion_paths(path)["targets"]
    if not targets_path.exists():
        raise InputError(
            rows.file,
            f"no file {targets_path.name} beside it",
            f"the long layout's targets in {targets_path.name} (columns time, k)",
        )
    targets = _read_table(targets_path, fmt, "targets", missing)
    t, k = targets.columns["time"], targets.columns["k"]
    dup = _first_duplicate(t)
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
    return times, values, k[np.argsort(t)]


def _from_wide(table: _Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The wide rows sorted by time: times (n_times,), values (n_paths, n_times), k."""
    t = table.columns["time"]
    dup = _first_duplicate(t)
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


def _read_npz(path: Path, file: str, missing: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise InputError(
            file, f"an unreadable file ({err})", "an .npz file from numpy.savez"
        ) from err
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InputError(file, "a single .npy array", "an .npz file from numpy.savez")
    with data:
        if set(data.files) != set(NPZ_ARRAYS):
            found = "arrays " + ", ".join(data.files) if data.files else "no arrays"
            raise InputError(file, found, "the arrays " + ", ".join(NPZ_ARRAYS))
        try:
            arrays = {name: data[name] for name in NPZ_ARRAYS}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise InputError(
                file, f"an unreadable array ({err})", "an .npz file from numpy.savez"
            ) from err

    for name, ndim in (("times", 1), ("values", 2), ("k", 1)):
        found = arrays[name]
        if found.ndim != ndim or not (
            np.issubdtype(found.dtype, np.integer) or np.issubdtype(found.dtype, np.floating)
        ):
            raise InputError(
                f"{file} array {name!r}",
                f"a {found.dtype} array of shape {found.shape}",
                f"a {ndim}-d array of real numbers",
            )
    times = arrays["times"].astype(np.float64, copy=False)
    n_times = times.size
    for name, shape in (("values", (arrays["values"].shape[0], n_times)), ("k", (n_times,))):
        if arrays[name].shape != shape:
            raise InputError(
                f"{file} array {name!r}",
                f"shape {arrays[name].shape} for {n_times} times",
                f"shape {shape}",
            )
    values = arrays["values"].astype(np.float64, copy=False)
    k = arrays["k"].astype(np.float64, copy=False)
    for name, numbers in (("times", times), ("values", values), ("k", k)):
        _check_npz_numbers(f"{file} {name}", numbers, name == "times", missing)
    dup = _first_duplicate(times)
    if dup is not None:
        raise InputError(
            f"{file} times[{dup[0]}] and times[{dup[1]}]",
            f"time {float(times[dup[0]])!r} twice",
            "distinct observation times",
        )
    order = np.argsort(times, kind="stable")
    if np.array_equal(order, np.arange(n_times)):
        return times, values, k
    return times[order], values[:, order], k[order]


def _check_npz_numbers(where: str, numbers: np.ndarray, required: bool, missing: str) -> None:
    """Raise for the first inf, and for the first NaN unless it may be omitted."""

    def at(index: np.ndarray) -> str:
        return f"{where}[{', '.join(str(int(i)) for i in index)}]"

    nan = np.argwhere(np.isnan(numbers))
    if nan.size and (required or missing == "raise"):
        expected = (
            "a time (a time cannot be omitted)"
            if required
            else "a value (missing='omit' drops the times with missing values)"
        )
        raise InputError(at(nan[0]), "nan", expected)
    inf = np.argwhere(np.isinf(numbers))
    if inf.size:
        raise InputError(at(inf[0]), repr(float(numbers[tuple(inf[0])])), "a finite number")


def _finish(
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
    _check_content(file, values)
    return (
        np.ascontiguousarray(values),
        np.ascontiguousarray(times),
        np.ascontiguousarray(k),
        omitted,
    )


def _check_content(where: str, values: np.ndarray) -> None:
    """What every data set needs to be fitted: two paths, and values that vary."""
    if values.shape[0] < 2:
        raise InputError(where, f"n_paths = {values.shape[0]}", "at least 2 paths")
    low, high = float(values.min()), float(values.max())
    if low == high:
        raise InputError(
            where, f"every path value equal to {low!r}", "path values that vary (nothing to fit)"
        )


def _read_truth(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    _check_exists(path, "truth file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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
    fmt = _format(path)
    layout = check_choice("layout", layout, ("long", "wide"))  # type: ignore[assignment]
    if not isinstance(paths, Paths):
        raise InputError("paths", type(paths).__name__, "a pathfit.Paths")
    if not isinstance(targets, Targets):
        raise InputError("targets", type(targets).__name__, "a pathfit.Targets")
    values = np.ascontiguousarray(paths.values.detach().to("cpu", torch.float64).numpy())
    times = np.ascontiguousarray(paths.times.detach().to("cpu", torch.float64).numpy())
    k = np.ascontiguousarray(targets.values.detach().to("cpu", torch.float64).numpy())
    _check_targets(times, targets, paths.dtype)
    _check_content("paths", values)
    dup = _first_duplicate(times)
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
        plan[path] = lambda tmp: _write_npz(tmp, times, values, k)
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
    return _write_all(plan)


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
        _write_long_csv(tmp, times, values)
    else:
        _write_long_parquet(tmp, times, values)


def _write_wide(tmp: Path, fmt: str, times: np.ndarray, values: np.ndarray, k: np.ndarray) -> None:
    if fmt == ".csv":
        _write_wide_csv(tmp, times, values, k)
    else:
        _write_wide_parquet(tmp, times, values, k)


def _write_long_csv(tmp: Path, times: np.ndarray, values: np.ndarray) -> None:
    time_texts = [repr(t) for t in times.tolist()]
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(LONG_COLUMNS) + "\n")
        for i, row in enumerate(values):
            handle.write(
                "".join(f"{i},{t},{x!r}\n" for t, x in zip(time_texts, row.tolist(), strict=True))
            )


def _write_wide_csv(tmp: Path, times: np.ndarray, values: np.ndarray, k: np.ndarray) -> None:
    n_paths, n_times = values.shape
    block = max(1, _BATCH_ROWS // n_paths)
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join([*TARGET_COLUMNS, *map(str, range(n_paths))]) + "\n")
        for j0 in range(0, n_times, block):
            j1 = min(j0 + block, n_times)
            rows = zip(
                times[j0:j1].tolist(), k[j0:j1].tolist(), values[:, j0:j1].T.tolist(), strict=True
            )
            handle.write("".join(f"{t!r},{kj!r},{','.join(map(repr, xs))}\n" for t, kj, xs in rows))


def _write_targets(tmp: Path, fmt: str, times: np.ndarray, k: np.ndarray) -> None:
    if fmt == ".csv":
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(",".join(TARGET_COLUMNS) + "\n")
            handle.write(
                "".join(f"{t!r},{kj!r}\n" for t, kj in zip(times.tolist(), k.tolist(), strict=True))
            )
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"time": times, "k": k}), tmp)


def _write_long_parquet(tmp: Path, times: np.ndarray, values: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n_paths, n_times = values.shape
    schema = pa.schema([("path", pa.int64()), ("time", pa.float64()), ("value", pa.float64())])
    block = max(1, 16 * _BATCH_ROWS // n_times)  # paths per block: about a million rows
    with pq.ParquetWriter(tmp, schema) as writer:
        for i0 in range(0, n_paths, block):
            i1 = min(i0 + block, n_paths)
            writer.write_table(
                pa.table(
                    {
                        "path": np.repeat(np.arange(i0, i1, dtype=np.int64), n_times),
                        "time": np.tile(times, i1 - i0),
                        "value": values[i0:i1].reshape(-1),
                    },
                    schema=schema,
                )
            )


def _write_wide_parquet(tmp: Path, times: np.ndarray, values: np.ndarray, k: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"time": times, "k": k} | {str(i): row for i, row in enumerate(values)}
    pq.write_table(pa.table(columns), tmp)


def _write_npz(tmp: Path, times: np.ndarray, values: np.ndarray, k: np.ndarray) -> None:
    with open(tmp, "wb") as handle:  # a file object: numpy adds no ".npz" to it
        np.savez(handle, times=times, values=values, k=k)


def _write_all(plan: dict[Path, Callable[[Path], None] | None]) -> list[Path]:
    """Carry out a plan of writes and removals: all of it, or none of it."""
    folder = next(iter(plan)).parent
    for dest in plan:
        if dest.is_dir():
            raise InputError(str(dest), "a folder", "a file path that can be written")
    created: list[Path] = []  # folders this call made, deepest first
    staged: dict[Path, Path] = {}
    current = folder  # what was being written, for the message
    try:
        probe = folder
        while not probe.exists() and probe != probe.parent:
            created.append(probe)
            probe = probe.parent
        folder.mkdir(parents=True, exist_ok=True)
        for dest, write in plan.items():
            if write is None:
                continue
            current = dest
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp's 0600 is not what open gives
            staged[dest] = Path(tmp)
            write(Path(tmp))
        stale = [dest for dest, write in plan.items() if write is None and dest.exists()]
        # Companions first, the data file last: a reader that sees the new data file sees its
        # new companions too.
        order = [*list(staged)[1:], *list(staged)[:1]]
        current = order[-1]
        _commit([(dest, staged[dest]) for dest in order], stale)
    except BaseException as err:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        for made in created:
            with contextlib.suppress(OSError):
                made.rmdir()
        if isinstance(err, OSError):
            raise InputError(
                str(current), err.strerror or str(err), "a file path that can be written"
            ) from err
        raise
    return list(staged)


def _commit(renames: list[tuple[Path, Path]], removals: list[Path]) -> None:
    """Rename each temporary onto its destination and remove the stale files; if any step
    fails, put every destination back as it was."""
    done: list[tuple[Path, Path | None]] = []  # (destination, what it held before)
    try:
        for dest, tmp in renames:
            done.append((dest, _backup(dest)))
            os.replace(tmp, dest)
        for dest in removals:
            aside = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.old")
            os.replace(dest, aside)
            done.append((dest, aside))
    except BaseException:
        for dest, before in reversed(done):
            if before is None:
                dest.unlink(missing_ok=True)
            else:
                os.replace(before, dest)
                # a no-op when both names are links to one file (POSIX rename): drop the link
                before.unlink(missing_ok=True)
        raise
    for _, before in done:
        if before is not None:
            before.unlink(missing_ok=True)


def _backup(dest: Path) -> Path | None:
    """A second name for the file at ``dest`` (a hard link where the file system has them), so
    that it can be put back; None when there is no file."""
    if not dest.exists():
        return None
    backup = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.old")
    try:
        os.link(dest, backup)
    except OSError:
        shutil.copy2(dest, backup)
    return backup
