"""The README's Python runs as written, and every name it shows resolves where it says."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import pytest

import pathfit as pf
from pathfit.app.study import parse_study
from pathfit.app.study.compute import compute_chunk
from pathfit.app.study.plan import plan_chunks
from pathfit.app.study.runner import write_shard

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)


def test_the_readme_has_python_to_run():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", range(len(BLOCKS)))
def test_each_python_block_runs(block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # blocks that read a study's folder ("DIR") get one: a small study's first shard
    monkeypatch.chdir(tmp_path)
    if "DIR" in BLOCKS[block]:
        study = parse_study({"sampling": {"n_paths": 5, "n_times": 20}, "study": {"replicates": 2}})
        chunk = plan_chunks(study)[0]
        write_shard(tmp_path / "DIR" / "parts" / f"{chunk.key}.parquet", compute_chunk(chunk))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        exec(compile(BLOCKS[block], f"README.md block {block}", "exec"), {})


DOTTED = sorted(set(re.findall(r"\b(?:pathfit|pf)(?:\.[A-Za-z_][A-Za-z0-9_]*)+", TEXT)))


def _resolve(name: str) -> object:
    parts = name.split(".")
    parts[0] = "pathfit"
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise AssertionError(f"{name}: no module")


@pytest.mark.parametrize("name", DOTTED)
def test_every_dotted_name_in_the_readme_resolves(name):
    assert _resolve(name) is not None
