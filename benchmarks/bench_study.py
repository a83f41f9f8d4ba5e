"""Studies on Dask: the stability example's time and frontier, Dask's overhead, and scaling.

Issue 13's targets, measured in one run:

1. The example stability study (20 lr x 20 T x 50 replicates = 20000 seed-recipe runs of the
   default size, and the guarded gradient fit on the same datasets) on the embedded cluster:
   its wall time (cluster start included), and the share of cells where "diverged in most
   replicates" agrees with lr > 2/L, and with lr > the exact per-sample frontier.
2. Dask's overhead: the scaling example (10000 least-squares fits of the default size, batched
   in chunks) through ``pathfit study run`` machinery on the embedded cluster with 1 worker,
   against the same fits in this process with the batched API (``simulate_designs`` +
   ``batched_least_squares``, one thread): the ratio of wall times.
3. Scaling: the same study with 2 workers against 1: the throughput ratio.

    .venv/bin/python benchmarks/bench_study.py [--json PATH] [--only stability overhead scaling]

Cluster start-up (about a second, plus each worker's imports) is inside every study's time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from pathfit.app.study import example_study, parse_study, read_results, run_study


def stability() -> dict[str, Any]:
    study = parse_study(tomllib.loads(example_study("stability")), source="stability")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run = run_study(study, Path(folder) / "s", workers=2)
        seconds = time.perf_counter() - start
        rows = read_results(Path(folder) / "s").to_pylist()
    cells: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["method"] == "seed_sgd":
            cells[row["cell"]].append(row)
    agree_bound = agree_frontier = 0
    guarded = [row["status"] for row in rows if row["method"] == "gradient"]
    for cell in cells.values():
        lr = cell[0]["methods.seed_sgd.lr"]
        diverged = sum(r["status"] == "diverged" for r in cell) > len(cell) / 2
        agree_bound += diverged == (lr > statistics.median(r["bound"] for r in cell))
        agree_frontier += diverged == (lr > statistics.median(r["frontier"] for r in cell))
    return {
        "seconds": seconds,
        "runs": run.rows // 2,
        "cells": len(cells),
        "agree_with_2_over_L": agree_bound / len(cells),
        "agree_with_exact_frontier": agree_frontier / len(cells),
        "guarded_converged": sum(s == "converged" for s in guarded) / len(guarded),
    }


def scaling_study(workers: int) -> tuple[float, float, int]:
    """Wall seconds (cluster start included), computing seconds and rows of the scaling
    example on ``workers`` workers."""
    study = parse_study(tomllib.loads(example_study("scaling")), source="scaling")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run = run_study(study, Path(folder) / "s", workers=workers)
        return time.perf_counter() - start, run.compute_seconds, run.rows


def in_process(replicates: int) -> float:
    """The scaling example's fits with the batched API in this process, one thread."""
    import pathfit as pf
    from pathfit.design import simulate_designs
    from pathfit.estimators.batched import batched_least_squares

    torch.set_num_threads(1)
    seeds = list(range(replicates))
    start = time.perf_counter()
    for first in range(0, replicates, 500):
        _, designs = simulate_designs(
            pf.ABM(mu=0.5, sigma=1.0),
            n_paths=100,
            n_times=1000,
            horizon=10.0,
            seeds=seeds[first : first + 500],
            powers=(2,),
            workers=1,
        )
        targets = 0.25 * designs[..., 0]
        targets = targets + 0.05 * torch.randn(targets.shape, dtype=targets.dtype)
        batched_least_squares(designs, targets)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--only",
        nargs="*",
        default=["stability", "overhead", "scaling"],
        choices=["stability", "overhead", "scaling"],
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    if "stability" in args.only:
        figures["stability"] = stability()
        print("stability example:", json.dumps(figures["stability"]), flush=True)
    if "overhead" in args.only or "scaling" in args.only:
        one, one_compute, rows = scaling_study(1)
        figures["study_1_worker"] = {"seconds": one, "compute_seconds": one_compute, "fits": rows}
        print(
            f"scaling example, 1 worker: {rows} fits in {one:.1f} s ({one_compute:.1f} s "
            "computing)",
            flush=True,
        )
    if "overhead" in args.only:
        alone = in_process(10_000)
        figures["in_process"] = {"seconds": alone}
        figures["overhead_ratio"] = one / alone
        print(f"in process, batched: {alone:.1f} s; study / in process = {one / alone:.2f}")
    if "scaling" in args.only:
        two, two_compute, _ = scaling_study(2)
        figures["study_2_workers"] = {"seconds": two, "compute_seconds": two_compute}
        figures["scaling_2_over_1"] = one / two
        figures["scaling_2_over_1_computing"] = one_compute / two_compute
        print(
            f"2 workers: {two:.1f} s ({two_compute:.1f} s computing); throughput 2 / 1 = "
            f"{one / two:.2f} ({one_compute / two_compute:.2f} computing)",
            flush=True,
        )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
