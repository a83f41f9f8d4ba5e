"""CSV data files: UTF-8 text (a byte-order mark is skipped), a header line of column names.

Reading parses every cell as the float it spells; an empty cell, NA, N/A, NaN or null is a
missing value. Writing puts every float at repr precision, so that it reads back exactly.
"""

from __future__ import annotations

import codecs
import csv
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np

from pathfit.datafiles import layouts
from pathfit.datafiles.layouts import (
    LONG_COLUMNS,
    TARGET_COLUMNS,
    Rows,
    Spec,
    Table,
    cell_error,
    column_spec,
)
from pathfit.exceptions import InputError


def read_table(path: Path, role: Literal["data", "targets"], missing: str) -> Table:
    """The table in the CSV file ``path``: a data file (long or wide) or a targets file."""
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
            spec = column_spec(names, file, role)
            return _body(reader, names, spec, file, missing)
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


def _body(
    reader: Iterable[list[str]], names: list[str], spec: Spec, file: str, missing: str
) -> Table:
    width = len(names)
    rows = Rows(file, "line", first=2)
    at = {name: i for i, name in enumerate(names)}  # names are distinct (column_spec)
    label_at = at[spec.label] if spec.label is not None else -1
    slots = [(at[c], c, array("d"), c == "time") for c in spec.numeric]
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
                err = cell_error(f"{file} line {line}, column {name!r}", text, required, missing)
                if err is not None:
                    raise err
            out.append(x)
        n_rows += 1
    return Table(
        spec=spec,
        labels=list(index),
        codes=np.frombuffer(codes, dtype=np.int64) if label_at >= 0 else None,
        columns={name: np.frombuffer(out, dtype=np.float64) for _, name, out, _ in slots},
        rows=rows,
    )


def write_long(tmp: Path, times: np.ndarray, values: np.ndarray) -> None:
    """Rows ``path, time, value``, path by path; the paths are labelled 0, 1, ..."""
    time_texts = [repr(t) for t in times.tolist()]
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(LONG_COLUMNS) + "\n")
        for i, row in enumerate(values):
            handle.write(
                "".join(f"{i},{t},{x!r}\n" for t, x in zip(time_texts, row.tolist(), strict=True))
            )


def write_wide(tmp: Path, times: np.ndarray, values: np.ndarray, k: np.ndarray) -> None:
    """Rows ``time, k, <one column per path>``; the path columns are named 0, 1, ..."""
    n_paths, n_times = values.shape
    block = max(1, layouts.BATCH_ROWS // n_paths)
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join([*TARGET_COLUMNS, *map(str, range(n_paths))]) + "\n")
        for j0 in range(0, n_times, block):
            j1 = min(j0 + block, n_times)
            rows = zip(
                times[j0:j1].tolist(), k[j0:j1].tolist(), values[:, j0:j1].T.tolist(), strict=True
            )
            handle.write("".join(f"{t!r},{kj!r},{','.join(map(repr, xs))}\n" for t, kj, xs in rows))


def write_targets(tmp: Path, times: np.ndarray, k: np.ndarray) -> None:
    """The long layout's targets file: rows ``time, k``."""
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(TARGET_COLUMNS) + "\n")
        handle.write(
            "".join(f"{t!r},{kj!r}\n" for t, kj in zip(times.tolist(), k.tolist(), strict=True))
        )
