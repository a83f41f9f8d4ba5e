"""Data files: exact round trips in every format and layout, and one clear error per bad file.

Every error is a pathfit.InputError whose one-line message names the file, the line (CSV), row
(Parquet) or index (NPZ), the column and the value found; the tests check those words.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import pathfit as pf
from pathfit.datafiles import Dataset, csv_format, layouts, read_dataset, write_dataset

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"
FORMATS = [("csv", "long"), ("csv", "wide"), ("parquet", "long"), ("parquet", "wide"), ("npz", "")]


@pytest.fixture(scope="module")
def data() -> tuple[pf.Paths, pf.Targets]:
    """Four ABM paths at seven random times; noisy targets, so k carries digits of its own."""
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=4, n_times=7, horizon=10.0, seed=0)
    return paths, pf.make_targets(paths, pf.targets.ConstantLam(0.25), noise_std=0.01, seed=1)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _write_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(pf.InputError) as info:
        read_dataset(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


def _assert_same(read: Dataset, paths: pf.Paths, targets: pf.Targets) -> None:
    assert read.paths.values.dtype == torch.float64
    assert torch.equal(read.paths.values, paths.values.to(torch.float64))
    assert torch.equal(read.paths.times, paths.times.to(torch.float64))
    assert torch.equal(read.targets.values, targets.values.to(torch.float64))
    assert torch.equal(read.targets.times, paths.times.to(torch.float64))


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "layout"), FORMATS)
def test_round_trip_is_exact(tmp_path, data, fmt, layout):
    paths, targets = data
    path = tmp_path / f"data.{fmt}"
    kwargs = {"layout": layout} if layout else {}
    written = write_dataset(path, paths, targets, truth={"lam": 0.25, "mu": 0.5}, **kwargs)

    expected = [path]
    if layout == "long":
        expected.append(tmp_path / f"data.targets.{fmt}")
    expected.append(tmp_path / "data.truth.json")
    assert written == expected
    assert sorted(tmp_path.iterdir()) == sorted(expected)  # no temporary left behind

    read = read_dataset(path)
    _assert_same(read, paths, targets)
    assert read.truth == {"lam": 0.25, "mu": 0.5}
    assert read.source == str(path)
    assert read.omitted_times == 0
    assert read.targets.noise_std is None


@pytest.mark.parametrize(("fmt", "layout"), FORMATS)
def test_round_trip_in_small_blocks(tmp_path, data, monkeypatch, fmt, layout):
    # Blocks of one row or a few: every block boundary of the writers and readers is crossed.
    monkeypatch.setattr(layouts, "BATCH_ROWS", 1)
    paths, targets = data
    path = tmp_path / f"data.{fmt}"
    write_dataset(path, paths, targets, **({"layout": layout} if layout else {}))
    if fmt == "parquet" and layout == "long":
        assert pq.ParquetFile(path).metadata.num_row_groups > 1
    read = read_dataset(path)
    _assert_same(read, paths, targets)
    assert read.truth is None


def test_csv_floats_are_written_at_repr_precision(tmp_path, data):
    paths, targets = data
    write_dataset(tmp_path / "data.csv", paths, targets)
    lines = (tmp_path / "data.csv").read_text().splitlines()
    assert lines[0] == "path,time,value"
    assert lines[1] == f"0,{paths.times[0].item()!r},{paths.values[0, 0].item()!r}"
    targets_lines = (tmp_path / "data.targets.csv").read_text().splitlines()
    assert targets_lines[:2] == [
        "time,k",
        f"{paths.times[0].item()!r},{targets.values[0].item()!r}",
    ]


def test_float32_data_reads_back_as_the_same_numbers_in_float64(tmp_path, data):
    paths, targets = data
    paths32 = pf.Paths(values=paths.values.float(), times=paths.times.float())
    targets32 = pf.Targets(values=targets.values.float(), times=paths.times.float())
    write_dataset(tmp_path / "data.csv", paths32, targets32)
    _assert_same(read_dataset(tmp_path / "data.csv"), paths32, targets32)


def test_rewriting_without_truth_removes_the_old_truth(tmp_path, data):
    paths, targets = data
    write_dataset(tmp_path / "data.csv", paths, targets, truth={"lam": 0.25})
    written = write_dataset(tmp_path / "data.csv", paths, targets)
    assert written == [tmp_path / "data.csv", tmp_path / "data.targets.csv"]
    assert not (tmp_path / "data.truth.json").exists()
    assert read_dataset(tmp_path / "data.csv").truth is None


def test_rewriting_wide_removes_the_old_targets_file(tmp_path, data):
    paths, targets = data
    write_dataset(tmp_path / "data.parquet", paths, targets)
    write_dataset(tmp_path / "data.parquet", paths, targets, layout="wide")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet"]
    _assert_same(read_dataset(tmp_path / "data.parquet"), paths, targets)


def test_truth_accepts_numpy_and_torch_scalars(tmp_path, data):
    paths, targets = data
    truth = {"lam": np.float64(0.25), "coef": torch.tensor([0.1, 0.05], dtype=torch.float64)}
    write_dataset(tmp_path / "data.npz", paths, targets, truth=truth)
    assert read_dataset(tmp_path / "data.npz").truth == {"lam": 0.25, "coef": [0.1, 0.05]}


# --- unsorted rows ----------------------------------------------------------------------------

# Two paths at times 0.5, 1.0, 2.0, with x = 10 * path + time, and k = time / 10.
X = np.array([[0.5, 1.0, 2.0], [10.5, 11.0, 12.0]])
TIMES = np.array([0.5, 1.0, 2.0])
K = TIMES / 10


def _assert_sorted_grid(read: Dataset) -> None:
    assert torch.equal(read.paths.values, torch.from_numpy(X))
    assert torch.equal(read.paths.times, torch.from_numpy(TIMES))
    assert torch.equal(read.targets.values, torch.from_numpy(K))


def test_unsorted_long_csv_is_sorted_by_time(tmp_path):
    _write_files(
        tmp_path,
        {
            "data.csv": "path,time,value\n"
            "p,2.0,2.0\nq,1.0,11.0\np,0.5,0.5\nq,2.0,12.0\np,1.0,1.0\nq,0.5,10.5\n",
            "data.targets.csv": "time,k\n1.0,0.1\n2.0,0.2\n0.5,0.05\n",
        },
    )
    _assert_sorted_grid(read_dataset(tmp_path / "data.csv"))


def test_unsorted_wide_csv_with_columns_in_any_order_is_sorted(tmp_path):
    _write_files(
        tmp_path,
        {"data.csv": "p,time,q,k\n2.0,2.0,12.0,0.2\n0.5,0.5,10.5,0.05\n1.0,1.0,11.0,0.1\n"},
    )
    _assert_sorted_grid(read_dataset(tmp_path / "data.csv"))


def test_unsorted_npz_is_sorted(tmp_path):
    order = [2, 0, 1]
    np.savez(tmp_path / "data.npz", times=TIMES[order], values=X[:, order], k=K[order])
    _assert_sorted_grid(read_dataset(tmp_path / "data.npz"))


def test_unsorted_parquet_in_several_row_groups_reads_back(tmp_path, monkeypatch):
    monkeypatch.setattr(layouts, "BATCH_ROWS", 2)
    table = pa.table(
        {
            "path": ["q", "p", "q", "p", "q", "p"],
            "time": [2.0, 1.0, 0.5, 2.0, 1.0, 0.5],
            "value": [12.0, 1.0, 10.5, 2.0, 11.0, 0.5],
        }
    )
    pq.write_table(table, tmp_path / "data.parquet", row_group_size=3)
    pq.write_table(
        pa.table({"time": [2.0, 0.5, 1.0], "k": [0.2, 0.05, 0.1]}),
        tmp_path / "data.targets.parquet",
    )
    assert pq.ParquetFile(tmp_path / "data.parquet").metadata.num_row_groups == 2

    read = read_dataset(tmp_path / "data.parquet")
    # paths in the order their labels first appear: q, then p
    assert torch.equal(read.paths.values, torch.from_numpy(X[::-1].copy()))
    assert torch.equal(read.paths.times, torch.from_numpy(TIMES))
    assert torch.equal(read.targets.values, torch.from_numpy(K))


def test_csv_from_a_spreadsheet_reads(tmp_path):
    # a byte-order mark, CRLF line ends, blanks around cells and a blank last line
    text = (
        "\ufefftime , k,a,b\r\n 0.5,0.05, 0.5 ,10.5\r\n1.0,0.1,1.0,11.0\r\n2.0,0.2,2.0,12.0\r\n\r\n"
    )
    (tmp_path / "data.csv").write_bytes(text.encode("utf-8"))
    _assert_sorted_grid(read_dataset(tmp_path / "data.csv"))


# --- missing values ---------------------------------------------------------------------------

LONG = "path,time,value\n"
TARGETS = "time,k\n0.5,0.05\n1.0,0.1\n2.0,0.2\n"


def test_omit_drops_the_times_with_a_missing_value_or_target(tmp_path):
    _write_files(
        tmp_path,
        {
            "data.csv": LONG + "a,0.5,1.5\na,1.0,\na,2.0,2.0\na,3.0,3.5\n"
            "b,0.5,0.5\nb,1.0,1.0\nb,2.0,2.5\nb,3.0,NA\n",
            "data.targets.csv": "time,k\n0.5,0.05\n1.0,0.1\n2.0,nan\n3.0,0.3\n",
        },
    )
    read = read_dataset(tmp_path / "data.csv", missing="omit")
    assert read.omitted_times == 3
    assert read.paths.times.tolist() == [0.5]
    assert read.paths.values.tolist() == [[1.5], [0.5]]
    assert read.targets.values.tolist() == [0.05]


def test_omit_in_the_wide_layout(tmp_path):
    _write_files(
        tmp_path,
        {
            "data.csv": "time,k,a,b\n2.0,0.2,2.0,12.0\n0.5,,0.5,10.5\n"
            "1.0,0.1,1.0,11.0\n3.0,0.3,null,13\n"
        },
    )
    read = read_dataset(tmp_path / "data.csv", missing="omit")
    assert read.omitted_times == 2
    assert read.paths.times.tolist() == [1.0, 2.0]
    assert read.paths.values.tolist() == [[1.0, 2.0], [11.0, 12.0]]
    assert read.targets.values.tolist() == [0.1, 0.2]


def test_omit_with_parquet_nulls_and_nans(tmp_path):
    pq.write_table(
        pa.table(
            {
                "time": [0.5, 1.0, 2.0],
                "k": [0.05, None, 0.2],
                "a": [0.5, 1.0, float("nan")],
                "b": [10.5, 11.0, 12.0],
            }
        ),
        tmp_path / "data.parquet",
    )
    message = _error(tmp_path / "data.parquet")
    assert "data.parquet row 2, column 'k': expected a value" in message
    read = read_dataset(tmp_path / "data.parquet", missing="omit")
    assert read.omitted_times == 2
    assert read.paths.values.tolist() == [[0.5], [10.5]]


def test_omit_with_npz_nans(tmp_path):
    values = X.copy()
    values[1, 2] = np.nan
    np.savez(tmp_path / "data.npz", times=TIMES, values=values, k=K)
    assert "data.npz values[1, 2]: expected a value" in _error(tmp_path / "data.npz")
    read = read_dataset(tmp_path / "data.npz", missing="omit")
    assert read.omitted_times == 1
    assert torch.equal(read.paths.values, torch.from_numpy(X[:, :2].copy()))


def test_omit_that_leaves_nothing_says_so(tmp_path):
    _write_files(tmp_path, {"data.csv": "time,k,a,b\n0.5,,1,2\n1.0,0.1,,3\n"})
    message = _error(tmp_path / "data.csv", missing="omit")
    assert "no time left after omitting 2 with missing values" in message


def test_unknown_missing_policy(tmp_path):
    assert "missing: expected one of 'raise', 'omit', found 'drop'" in _error(
        tmp_path / "data.csv", missing="drop"
    )


# --- one error per bad CSV file ---------------------------------------------------------------

WIDE = "time,k,a,b\n"
GOOD_LONG = LONG + "a,0.5,1\na,1.0,2\na,2.0,3\nb,0.5,4\nb,1.0,5\nb,2.0,6\n"

CSV_CASES = {
    "empty value": (
        {"data.csv": LONG + "a,0.5,1\na,1.0,\n", "data.targets.csv": TARGETS},
        ["data.csv line 3, column 'value'", "found an empty cell", "missing='omit'"],
    ),
    "NaN value": (
        {"data.csv": WIDE + "0.5,0.05,1,2\n1.0,0.1,NaN,3\n"},
        ["data.csv line 3, column 'a'", "found 'NaN'"],
    ),
    "missing target": (
        {"data.csv": GOOD_LONG, "data.targets.csv": "time,k\n0.5,0.05\n1.0,\n2.0,0.2\n"},
        ["data.targets.csv line 3, column 'k'", "found an empty cell"],
    ),
    "missing time": (
        {"data.csv": WIDE + "0.5,0.05,1,2\n,0.1,2,3\n"},
        ["data.csv line 3, column 'time'", "cannot be omitted", "found an empty cell"],
    ),
    "missing path label": (
        {"data.csv": LONG + "a,0.5,1\n,1.0,2\n"},
        ["data.csv line 3, column 'path'", "found an empty cell"],
    ),
    "non-numeric": (
        {"data.csv": GOOD_LONG.replace("b,1.0,5", "b,1.0,five"), "data.targets.csv": TARGETS},
        ["data.csv line 6, column 'value'", "expected a number", "found 'five'"],
    ),
    "non-numeric after a blank line": (
        {"data.csv": WIDE + "0.5,0.05,1,2\n\n\n1.0,0.1,2,x3\n"},
        ["data.csv line 5, column 'b'", "found 'x3'"],
    ),
    "infinite": (
        {"data.csv": WIDE + "0.5,0.05,1,-inf\n"},
        ["data.csv line 2, column 'b'", "expected a finite number", "found '-inf'"],
    ),
    "duplicated path and time": (
        {"data.csv": GOOD_LONG + "a,1.0,7\n", "data.targets.csv": TARGETS},
        ["data.csv lines 3 and 8", "path 'a' at time 1.0 twice"],
    ),
    "target at a time with no paths": (
        {"data.csv": GOOD_LONG, "data.targets.csv": TARGETS + "1.5,0.15\n"},
        ["data.targets.csv line 5, column 'time'", "a target at time 1.5, where no path"],
    ),
    "path time with no target": (
        {"data.csv": GOOD_LONG, "data.targets.csv": "time,k\n0.5,0.05\n2.0,0.2\n"},
        ["data.csv line 3, column 'time'", "time 1.0 with no target in", "data.targets.csv"],
    ),
    "duplicated target": (
        {"data.csv": GOOD_LONG, "data.targets.csv": TARGETS + "1.0,0.1\n"},
        ["data.targets.csv lines 3 and 5", "time 1.0 twice"],
    ),
    "single path": (
        {"data.csv": "time,k,a\n0.5,0.05,1\n1.0,0.1,2\n"},
        ["data.csv: expected at least 2 paths, found n_paths = 1"],
    ),
    "no path at all": (
        {"data.csv": "time,k\n0.5,0.05\n"},
        ["expected at least 2 paths, found n_paths = 0"],
    ),
    "constant data": (
        {"data.csv": WIDE + "0.5,0.05,1.5,1.5\n1.0,0.1,1.5,1.5\n"},
        ["data.csv: expected path values that vary", "every path value equal to 1.5"],
    ),
    "incomplete grid": (
        {"data.csv": LONG + "a,0.5,1\na,1.0,2\nb,0.5,3\n", "data.targets.csv": TARGETS},
        ["data.csv: expected every path observed at the same times", "path 'b' at time 1.0"],
    ),
    "duplicated time in the wide layout": (
        {"data.csv": WIDE + "0.5,0.05,1,2\n1.0,0.1,2,3\n0.5,0.05,3,4\n"},
        ["data.csv lines 2 and 4", "time 0.5 twice"],
    ),
    "no rows": ({"data.csv": WIDE}, ["expected at least one observation time"]),
    "empty file": ({"data.csv": ""}, ["data.csv: expected a header line", "an empty file"]),
    "misspelled column": (
        {"data.csv": "path,time,val\na,0.5,1\n"},
        [
            "data.csv header: expected the columns path, time, value (long layout) or time, k",
            "found columns path, time, val",
        ],
    ),
    "k in the long layout": (
        {"data.csv": "path,time,value,k\na,0.5,1,0.1\n"},
        ["its targets go in data.targets.csv", "found columns path, time, value, k"],
    ),
    "targets file without k": (
        {"data.csv": GOOD_LONG, "data.targets.csv": "time,lam\n0.5,0.05\n"},
        ["data.targets.csv header: expected the columns time, k", "found columns time, lam"],
    ),
    "no targets file": (
        {"data.csv": GOOD_LONG},
        ["data.csv: expected the long layout's targets in data.targets.csv", "found no file"],
    ),
    "short row": (
        {"data.csv": WIDE + "0.5,0.05,1,2\n1.0,0.1,2\n"},
        ["data.csv line 3: expected 4 cells, one per column (time, k, a, b), found 3 cells"],
    ),
    "duplicated column": (
        {"data.csv": "time,k,a,a\n0.5,0.05,1,2\n"},
        ["data.csv header: expected distinct column names, found column 'a' twice"],
    ),
    "truth that is not JSON": (
        {"data.csv": WIDE + "0.5,0.05,1,2\n", "data.truth.json": '{"lam": 0.25,\n}'},
        [
            "data.truth.json line 2: expected a JSON object of the true parameters, "
            "found invalid JSON"
        ],
    ),
    "truth that is not an object": (
        {"data.csv": WIDE + "0.5,0.05,1,2\n", "data.truth.json": "[0.25]"},
        ["data.truth.json: expected a JSON object of the true parameters, found an array"],
    ),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_bad_csv_gives_one_line_naming_where(tmp_path, case):
    files, words = CSV_CASES[case]
    _write_files(tmp_path, files)
    message = _error(tmp_path / "data.csv", missing="omit" if case == "missing time" else "raise")
    for word in words:
        assert word in message


def test_unknown_extension(tmp_path):
    (tmp_path / "data.txt").write_text("time,k,a,b\n")
    assert "data.txt: expected a .csv, .parquet or .npz file, found the extension '.txt'" in _error(
        tmp_path / "data.txt"
    )


def test_missing_file(tmp_path):
    assert f"{tmp_path / 'data.parquet'}: expected an existing data file, found no such file" in (
        _error(tmp_path / "data.parquet")
    )


# --- Parquet and NPZ errors -------------------------------------------------------------------


def _parquet(file: Path, **columns: list) -> Path:
    pq.write_table(pa.table(columns), file)
    return file


def test_parquet_errors_name_the_row_and_column(tmp_path):
    path = tmp_path / "data.parquet"
    _parquet(
        path, path=["a", "a", "b", "b"], time=[0.5, 1.0, 0.5, 1.0], value=[1.0, None, 3.0, 4.0]
    )
    _parquet(tmp_path / "data.targets.parquet", time=[0.5, 1.0], k=[0.1, 0.2])
    assert "data.parquet row 2, column 'value': expected a value" in _error(path)

    _parquet(path, path=[1, 2, 1, 2], time=["0.5", "1.0", "x", "0.5"], value=[1.0, 2.0, 3.0, 4.0])
    assert "data.parquet row 3, column 'time': expected a number, found 'x'" in _error(path)

    _parquet(path, path=[1, 2, 1, 1], time=[0.5, 0.5, 1.0, 0.5], value=[1.0, 2.0, 3.0, 4.0])
    assert "data.parquet rows 1 and 4: expected one row per path and time" in _error(path)

    _parquet(path, path=[1.0, 2.0], time=[0.5, 0.5], value=[1.0, 2.0])
    assert "data.parquet row 1, column 'path': expected integer or string path labels" in _error(
        path
    )

    _parquet(path, path=[1, 2], time=[0.5, 0.5], value=[True, False])
    assert "data.parquet row 1, column 'value': expected a number, found True" in _error(path)

    _parquet(path, path=["a", None], time=[0.5, 0.5], value=[1.0, 2.0])
    assert "data.parquet row 2, column 'path'" in _error(path)

    _parquet(path, path=["a", "b"], t=[0.5, 0.5], value=[1.0, 2.0])
    message = _error(path)
    assert "data.parquet schema: expected the long layout's columns path, time, value" in message
    assert "found columns path, t, value" in message

    path.write_bytes(b"not a parquet file")
    assert "data.parquet: expected a Parquet file, found an unreadable file" in _error(path)


def test_npz_errors_name_the_array_and_index(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, times=TIMES, values=X)
    assert "data.npz: expected the arrays times, values, k, found arrays times, values" in _error(
        path
    )

    np.savez(path, times=TIMES, values=X[:, :2], k=K)
    assert "data.npz array 'values': expected shape (2, 3), found shape (2, 2)" in _error(path)

    np.savez(path, times=TIMES, values=X * np.array([1, np.inf, 1]), k=K)
    assert "data.npz values[0, 1]: expected a finite number, found inf" in _error(path)

    np.savez(path, times=np.array([0.5, np.nan, 2.0]), values=X, k=K)
    assert "data.npz times[1]: expected a time" in _error(path, missing="omit")

    np.savez(path, times=np.array([0.5, 1.0, 0.5]), values=X, k=K)
    assert "data.npz times[0] and times[2]: expected distinct observation times" in _error(path)

    np.savez(path, times=TIMES, values=X.astype(str), k=K)
    assert "data.npz array 'values': expected a 2-d array of real numbers" in _error(path)

    with open(path, "wb") as handle:
        np.save(handle, X)
    assert "data.npz: expected an .npz file from numpy.savez, found a single .npy array" in (
        _error(path)
    )


# --- writing: all or nothing ------------------------------------------------------------------


def test_write_into_a_folder_that_is_a_file_leaves_nothing(tmp_path, data):
    paths, targets = data
    (tmp_path / "plain").write_text("a file\n")
    before = _files(tmp_path)
    with pytest.raises(pf.InputError, match="expected a file path that can be written"):
        write_dataset(tmp_path / "plain" / "data.csv", paths, targets, truth={"lam": 0.25})
    assert _files(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_a_failing_write_removes_the_folders_it_made(tmp_path, data, monkeypatch):
    paths, targets = data

    def broken(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv_format, "write_targets", broken)
    with pytest.raises(
        pf.InputError, match=r"data\.targets\.csv: expected a file path that can be"
    ):
        write_dataset(tmp_path / "new" / "deeper" / "data.csv", paths, targets, truth={"lam": 1})
    assert list(tmp_path.iterdir()) == []


def test_a_companion_that_is_a_folder_stops_the_write_before_it_starts(tmp_path, data):
    paths, targets = data
    write_dataset(tmp_path / "data.csv", paths, targets)
    (tmp_path / "data.truth.json").mkdir()
    before = _files(tmp_path)
    with pytest.raises(pf.InputError, match=r"data\.truth\.json: expected a file path"):
        write_dataset(tmp_path / "data.csv", paths, targets, truth={"lam": 0.25}, layout="wide")
    assert _files(tmp_path) == before


def test_a_failing_rename_puts_the_old_files_back(tmp_path, data, monkeypatch):
    paths, targets = data
    write_dataset(tmp_path / "data.csv", paths, targets, truth={"lam": 0.25})
    before = _files(tmp_path)
    replace = os.replace

    def fail_on_the_data_file(src: object, dst: object) -> None:
        if Path(dst).name == "data.csv" and str(src).endswith(".tmp"):
            raise PermissionError(13, "Permission denied")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_the_data_file)
    scaled = pf.Paths(values=2 * paths.values, times=paths.times)
    with pytest.raises(pf.InputError, match="Permission denied"):
        write_dataset(tmp_path / "data.csv", scaled, targets, truth={"lam": 0.5})
    monkeypatch.undo()

    assert _files(tmp_path) == before  # the companions renamed first were put back
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)
    _assert_same(read_dataset(tmp_path / "data.csv"), paths, targets)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"truth": {"lam": float("nan")}}, "truth: expected JSON-safe finite values"),
        ({"truth": {"lam": object()}}, "truth: expected JSON-safe finite values"),
        ({"truth": {1: 0.25}}, "truth: expected a dict of the true parameters with string keys"),
        ({"layout": "tall"}, "layout: expected one of 'long', 'wide', found 'tall'"),
    ],
)
def test_bad_write_arguments_write_nothing(tmp_path, data, kwargs, words):
    paths, targets = data
    with pytest.raises(pf.InputError) as info:
        write_dataset(tmp_path / "data.csv", paths, targets, **kwargs)
    assert words in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_what_read_would_refuse(tmp_path, data):
    paths, targets = data
    one = pf.Paths(values=paths.values[:1], times=paths.times)
    with pytest.raises(pf.InputError, match="paths: expected at least 2 paths, found n_paths = 1"):
        write_dataset(tmp_path / "data.csv", one, targets)

    flat = pf.Paths(values=torch.ones_like(paths.values), times=paths.times)
    with pytest.raises(pf.InputError, match=r"every path value equal to 1\.0"):
        write_dataset(tmp_path / "data.npz", flat, targets)

    shifted = pf.Targets(values=targets.values, times=paths.times + 1.0)
    with pytest.raises(
        pf.InputError, match=r"targets\.times: expected targets at the paths' times"
    ):
        write_dataset(tmp_path / "data.parquet", paths, shifted)

    with pytest.raises(
        pf.InputError, match=r"data\.xlsx: expected a \.csv, \.parquet or \.npz file"
    ):
        write_dataset(tmp_path / "data.xlsx", paths, targets)
    assert list(tmp_path.iterdir()) == []


# --- the example files ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["long.csv", "wide.csv"])
def test_example_files_read_and_hold_lambda_a_quarter(name):
    read = read_dataset(EXAMPLES / name)
    assert read.paths.values.shape == (3, 5)
    assert read.paths.times.tolist() == [0.5, 1.0, 1.5, 2.0, 2.5]
    assert read.truth is None
    # built by hand so that k_j = 0.25 (1/n) sum_i x_ij^2 holds exactly
    assert torch.equal(read.targets.values, 0.25 * read.paths.mean_square())
    assert pf.LeastSquares().fit(read.paths, read.targets).lam_ == pytest.approx(0.25, rel=1e-14)


def test_example_layouts_hold_the_same_data():
    long, wide = read_dataset(EXAMPLES / "long.csv"), read_dataset(EXAMPLES / "wide.csv")
    assert torch.equal(long.paths.values, wide.paths.values)
    assert torch.equal(long.paths.times, wide.paths.times)
    assert torch.equal(long.targets.values, wide.targets.values)


def test_bytes_that_are_not_utf8_are_found_by_line(tmp_path):
    (tmp_path / "data.csv").write_bytes(b"time,k,a,b\n0.5,0.1,1,2\n1.0,0.2,\xe92,3\n")
    message = _error(tmp_path / "data.csv")
    assert "data.csv line 3: expected UTF-8 text, found the byte 0xe9" in message


# --- memory and time of large files -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_long_rows_that_each_have_their_own_path_and_time_are_refused_in_o_rows_memory(
    tmp_path, fmt
):
    # 20000 rows, each its own path and time, imply a 20000 x 20000 grid (4e8 cells: 400 MB of
    # flags before any check). The file is refused naming the first empty cell, holding memory
    # of the order of its rows: tracemalloc sees NumPy's allocations.
    import tracemalloc

    n = 20_000
    times = (np.arange(1, n + 1) / n).tolist()
    if fmt == "csv":
        lines = "".join(f"p{i},{t!r},1.0\n" for i, t in enumerate(times))
        _write_files(tmp_path, {"data.csv": LONG + lines, "data.targets.csv": "time,k\n"})
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"path": [f"p{i}" for i in range(n)], "time": times, "value": [1.0] * n})
        pq.write_table(table, tmp_path / "data.parquet")
    tracemalloc.start()
    try:
        message = _error(tmp_path / f"data.{fmt}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"found no row for path 'p0' at time {times[1]!r}" in message
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_an_incomplete_long_grid_names_its_first_empty_cell_in_path_order(tmp_path):
    # b lacks time 1.0 and a lacks time 2.0: a's comes first in the grid
    body = "a,0.5,1\na,1.0,2\nb,0.5,4\nb,2.0,6\nc,0.5,1\nc,1.0,1\nc,2.0,1\n"
    _write_files(tmp_path, {"data.csv": LONG + body, "data.targets.csv": TARGETS})
    assert "found no row for path 'a' at time 2.0" in _error(tmp_path / "data.csv")


def test_a_wide_header_of_many_columns_reads_every_column_in_order(tmp_path):
    # the columns are found by a dictionary, not by list.index per column (quadratic: 70 s for
    # 100,000 columns); this checks the mapping is right, benchmarks/ measures the time
    n = 3000
    names = ",".join(f"c{i}" for i in range(n))
    rows = "".join(f"{t},1.0," + ",".join(str(i + t) for i in range(n)) + "\n" for t in (1, 2))
    _write_files(tmp_path, {"data.csv": f"time,k,{names}\n{rows}"})
    read = read_dataset(tmp_path / "data.csv")
    assert read.paths.values.shape == (n, 2)
    assert read.paths.values[:, 0].tolist() == [float(i + 1) for i in range(n)]


@pytest.mark.parametrize(
    "text", ['{"lam": 0.25, "lam": 0.3}', '{"lam": 0.25, "mu": {"a": 1, "a": 2}}']
)
def test_a_truth_file_naming_a_key_twice_is_refused(tmp_path, text):
    # json.loads would keep the last value silently: which truth was meant is unknown
    paths = pf.simulate(pf.ABM(), n_paths=3, n_times=4, horizon=1.0, seed=0)
    targets = pf.make_targets(paths, pf.targets.ConstantLam(0.25))
    write_dataset(tmp_path / "data.csv", paths, targets)
    (tmp_path / "data.truth.json").write_text(text)
    message = _error(tmp_path / "data.csv")
    assert message.startswith(str(tmp_path / "data.truth.json"))
    assert "expected each key once, found the key 'lam' twice" in message or "'a' twice" in message
