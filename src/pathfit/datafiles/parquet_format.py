"""Parquet data files, read in record batches (the long layout is written in blocks too).

Path labels are integer or string columns; numbers are integer, floating or decimal columns,
or text parsed as the CSV reader parses it; a null is a missing value. pyarrow is imported only
when a Parquet file is read or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pathfit.datafiles import layouts
from pathfit.datafiles.layouts import Rows, Table, cell_error, column_spec
from pathfit.exceptions import InputError

if TYPE_CHECKING:
    import pyarrow as pa


def read_table(path: Path, role: Literal["data", "targets"], missing: str) -> Table:
    """The table in the Parquet file ``path``: a data file (long or wide) or a targets file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise InputError(file, f"an unreadable file ({err})", "a Parquet file") from err
    with parquet:
        names = list(parquet.schema_arrow.names)
        spec = column_spec(names, file, role, where="schema")
        n_rows = parquet.metadata.num_rows
        rows = Rows(file, "row", first=1)
        codes = np.empty(n_rows, dtype=np.int64) if spec.label is not None else None
        columns = {name: np.empty(n_rows, dtype=np.float64) for name in spec.numeric}
        index: dict[Any, int] = {}
        # columns by position: a lookup by name scans the schema, quadratic in a wide file
        at = {name: i for i, name in enumerate(names)}
        start = 0
        try:
            batches = parquet.iter_batches(batch_size=layouts.BATCH_ROWS)
            for batch in batches:
                stop = start + batch.num_rows
                if codes is not None:
                    codes[start:stop] = _labels(batch.column(at["path"]), start, rows, index)
                for name, out in columns.items():
                    out[start:stop] = _numbers(
                        batch.column(at[name]), name, start, rows, name == "time", missing
                    )
                start = stop
        except pa.ArrowException as err:
            raise InputError(file, f"an unreadable file ({err})", "a Parquet file") from err
    return Table(spec=spec, labels=list(index), codes=codes, columns=columns, rows=rows)


def _labels(column: pa.Array, start: int, rows: Rows, index: dict[Any, int]) -> np.ndarray:
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


def _numbers(
    column: pa.Array, name: str, start: int, rows: Rows, required: bool, missing: str
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
                err = cell_error(rows.at(start + i, name), text, required, missing)
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
        err = cell_error(rows.at(start + i, name), text, required, missing)
        if err is not None:
            raise err
        if np.isinf(out).any():  # a missing value came first; an inf later is still an error
            j = int(np.flatnonzero(np.isinf(out))[0])
            raise InputError(rows.at(start + j, name), repr(float(out[j])), "a finite number")
    return out


def write_long(tmp: Path, times: np.ndarray, values: np.ndarray) -> None:
    """Columns ``path`` (int64, 0, 1, ...), ``time``, ``value``, path by path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n_paths, n_times = values.shape
    schema = pa.schema([("path", pa.int64()), ("time", pa.float64()), ("value", pa.float64())])
    block = max(1, 16 * layouts.BATCH_ROWS // n_times)  # paths per block: about a million rows
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


def write_wide(tmp: Path, times: np.ndarray, values: np.ndarray, k: np.ndarray) -> None:
    """Columns ``time``, ``k`` and one per path, named 0, 1, ..."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"time": times, "k": k} | {str(i): row for i, row in enumerate(values)}
    pq.write_table(pa.table(columns), tmp)


def write_targets(tmp: Path, times: np.ndarray, k: np.ndarray) -> None:
    """The long layout's targets file: columns ``time``, ``k``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"time": times, "k": k}), tmp)
