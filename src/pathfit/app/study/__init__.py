"""Studies: many configurations x replicates, computed on Dask, kept as Parquet shards.

``load_study`` reads a study file (a base config plus ``[study]``, ``[grid]``, ``[random]``),
``run_study`` computes it (resumable), ``read_results`` returns its rows as one table and
``example_study`` the text of a commented example file.
"""

from __future__ import annotations

from importlib.resources import files

from pathfit.app.study.runner import StudyRun, read_results, read_study, run_study
from pathfit.app.study.spec import METRICS, Study, load_study, parse_study

EXAMPLES = ("stability", "coverage", "scaling")
"""The example studies ``pathfit study example`` prints."""


def example_study(name: str) -> str:
    """The text of example study ``name`` (one of EXAMPLES): a complete, commented file."""
    from pathfit.exceptions import InputError

    if name not in EXAMPLES:
        raise InputError("example", repr(name), " or ".join(EXAMPLES))
    return (files("pathfit.app.study") / "examples" / f"{name}.toml").read_text(encoding="utf-8")


__all__ = [
    "EXAMPLES",
    "METRICS",
    "Study",
    "StudyRun",
    "example_study",
    "load_study",
    "parse_study",
    "read_results",
    "read_study",
    "run_study",
]
