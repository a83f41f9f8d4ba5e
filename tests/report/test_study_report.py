"""The study report: its maps and their numbers, on small study folders built by hand."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pathfit.app.coverage import clopper_pearson
from pathfit.app.study import read_results
from pathfit.app.study.compute import COLUMN_TYPES
from pathfit.report.study import (
    AccuracyCurve,
    CoverageCell,
    StabilitySummary,
    Unavailable,
    accuracy_curves,
    coverage_cells,
    scaling_points,
    stability_summary,
    write_study_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LR, HORIZON = "methods.seed_sgd.lr", "sampling.horizon"
N, M, INTERVAL = "sampling.n_paths", "sampling.n_times", "methods.least_squares.interval"
TYPES = {**COLUMN_TYPES, INTERVAL: pa.string(), "study.noise": pa.string()}


def _run(workers: int, seconds: float, rows: int, computed: int, skipped: int = 0) -> dict:
    return {
        "chunks": computed + skipped,
        "computed": computed,
        "skipped": skipped,
        "rows": rows,
        "seconds": seconds,
        "workers": workers,
        "scheduler": None,
        "started": "2025-01-01T00:00:00Z",
        "finished": "2025-01-01T00:01:00Z",
    }


def make_study(
    folder: Path,
    rows: list[dict[str, Any]],
    axes: list[str],
    *,
    metrics: list[str],
    runs: list[dict] | None = None,
    shards: int = 2,
    source: str = "study.toml",
) -> Path:
    """A study folder as run_study leaves it: study.json and ``shards`` Parquet shards."""
    identity = ["chunk", "cell", "cell_key", "replicate", "seed", "method", "noise", "phi"]
    names = list(dict.fromkeys([*identity, *axes, *(k for row in rows for k in row)]))
    cells = sorted({row["cell"] for row in rows})
    document = {"study": {"replicates": 3}, "grid": {a: [] for a in axes}}
    study = {
        "schema_version": 1,
        "key": "k",
        "source": source,
        "study": document,
        "axes": axes,
        "methods": sorted({row["method"] for row in rows}),
        "metrics": metrics,
        "replicates": max((row["replicate"] for row in rows), default=0) + 1,
        "cells": [
            {"index": c, "key": f"c{c}", "values": {}, "noise": "iid", "phi": None} for c in cells
        ],
        "plan": [{"key": f"part{s}", "units": []} for s in range(shards)],
        "versions": {},
        "created": "2025-01-01T00:00:00Z",
        "runs": runs if runs is not None else [_run(1, 2.0, len(rows), shards)],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.json").write_text(json.dumps(study), encoding="utf-8")
    (folder / "parts").mkdir()
    for s in range(shards):
        part = rows[s::shards]
        if not part:
            continue
        columns = {
            name: pa.array(
                [f"part{s}" if name == "chunk" else row.get(name) for row in part],
                type=TYPES.get(name, pa.float64()),
            )
            for name in names
        }
        pq.write_table(pa.table(columns), folder / "parts" / f"part{s}.parquet")
    return folder


def _row(cell: int, replicate: int, method: str, values: dict[str, Any], **metrics: Any) -> dict:
    return {
        "cell": cell,
        "cell_key": f"c{cell}",
        "replicate": replicate,
        "seed": 1000 * cell + replicate,
        "method": method,
        "noise": metrics.pop("noise", "iid"),
        "phi": metrics.pop("phi", None),
        **values,
        **metrics,
    }


# -- stability ----------------------------------------------------------------------------------

BOUND = {1.0: 0.5, 2.0: 0.2}  # 2/L per horizon; the frontier is 4 times it
STATUSES = {  # (lr, T) -> the statuses of the three replicates
    (0.01, 1.0): ["converged", "converged", "converged"],
    (0.3, 1.0): ["diverged", "diverged", "converged"],  # diverged below both lines
    (1.0, 1.0): ["diverged", "max_steps", "converged"],  # above 2/L, below the frontier: 1 of 3
    (10.0, 1.0): ["diverged", "diverged", "diverged"],
    (0.01, 2.0): ["converged", "converged", "max_steps"],
    (0.3, 2.0): ["diverged", "converged", "early_stopped"],  # above 2/L, not diverged
    (1.0, 2.0): ["diverged", "diverged", "diverged"],
    (10.0, 2.0): ["diverged", "diverged", "diverged"],
}


def stability_rows() -> list[dict]:
    rows = []
    for cell, ((lr, horizon), statuses) in enumerate(STATUSES.items()):
        values = {LR: lr, HORIZON: horizon}
        for r, status in enumerate(statuses):
            bound = BOUND[horizon] * (1 + 0.01 * (r - 1))  # median: BOUND exactly
            rows.append(
                _row(
                    cell,
                    r,
                    "seed_sgd",
                    values,
                    status=status,
                    bound=bound,
                    frontier=4 * bound,
                    abs_error=None if status == "diverged" else 0.01,
                )
            )
            rows.append(
                _row(
                    cell,
                    r,
                    "gradient",
                    values,
                    status="converged",
                    bound=None,
                    frontier=None,
                    abs_error=0.001,
                )
            )
    return rows


@pytest.fixture
def stability_folder(tmp_path: Path) -> Path:
    return make_study(
        tmp_path / "stability",
        stability_rows(),
        [LR, HORIZON],
        metrics=["abs_error", "status", "bound", "frontier"],
    )


def test_stability_agreement_equals_a_hand_count(stability_folder: Path) -> None:
    columns = read_results(stability_folder).to_pydict()
    summary = stability_summary(columns, [LR, HORIZON])
    assert isinstance(summary, StabilitySummary)
    assert len(summary.cells) == 8 and len(summary.gradient) == 8
    # By hand, from STATUSES: "diverged" (more than half) against lr > 2/L and lr > 4 (2/L).
    diverged = {key: 2 * s.count("diverged") > 3 for key, s in STATUSES.items()}
    above_bound = {key: key[0] > BOUND[key[1]] for key in STATUSES}
    above_frontier = {key: key[0] > 4 * BOUND[key[1]] for key in STATUSES}
    agree_bound = sum(diverged[k] == above_bound[k] for k in STATUSES)
    agree_frontier = sum(diverged[k] == above_frontier[k] for k in STATUSES)
    assert (agree_bound, agree_frontier) == (5, 7)  # the hand count, stated
    assert summary.by_bound.cells == summary.by_frontier.cells == 8
    assert summary.by_bound.agree == 5 and summary.by_bound.share == 5 / 8
    assert (summary.by_bound.missed, summary.by_bound.spared) == (1, 2)
    assert summary.by_frontier.agree == 7 and summary.by_frontier.share == 7 / 8
    assert (summary.by_frontier.missed, summary.by_frontier.spared) == (1, 0)
    assert summary.ratio == pytest.approx(4.0, rel=1e-12)
    assert [t for t, _ in summary.bound_line] == [t for t, _ in summary.frontier_line] == [1, 2]
    assert [b for _, b in summary.bound_line] == pytest.approx([0.5, 0.2], rel=1e-12)
    assert [f for _, f in summary.frontier_line] == pytest.approx([2.0, 0.8], rel=1e-12)
    cell = next(c for c in summary.cells if (c.lr, c.horizon) == (1.0, 1.0))
    assert cell.counts == {"diverged": 1, "slow": 1, "converged": 1}
    assert not cell.diverged
    assert {c.majority for c in summary.gradient} == {"converged"}


def test_stability_report_is_written(stability_folder: Path) -> None:
    report = write_study_report(stability_folder)
    assert report == stability_folder / "report.html"
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    png = (stability_folder / "figures" / "stability.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    assert 'id="figure-stability"' in page and "data:image/png;base64," in page
    assert "agrees with lr &gt; 2/L in 0.625 of cells (5 of 8)" in page
    assert "with lr &gt; frontier in 0.875 (7 of 8)" in page
    assert "a median 4 times 2/L" in page
    # the agreement table, in the page's header
    header = page[: page.index("</header>")]
    assert "<td>lr &gt; 2/L (curvature bound)</td><td>0.625</td><td>5 of 8</td><td>1</td>" in header
    assert (
        "<td>lr &gt; exact frontier</td><td>0.875</td><td>7 of 8</td><td>1</td><td>0</td>" in header
    )
    assert "gradient, by the majority of each cell: 8 converged of 8 cells." in page
    # no coverage here: said, in one line, and no figure
    assert "Not drawn: no covered column" in page
    assert not (stability_folder / "figures" / "coverage.png").exists()
    # the accuracy map needs a size axis, which this study does not have
    assert "Not drawn: no sampling.n_paths or sampling.n_times axis" in page
    assert sorted(p.name for p in (stability_folder / "figures").iterdir()) == [
        "scaling.png",
        "stability.png",
    ]


def test_stability_needs_seed_sgd_rows_axes_and_status(tmp_path: Path) -> None:
    rows = [r for r in stability_rows() if r["method"] == "gradient"]
    columns = read_results(
        make_study(tmp_path / "a", rows, [LR, HORIZON], metrics=["status"])
    ).to_pydict()
    assert stability_summary(columns) == Unavailable("no seed_sgd rows")
    rows = [{k: v for k, v in r.items() if k != HORIZON} for r in stability_rows()]
    columns = read_results(make_study(tmp_path / "b", rows, [LR], metrics=["status"])).to_pydict()
    assert stability_summary(columns) == Unavailable(f"no {HORIZON} axis")
    rows = [{k: v for k, v in r.items() if k != "status"} for r in stability_rows()]
    columns = read_results(
        make_study(tmp_path / "c", rows, [LR, HORIZON], metrics=["bound"])
    ).to_pydict()
    reason = stability_summary(columns)
    assert isinstance(reason, Unavailable) and reason.reason.startswith("no status recorded")


# -- coverage -----------------------------------------------------------------------------------

HITS = {  # (interval, noise, phi, n) -> intervals of 40 that held the truth
    ("classical", "iid", None, 20): 38,
    ("classical", "iid", None, 100): 39,
    ("classical", "ar1", 0.6, 20): 20,  # under-covers
    ("classical", "ar1", 0.6, 100): 25,
    ("hac", "iid", None, 20): 37,
    ("hac", "iid", None, 100): 40,
    ("hac", "ar1", 0.6, 20): 36,
    ("hac", "ar1", 0.6, 100): 38,
}
REPLICATES = 40


def coverage_rows() -> list[dict]:
    rows = []
    for cell, ((interval, noise, phi, n), hits) in enumerate(HITS.items()):
        values = {INTERVAL: interval, "study.noise": noise, N: n, M: 200}
        for r in range(REPLICATES):
            rows.append(
                _row(
                    cell,
                    r,
                    "least_squares",
                    values,
                    noise=noise,
                    phi=phi,
                    interval="hac" if interval == "auto" else interval,
                    covered=r < hits,
                    error=0.01 * (-1) ** r,
                )
            )
    return rows


def test_coverage_cells_and_their_clopper_pearson_intervals(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path / "coverage",
        coverage_rows(),
        [INTERVAL, "study.noise", N, M],
        metrics=["error", "covered", "interval"],
    )
    cells = coverage_cells(read_results(folder).to_pydict())
    assert isinstance(cells, tuple) and len(cells) == len(HITS)
    found = {(c.interval, c.noise, c.n): c for c in cells}
    for (interval, noise, phi, n), hits in HITS.items():
        label = noise if phi is None else f"{noise}, phi {phi:g}"
        cell = found[(interval, label, float(n))]
        assert isinstance(cell, CoverageCell)
        assert (cell.hits, cell.total, cell.m) == (hits, REPLICATES, 200.0)
        assert cell.coverage == hits / REPLICATES
        assert (cell.lo, cell.hi) == clopper_pearson(hits, REPLICATES, 0.95)
    assert found[("classical", "ar1, phi 0.6", 20.0)].verdict == "under-covers"
    assert found[("hac", "iid", 100.0)].verdict == "holds"

    page = write_study_report(folder).read_text(encoding="utf-8")
    assert (folder / "figures" / "coverage.png").read_bytes().startswith(PNG_MAGIC)
    for (_, _, _, _), hits in HITS.items():
        lo, hi = clopper_pearson(hits, REPLICATES, 0.95)
        assert f"<td>{hits} of {REPLICATES}</td><td>{hits / REPLICATES:.3f}</td>" in page
        assert f"<td>[{lo:.3f}, {hi:.3f}]</td>" in page
    assert "cells under-cover the nominal 0.95" in page
    assert "Not drawn: no seed_sgd rows" in page


def test_coverage_without_size_axes_collapses_to_one_cell(tmp_path: Path) -> None:
    rows = [
        _row(0, r, "least_squares", {}, interval="classical", covered=r % 4 != 0) for r in range(20)
    ]
    cells = coverage_cells(
        read_results(make_study(tmp_path / "one", rows, [], metrics=["covered"])).to_pydict()
    )
    assert isinstance(cells, tuple) and len(cells) == 1
    (cell,) = cells
    assert (cell.interval, cell.noise, cell.n, cell.m, cell.hits, cell.total) == (
        "classical",
        "iid",
        None,
        None,
        15,
        20,
    )
    assert write_study_report(tmp_path / "one").exists()
    assert (tmp_path / "one" / "figures" / "coverage.png").exists()


# -- accuracy -----------------------------------------------------------------------------------


def accuracy_rows() -> list[dict]:
    """Errors +-0.3 n^-0.5 (least squares) and +-0.1 n^-1 (gradient), so that the RMSE is
    exactly that power of n; one gradient fit without a finite error at each n."""
    rows = []
    for cell, n in enumerate((10, 100, 1000, 10000)):
        for r in range(4):
            sign = (-1) ** r
            rows.append(_row(cell, r, "least_squares", {N: n}, error=sign * 0.3 * n**-0.5))
            rows.append(_row(cell, r, "gradient", {N: n}, error=sign * 0.1 / n))
        rows.append(_row(cell, 4, "gradient", {N: n}, error=None))
    return rows


def test_accuracy_slopes_equal_a_hand_fit(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "acc", accuracy_rows(), [N], metrics=["error"])
    curves = accuracy_curves(read_results(folder).to_pydict())
    assert isinstance(curves, tuple) and len(curves) == 2
    by_method = {c.method: c for c in curves}
    ls, gradient = by_method["least_squares"], by_method["gradient"]
    assert isinstance(ls, AccuracyCurve)
    assert ls.sizes == (10.0, 100.0, 1000.0, 10000.0)
    assert ls.rmse == pytest.approx([0.3 * n**-0.5 for n in ls.sizes], rel=1e-12)
    assert ls.slope == pytest.approx(-0.5, abs=1e-9)
    assert math.exp(ls.intercept) == pytest.approx(0.3, rel=1e-9)
    assert gradient.slope == pytest.approx(-1.0, abs=1e-9)
    assert gradient.counts == (4, 4, 4, 4) and gradient.left_out == 4 and ls.left_out == 0
    # the hand fit: least squares of log RMSE on log n
    x, y = np.log(gradient.sizes), np.log(gradient.rmse)
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert gradient.slope == pytest.approx(slope, abs=1e-12)

    page = write_study_report(folder).read_text(encoding="utf-8")
    assert (folder / "figures" / "accuracy.png").read_bytes().startswith(PNG_MAGIC)
    assert "<td>least_squares</td><td>n</td><td>—</td><td>-0.5000</td>" in page
    assert "<td>gradient</td><td>n</td><td>—</td><td>-1.0000</td>" in page


def test_accuracy_splits_by_the_other_size_and_uses_abs_error(tmp_path: Path) -> None:
    rows = [
        _row(cell, r, "least_squares", {N: n, M: m}, abs_error=0.2 * n**-0.5 * m**-0.25)
        for cell, (n, m) in enumerate((n, m) for n in (10, 1000) for m in (100, 10000))
        for r in range(2)
    ]
    folder = make_study(tmp_path / "nm", rows, [N, M], metrics=["abs_error"])
    curves = accuracy_curves(read_results(folder).to_pydict())
    assert isinstance(curves, tuple)
    slopes = {(c.axis, c.other): c.slope for c in curves}
    assert slopes == pytest.approx(
        {
            (N, "m = 100"): -0.5,
            (N, "m = 10000"): -0.5,
            (M, "n = 10"): -0.25,
            (M, "n = 1000"): -0.25,
        },
        abs=1e-9,
    )


# -- scaling ------------------------------------------------------------------------------------


def test_scaling_points_and_the_one_run_note(tmp_path: Path) -> None:
    runs = [_run(1, 10.0, 1000, 20), _run(4, 4.0, 1000, 20), _run(4, 1.0, 0, 0, skipped=20)]
    points = scaling_points(runs)
    assert isinstance(points, tuple) and [p.run for p in points] == [1, 2]
    assert [p.rows_per_second for p in points] == [100.0, 250.0]
    assert [p.chunks_per_second for p in points] == [2.0, 5.0]
    assert scaling_points([]) == Unavailable("no run recorded in study.json")

    rows = [_row(0, 0, "least_squares", {}, error=0.1)]
    folder = make_study(tmp_path / "many", rows, [], metrics=["error"], runs=runs)
    page = write_study_report(folder).read_text(encoding="utf-8")
    assert "<td>100</td><td>2</td>" in page and "<td>250</td><td>5</td>" in page
    assert "1 run(s) computed nothing and are left out." in page
    one = make_study(tmp_path / "one", rows, [], metrics=["error"], runs=runs[:1])
    page = write_study_report(one).read_text(encoding="utf-8")
    assert "Only one run is recorded: one point." in page
    assert (one / "figures" / "scaling.png").read_bytes().startswith(PNG_MAGIC)


# -- folders with nothing to draw -----------------------------------------------------------------


def test_a_folder_without_shards_says_why_for_each_map(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "empty", [], [LR, HORIZON], metrics=["status"], runs=[])
    report = write_study_report(folder)
    page = report.read_text(encoding="utf-8")
    for name in ("stability", "coverage", "accuracy"):
        assert f'id="why-{name}">Not drawn: no shard in parts/ (nothing computed yet).' in page
    assert 'id="why-scaling">Not drawn: no run recorded in study.json.' in page
    assert not (folder / "figures").exists()
    assert "<img" not in page


def test_a_folder_without_usable_columns_says_why(tmp_path: Path) -> None:
    rows = [_row(0, r, "least_squares", {}) for r in range(3)]
    folder = make_study(tmp_path / "bare", rows, [], metrics=[])
    page = write_study_report(folder).read_text(encoding="utf-8")
    assert "stability: not drawn: no seed_sgd rows" in page
    assert "coverage: not drawn: no covered column" in page
    assert "accuracy: not drawn: no error or abs_error recorded" in page
    assert "scaling: drawn" in page


def test_a_map_no_longer_drawn_loses_its_figure(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path / "again",
        coverage_rows(),
        [INTERVAL, "study.noise", N, M],
        metrics=["covered"],
    )
    write_study_report(folder)
    assert (folder / "figures" / "coverage.png").exists()
    for shard in (folder / "parts").iterdir():
        shard.unlink()
    write_study_report(folder)
    assert not (folder / "figures" / "coverage.png").exists()
    assert (folder / "figures" / "scaling.png").exists()
    assert not [p for p in folder.rglob(".*")]  # no temporary file left


def test_text_is_escaped(tmp_path: Path) -> None:
    rows = [_row(0, 0, "least_squares", {}, error=0.1)]
    source = "<script>alert(1)</script>.toml"
    folder = make_study(tmp_path / "esc", rows, [], metrics=["error"], source=source)
    page = write_study_report(folder).read_text(encoding="utf-8")
    assert source not in page and escape(source) in page


def test_a_folder_that_is_not_a_study_is_refused(tmp_path: Path) -> None:
    from pathfit.exceptions import InputError

    with pytest.raises(InputError, match=r"no study\.json"):
        write_study_report(tmp_path)


@pytest.mark.slow
def test_importing_the_study_report_does_not_import_matplotlib() -> None:
    code = "import sys, pathfit.report, pathfit.report.study; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
