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

from pathfit.choices import Layout as Layout
from pathfit.choices import MissingPolicy as MissingPolicy
from pathfit.datafiles.dataset import FORMATS as FORMATS
from pathfit.datafiles.dataset import Dataset as Dataset
from pathfit.datafiles.dataset import check_format as check_format
from pathfit.datafiles.dataset import read_dataset as read_dataset
from pathfit.datafiles.dataset import write_dataset as write_dataset
from pathfit.datafiles.layouts import LONG_COLUMNS as LONG_COLUMNS
from pathfit.datafiles.layouts import TARGET_COLUMNS as TARGET_COLUMNS
from pathfit.datafiles.layouts import companion_paths as companion_paths
from pathfit.datafiles.npz_format import NPZ_ARRAYS as NPZ_ARRAYS

__all__ = [
    "FORMATS",
    "LONG_COLUMNS",
    "NPZ_ARRAYS",
    "TARGET_COLUMNS",
    "Dataset",
    "Layout",
    "MissingPolicy",
    "check_format",
    "companion_paths",
    "read_dataset",
    "write_dataset",
]
