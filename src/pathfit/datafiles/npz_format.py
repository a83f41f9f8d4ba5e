"""NPZ data files: the arrays ``times`` (n_times,), ``values`` (n_paths, n_times) and ``k``
(n_times,) of ``numpy.savez``, integer or floating; a NaN is a missing value."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pathfit.datafiles.layouts import first_duplicate
from pathfit.exceptions import InputError

NPZ_ARRAYS = ("times", "values", "k")


def read_arrays(path: Path, file: str, missing: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (n_times,), values (n_paths, n_times) and k (n_times,), float64, sorted by time."""
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
        _check_numbers(f"{file} {name}", numbers, name == "times", missing)
    dup = first_duplicate(times)
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


def _check_numbers(where: str, numbers: np.ndarray, required: bool, missing: str) -> None:
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


def write_arrays(tmp: Path, times: np.ndarray, values: np.ndarray, k: np.ndarray) -> None:
    """The three arrays, uncompressed (``numpy.savez``)."""
    with open(tmp, "wb") as handle:  # a file object: numpy adds no ".npz" to it
        np.savez(handle, times=times, values=values, k=k)
