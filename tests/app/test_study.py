"""Study files, their plan and a run on the embedded cluster: what is checked, what is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from pathfit.app.study import (
    EXAMPLES,
    example_study,
    parse_study,
    read_results,
    read_study,
    run_study,
    runner,
)
from pathfit.app.study.compute import compute_chunk
from pathfit.app.study.plan import plan_chunks
from pathfit.exceptions import InputError

SMALL = {
    "seed": 5,
    "sampling": {"n_paths": 20, "n_times": 100},
    "target": {"noise_std": 0.05},
    "methods": {"least_squares": {"interval": "classical"}},
    "study": {"replicates": 6, "methods": ["least_squares", "gradient"], "chunk_seconds": 0.02},
    "grid": {"sampling.n_paths": [10, 20], "study.noise": ["iid", "population"]},
}


def test_cells_are_every_combination_with_their_own_config():
    study = parse_study(SMALL)
    assert study.axes == ["sampling.n_paths", "study.noise"]
    assert [c.values for c in study.cells] == [
        {"sampling.n_paths": 10, "study.noise": "iid"},
        {"sampling.n_paths": 10, "study.noise": "population"},
        {"sampling.n_paths": 20, "study.noise": "iid"},
        {"sampling.n_paths": 20, "study.noise": "population"},
    ]
    assert [c.config.sampling.n_paths for c in study.cells] == [10, 10, 20, 20]
    assert [c.noise for c in study.cells] == ["iid", "population", "iid", "population"]
    assert len({c.key for c in study.cells}) == 4


def test_random_axes_are_drawn_reproducibly_within_their_ranges():
    data = {
        "study": {"replicates": 2},
        "random": {
            "n": 50,
            "seed": 9,
            "sampling.n_paths": {"low": 10, "high": 1000, "scale": "log", "integer": True},
            "sampling.horizon": {"low": 1.0, "high": 5.0},
        },
    }
    first, again = parse_study(data), parse_study(data)
    assert [c.values for c in first.cells] == [c.values for c in again.cells]
    n_paths = [c.values["sampling.n_paths"] for c in first.cells]
    horizons = [c.values["sampling.horizon"] for c in first.cells]
    assert all(isinstance(n, int) and 10 <= n <= 1000 for n in n_paths)
    assert all(1.0 <= h <= 5.0 for h in horizons)
    assert min(n_paths) < 30 and max(n_paths) > 300  # log-uniform reaches both decades


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"grid": {"sampling.n_pats": [1]}}, 'grid."sampling.n_pats"'),
        ({"grid": {"sampling.n_paths": [10, 0]}}, 'axis "sampling.n_paths" = 0'),
        ({"grid": {"sampling.n_paths": []}}, 'grid."sampling.n_paths"'),
        ({"grid": {"methods.seed_sgd.lr": [-1.0]}}, 'axis "methods.seed_sgd.lr" = -1.0'),
        ({"grid": {"study.noise": ["pink"]}}, 'axis "study.noise"'),
        ({"study": {"replicates": 0}}, "study.replicates"),
        ({"study": {"metrics": ["speed"]}}, "study.metrics"),
        ({"study": {"methods": ["nonesuch"]}}, "study.methods"),
        ({"study": {"methods": []}}, "study.methods"),
        ({"study": {"replicates": 10**12}}, "study.replicates"),
        ({"grid": {"methods.run": [["least_squares"]]}}, 'grid."methods.run"[0]'),
        ({"random": {"n": 10**9, "sampling.horizon": {"low": 1, "high": 2}}}, "grid and random"),
        ({"sampling": {"n_paths": "many"}}, "sampling.n_paths"),
        ({"random": {"n": 3, "sampling.horizon": {"low": 2, "high": 1}}}, "random"),
        ({"random": {"n": 0, "sampling.horizon": {"low": 1, "high": 2}}}, "random.n"),
    ],
)
def test_a_bad_study_is_one_input_error_naming_the_field(change, named):
    data = json.loads(json.dumps(SMALL))
    for table, value in change.items():
        data[table] = value if table in ("grid", "random") else {**data.get(table, {}), **value}
    with pytest.raises(InputError) as err:
        parse_study(data, source="s.toml")
    assert named in err.value.field, err.value.field
    assert err.value.field.startswith("s.toml")


def test_the_examples_parse_and_plan_as_their_comments_say():
    sizes = {"stability": (400, 20000), "coverage": (90, 18000), "scaling": (1, 10000)}
    import tomllib

    for name in EXAMPLES:
        study = parse_study(tomllib.loads(example_study(name)), source=name)
        chunks = plan_chunks(study)
        cells, replicates = sizes[name]
        assert len(study.cells) == cells
        assert sum(len(u.replicates) for c in chunks for u in c.units) == replicates
    with pytest.raises(InputError, match="example"):
        example_study("nonesuch")


def test_chunk_keys_and_seeds_are_stable_and_follow_what_they_depend_on():
    keys = [c.key for c in plan_chunks(parse_study(SMALL))]
    assert keys == [c.key for c in plan_chunks(parse_study(SMALL))]
    other_seed = {**SMALL, "seed": 6}
    assert not set(keys) & {c.key for c in plan_chunks(parse_study(other_seed))}
    # a cell keeps its seeds (and so its chunks) when another axis value is added
    wider = json.loads(json.dumps(SMALL))
    wider["grid"]["sampling.n_paths"] = [10, 20, 40]
    assert set(keys) <= {c.key for c in plan_chunks(parse_study(wider))}


def test_a_chunk_computed_twice_gives_the_same_rows():
    chunk = plan_chunks(parse_study(SMALL))[0]
    assert compute_chunk(chunk).drop(["seconds"]).equals(compute_chunk(chunk).drop(["seconds"]))


def test_embedded_cluster_run_resume_and_refusals(tmp_path: Path):
    study = parse_study(SMALL, source="small")
    folder = tmp_path / "out"
    run = run_study(study, folder, workers=2)
    assert (run.computed, run.skipped, run.workers) == (len(plan_chunks(study)), 0, 2)
    table = read_results(folder)
    assert table.num_rows == 4 * 6 * 2 == run.rows
    # one dataset for pyarrow (and so pandas and DuckDB) straight from the folder
    assert ds.dataset(str(folder / "parts"), format="parquet").to_table().num_rows == 24 * 2
    rows = table.to_pylist()
    assert {r["method"] for r in rows} == {"least_squares", "gradient"}
    assert all(r["noise"] == r["study.noise"] for r in rows)
    assert all(r["truth"] == 0.25 for r in rows)
    # least squares is batched (classical), the gradient fit replicate by replicate (auto)
    assert {r["interval"] for r in rows if r["method"] == "least_squares"} == {"classical"}
    # again: refused without --resume; with it nothing is computed
    with pytest.raises(InputError, match="--resume"):
        run_study(study, folder, workers=1)
    again = run_study(study, folder, workers=1, resume=True)
    assert (again.computed, again.skipped) == (0, run.computed)
    assert [r["computed"] for r in read_study(folder)["runs"]] == [run.computed, 0]
    # overwriting the same study computes it again and keeps the earlier runs' records
    third = run_study(study, folder, workers=1, overwrite=True)
    assert (third.computed, third.skipped) == (run.computed, 0)
    assert [r["workers"] for r in read_study(folder)["runs"]] == [2, 0, 1]  # 0: was complete
    with pytest.raises(InputError, match="--overwrite"):
        run_study(study, folder, workers=1, overwrite=True, resume=True)
    # another study may not resume this one
    other = parse_study({**SMALL, "seed": 6}, source="other")
    with pytest.raises(InputError, match="different study"):
        run_study(other, folder, workers=1, resume=True)
    # a folder with other files is refused; --workers with --scheduler too
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        run_study(study, stray, workers=1)
    assert (stray / "notes.txt").read_text() == "mine"
    with pytest.raises(InputError, match="--workers"):
        run_study(study, tmp_path / "x", scheduler="tcp://127.0.0.1:1", workers=2)


def test_an_unreachable_scheduler_is_an_input_error_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(InputError, match="--scheduler"):
        run_study(parse_study(SMALL), tmp_path / "out", scheduler="tcp://127.0.0.1:1")
    assert not (tmp_path / "out").exists()
