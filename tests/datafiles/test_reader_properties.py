"""Property tests of the data readers: any file is a dataset or one InputError, never another
exception, and every written dataset reads back exactly.

All derandomized (the same examples on every run); each file is written into a fresh
temporary folder (hypothesis and pytest's function-scoped tmp_path do not mix).

- random CSV text (250 examples): headers from the long, wide and targets layouts or random
  tokens, rows of random tokens (integers, floats with nan/inf/huge/tiny, empty fields, words,
  quotes), with a random companion targets file beside a long one, read with
  ``missing="raise"`` and ``"omit"``;
- random bytes (100 examples) named ``.npz`` or ``.parquet``, with and without the formats'
  magic numbers;
- valid NPZ and Parquet files, both layouts, with one cell replaced (150 examples): by any
  float (nan, inf, huge), a null (Parquet), or an array of another dtype or shape (NPZ);
- a valid CSV file with a random ``.truth.json`` beside it (100 examples): the truth read is
  either refused or accepted by ``spec_from_truth`` with an InputError at most;
- round trips (60 examples): random sizes (2-6 paths, 3-12 times), seeds and scales, written in
  every format and layout; ``read_dataset`` gives the same float64 values exactly and least
  squares on what was read gives the same estimate, bit for bit.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pathfit as pf
from pathfit.datafiles import read_dataset, write_dataset
from pathfit.targets import spec_from_truth

FORMATS = [("csv", "long"), ("csv", "wide"), ("parquet", "long"), ("parquet", "wide"), ("npz", "")]
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pathfit-prop-") as name:
        yield Path(name)


def _read_or_input_error(path: Path, missing: str = "raise") -> pf.datafiles.Dataset | None:
    try:
        return read_dataset(path, missing=missing)  # type: ignore[arg-type]
    except pf.InputError as err:
        message = str(err)
        assert message
        assert "\n" not in message
        return None


# --- random CSV text --------------------------------------------------------------------------

NUMBERS = (
    st.integers(min_value=-(10**30), max_value=10**30).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.sampled_from(["nan", "NaN", "inf", "-inf", "1e200", "1e308", "1e400", "-0", "5e-324"])
)
TOKENS = (
    NUMBERS
    | st.sampled_from(["", " ", "NA", "null", '"', '""', '"a,b"', "path", "time", "k", "value"])
    | st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n,"), max_size=6)
)
HEADERS = st.sampled_from(
    [
        ["path", "time", "value"],
        ["time", "k"],
        ["time", "k", "a", "b"],
        ["time", "k", "0", "1", "2"],
        ["time", "k", "a", "a"],
        ["value", "time", "path"],
    ]
) | st.lists(TOKENS, min_size=0, max_size=5)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    header = draw(HEADERS)
    width = len(header)
    rows = draw(
        st.lists(
            st.lists(TOKENS, min_size=max(width - 1, 0), max_size=width + 1)
            | st.lists(NUMBERS, min_size=width, max_size=width),
            max_size=8,
        )
    )
    lines = [",".join(header)] + [",".join(row) for row in rows]
    ending = draw(st.sampled_from(["\n", "\r\n", ""]))
    return "\n".join(lines) + ending


@settings(max_examples=250, **SETTINGS)
@given(csv_texts(), st.none() | csv_texts(), st.sampled_from(["raise", "omit"]))
def test_random_csv_is_a_dataset_or_an_input_error(
    text: str, targets_text: str | None, missing: str
) -> None:
    with _folder() as folder:
        path = folder / "d.csv"
        path.write_text(text, encoding="utf-8")
        if targets_text is not None:
            (folder / "d.targets.csv").write_text(targets_text, encoding="utf-8")
        _read_or_input_error(path, missing)


# --- random bytes -----------------------------------------------------------------------------


@settings(max_examples=100, **SETTINGS)
@given(
    st.sampled_from(["npz", "parquet", "csv"]),
    st.sampled_from([b"", b"PK\x03\x04", b"PAR1", b"\x93NUMPY"]),
    st.binary(max_size=300),
    st.booleans(),
)
def test_random_bytes_are_an_input_error(ext: str, magic: bytes, body: bytes, tail: bool) -> None:
    with _folder() as folder:
        path = folder / f"d.{ext}"
        path.write_bytes(magic + body + (b"PAR1" if tail else b""))
        _read_or_input_error(path)


# --- valid files with one cell changed ---------------------------------------------------------

FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e200, -1e300, 0.0])


def _write_valid(folder: Path, fmt: str, layout: str) -> Path:
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=3, n_times=4, horizon=1.0, seed=0)
    targets = pf.make_targets(paths, pf.targets.ConstantLam(0.25))
    path = folder / f"d.{fmt}"
    write_dataset(path, paths, targets, **({"layout": layout} if layout else {}))
    return path


@st.composite
def npz_mutations(draw: st.DrawFn) -> tuple[str, object]:
    name = draw(st.sampled_from(["times", "values", "k"]))
    kind = draw(st.sampled_from(["cell", "dtype", "shape", "drop"]))
    if kind == "cell":
        return name, ("cell", draw(st.integers(0, 11)), draw(FLOATS))
    if kind == "dtype":
        return name, ("dtype", draw(st.sampled_from(["int64", "float16", "complex128", "U3", "?"])))
    if kind == "shape":
        return name, ("shape", draw(st.lists(st.integers(0, 5), max_size=3)))
    return name, ("drop",)


@settings(max_examples=75, **SETTINGS)
@given(npz_mutations())
def test_npz_with_one_change_is_a_dataset_or_an_input_error(change: tuple[str, tuple]) -> None:
    name, (kind, *args) = change
    with _folder() as folder:
        path = _write_valid(folder, "npz", "")
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
        if kind == "cell":
            flat = arrays[name].astype(np.float64).ravel()
            flat[args[0] % flat.size] = args[1]
            arrays[name] = flat.reshape(arrays[name].shape)
        elif kind == "dtype":
            arrays[name] = arrays[name].astype(args[0])
        elif kind == "shape":
            arrays[name] = np.zeros(args[0])
        else:
            del arrays[name]
        np.savez(path, **arrays)
        _read_or_input_error(path)


@settings(max_examples=75, **SETTINGS)
@given(
    st.sampled_from(["long", "wide"]),
    st.booleans(),
    st.integers(0, 30),
    st.integers(0, 5),
    st.none() | FLOATS | st.text(max_size=4) | st.integers(-(2**63), 2**63 - 1),
    st.sampled_from(["raise", "omit"]),
)
def test_parquet_with_one_cell_changed_is_a_dataset_or_an_input_error(
    layout: str, in_targets: bool, row: int, column: int, value: object, missing: str
) -> None:
    with _folder() as folder:
        path = _write_valid(folder, "parquet", layout)
        target = folder / "d.targets.parquet" if layout == "long" and in_targets else path
        table = pq.read_table(target)
        column %= table.num_columns
        row %= table.num_rows
        cells = table.column(column).to_pylist()
        cells[row] = value
        try:
            new = pa.array(cells)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            new = pa.array([None if c is None else str(c) for c in cells])
        table = table.set_column(column, table.schema.field(column).name, new)
        pq.write_table(table, target)
        _read_or_input_error(path, missing)


# --- the truth file ---------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["lam", "coef", "lam_coef", "k_coef", "kind", "mu"])
            | st.text(max_size=4),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


@settings(max_examples=100, **SETTINGS)
@given(JSON.map(json.dumps) | st.text(max_size=20))
def test_random_truth_file_is_refused_or_understood(truth: str) -> None:
    with _folder() as folder:
        path = _write_valid(folder, "csv", "wide")
        (folder / "d.truth.json").write_text(truth, encoding="utf-8")
        data = _read_or_input_error(path)
        if data is not None:
            try:
                spec_from_truth(data.truth, source="d.truth.json")
            except pf.InputError as err:
                assert "\n" not in str(err)


# --- round trips ------------------------------------------------------------------------------


@settings(max_examples=60, **SETTINGS)
@given(
    st.integers(2, 6),
    st.integers(3, 12),
    st.integers(0, 2**32 - 1),
    st.sampled_from([1e-3, 1.0, 1e3]),
    st.floats(0.0, 0.1),
)
def test_written_data_reads_back_exactly_and_fits_the_same(
    n_paths: int, n_times: int, seed: int, scale: float, noise: float
) -> None:
    paths = pf.simulate(
        pf.ABM(mu=0.5 * scale, sigma=scale),
        n_paths=n_paths,
        n_times=n_times,
        horizon=3.0,
        seed=seed,
    )
    targets = pf.make_targets(paths, pf.targets.ConstantLam(0.25), noise_std=noise, seed=seed)
    fit = pf.LeastSquares(interval="classical").fit(paths, targets)
    with _folder() as folder:
        for fmt, layout in FORMATS:
            path = folder / f"{layout or 'npz'}.{fmt}"
            write_dataset(path, paths, targets, **({"layout": layout} if layout else {}))
            read = read_dataset(path)
            assert torch.equal(read.paths.values, paths.values.to(torch.float64))
            assert torch.equal(read.paths.times, paths.times.to(torch.float64))
            assert torch.equal(read.targets.values, targets.values.to(torch.float64))
            again = pf.LeastSquares(interval="classical").fit(read.paths, read.targets)
            assert torch.equal(again.coef_, fit.coef_), (fmt, layout)


def test_a_header_with_a_quoted_newline_is_named_on_one_line() -> None:
    """Found by the random CSV text: a quoted header name holding a newline made a two-line
    message."""
    with _folder() as folder:
        path = folder / "d.csv"
        path.write_text('",0\n0\n', encoding="utf-8")
        with pytest.raises(pf.InputError) as info:
            read_dataset(path)
        assert "\n" not in str(info.value)
        assert "found columns ',0\\n0'" in str(info.value)
