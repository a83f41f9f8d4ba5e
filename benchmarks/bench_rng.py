"""Issue 15's figures: the counter-based normal generator against NumPy, side by side in one run.

Three measures, each candidate timed in turn repeat after repeat (``time_interleaved``, the
harness's one timer), so that load from elsewhere falls on all of them alike:

1. simulate + design throughput (million path-points per second) of the seed's job (ABM,
   s_j = (1/n) sum_i x_ij^2, sorted random times drawn in every call) at the seed's size and
   at >= 1e7 points: ``numpy`` (the plain NumPy job, one thread), ``pathfit`` (the default
   "philox" stream: the compiled pass, on ``--threads`` threads), ``pathfit_legacy`` (the
   earlier PCG64/ziggurat stream and torch reduction, the same threads), ``normals_only`` (the
   "philox" stream's normals alone, drawn tile by tile on the same threads and discarded: the
   generator's own rate) and ``numpy_normals`` (``standard_normal`` alone). Ratios:
   pathfit / numpy (target >= 4 at >= 1e7 points, >= 2 at 100 x 1000) and pathfit /
   normals_only (target >= 0.7).
2. batched least-squares fits per second of the default size (100 x 1000), simulation
   included (``simulate_designs`` + ``batched_least_squares``), on each stream (target >= 2000
   per second on 2 cores).
3. cold start, in fresh processes: the first simulation after ``import pathfit`` at 100 x 1000
   (torch operators draw a process's first 2^21 normals: numba is not loaded) and at
   1000 x 10000 with numba's on-disk cache warm (numba imported, the kernel loaded) and empty
   (the kernel compiled); the whole ``pathfit run`` with the cache warm.

Usage:
    .venv/bin/python benchmarks/bench_rng.py [--quick] [--threads N] [--json PATH]

The machine's load average is printed before and after: figures from a loaded machine are
ratios first, rates second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from pathfit import _philox
from pathfit.app.bench._pipelines import HORIZON, LAM, numpy_design, seed_process
from pathfit.app.bench._timing import Candidate, time_interleaved
from pathfit.design import simulate_designs, streamed_design
from pathfit.estimators.batched import batched_least_squares
from pathfit.processes import sample_times, tiling
from pathfit.processes.tiling import PATH_BLOCK, TIME_TILE

SHAPES = ((100, 1000), (1000, 10000), (2000, 10000))
QUICK_SHAPES = ((100, 1000), (1000, 10000))


def pathfit_job(rng: str, workers: int):
    process = seed_process()

    def run(n_paths: int, n_times: int, seed: int) -> torch.Tensor:
        times = sample_times(n_times, HORIZON, seed=seed)
        return streamed_design(process, n_paths, times, (2,), seed=seed, workers=workers, rng=rng)

    return run


def normals_only(workers: int):
    """The "philox" normals of every tile, drawn on the tiling engine's threads, discarded."""
    local = threading.local()

    def run(n_paths: int, n_times: int, seed: int) -> None:
        times = torch.empty(n_times, dtype=torch.float64)

        def fill(block: int, tile: int, state: None) -> None:
            width = min(TIME_TILE, n_times - tile * TIME_TILE)
            rows = min(PATH_BLOCK, n_paths - block * PATH_BLOCK)
            buffers = local.__dict__.setdefault("buffers", {})  # one per tile shape and thread
            buffer = buffers.setdefault((rows, width), np.empty((rows, width)))
            _philox.fill_normals(seed, block * PATH_BLOCK, tile * TIME_TILE, buffer)

        for _ in tiling.map_tiles(
            n_paths, times, lambda n: None, fill, lambda b, t, v: None, workers, torch_ops=False
        ):
            pass

    return run


def throughput(shapes, threads: int, repeats: int, min_time_s: float) -> list[dict]:
    process = seed_process()
    rows = []
    for n_paths, n_times in shapes:
        # pathfit's own default for the thread count (one thread below ~1e5 points)
        workers = tiling.resolve_workers(None, n_paths, torch.empty(n_times))
        workers = min(workers, threads)
        generator = np.random.default_rng(0)

        def numpy_normals(n: int, m: int, seed: int, generator=generator) -> np.ndarray:
            return generator.standard_normal((n, m))

        jobs = {
            "numpy": lambda n, m, s: numpy_design(process, n, m, HORIZON, s),
            "pathfit": pathfit_job("philox", workers),
            "pathfit_legacy": pathfit_job("legacy", workers),
            "normals_only": normals_only(workers),
            "numpy_normals": numpy_normals,
        }
        candidates = {
            name: Candidate(
                run=lambda seed, job=job, n=n_paths, m=n_times: job(n, m, seed), threads=threads
            )
            for name, job in jobs.items()
        }
        for candidate in candidates.values():  # untimed: allocator, caches, kernels loaded
            start = time.perf_counter()
            while time.perf_counter() - start < min_time_s:
                candidate.run(0)
        timings = time_interleaved(candidates, repeats=repeats, min_time_s=min_time_s)
        points = n_paths * n_times
        rate = {name: points / t.best_s / 1e6 for name, t in timings.items()}
        median = {name: points / t.median_s / 1e6 for name, t in timings.items()}
        rows.append(
            {
                "n_paths": n_paths,
                "n_times": n_times,
                "workers": workers,
                "mpoints_per_s_best": rate,
                "mpoints_per_s_median": median,
                "pathfit_over_numpy": rate["pathfit"] / rate["numpy"],
                "pathfit_over_normals_only": rate["pathfit"] / rate["normals_only"],
                "legacy_over_numpy": rate["pathfit_legacy"] / rate["numpy"],
            }
        )
    return rows


def fits_per_second(replicates: int, threads: int, repeats: int, min_time_s: float) -> dict:
    process = seed_process()

    def batched(rng: str):
        def run(seed: int) -> object:
            seeds = [seed * replicates + r for r in range(replicates)]
            _, designs = simulate_designs(
                process,
                n_paths=100,
                n_times=1000,
                horizon=HORIZON,
                seeds=seeds,
                powers=(2,),
                workers=threads,
                rng=rng,
            )
            return batched_least_squares(designs, LAM * designs[..., 0])

        return run

    timings = time_interleaved(
        {rng: Candidate(run=batched(rng), threads=threads) for rng in ("philox", "legacy")},
        repeats=repeats,
        min_time_s=min_time_s,
    )
    return {
        "replicates": replicates,
        "fits_per_s_best": {name: replicates / t.best_s for name, t in timings.items()},
        "fits_per_s_median": {name: replicates / t.median_s for name, t in timings.items()},
    }


_FIRST_SIMULATION = (
    "import sys, time; start = time.perf_counter(); import pathfit as pf; "
    "imported = time.perf_counter(); n, m = int(sys.argv[1]), int(sys.argv[2]); "
    "pf.simulate(pf.ABM(mu=0.5), n_paths=n, n_times=m, horizon=10.0, seed=0); "
    "done = time.perf_counter(); print(imported - start, done - imported)"
)


def cold_start(repeats: int) -> dict:
    """Wall seconds of fresh processes (best of ``repeats``): the first simulation after
    ``import pathfit`` at 100 x 1000 (drawn with torch operators: numba is never loaded) and at
    1000 x 10000 (numba imported and its kernel loaded from the cache, or compiled into an
    empty one), and the whole ``pathfit run``."""
    python = sys.executable
    pathfit_cli = str(Path(python).with_name("pathfit"))

    def first_simulation(n_paths: int, n_times: int, empty_cache: bool) -> float:
        runs = []
        with tempfile.TemporaryDirectory() as cache:
            for k in range(repeats):
                env = dict(os.environ)
                if empty_cache:
                    env["NUMBA_CACHE_DIR"] = os.path.join(cache, str(k))
                out = subprocess.run(
                    [python, "-c", _FIRST_SIMULATION, str(n_paths), str(n_times)],
                    check=True, capture_output=True, text=True, env=env,
                )  # fmt: skip
                runs.append(float(out.stdout.split()[1]))
        return min(runs)

    figures: dict[str, float] = {}
    first_simulation(1000, 10000, False)  # fills the cache if it is empty
    figures["first_simulation_100x1000_s"] = first_simulation(100, 1000, False)
    figures["first_simulation_1000x10000_warm_cache_s"] = first_simulation(1000, 10000, False)
    figures["first_simulation_1000x10000_empty_cache_s"] = first_simulation(1000, 10000, True)
    figures["second_simulation_1000x10000_s"] = _in_process_second_simulation()
    if Path(pathfit_cli).exists():
        with tempfile.TemporaryDirectory() as out:
            runs = []
            for k in range(repeats):  # a fresh folder each time: run refuses to overwrite
                start = time.perf_counter()
                subprocess.run(
                    [pathfit_cli, "run", "-o", os.path.join(out, str(k))],
                    check=True,
                    capture_output=True,
                )
                runs.append(time.perf_counter() - start)
            figures["pathfit_run_s"] = min(runs)
    return figures


def _in_process_second_simulation() -> float:
    import pathfit as pf

    process = pf.ABM(mu=0.5)
    pf.simulate(process, n_paths=1000, n_times=10000, horizon=10.0, seed=0)
    start = time.perf_counter()
    pf.simulate(process, n_paths=1000, n_times=10000, horizon=10.0, seed=1)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure as JSON")
    args = parser.parse_args(argv)
    repeats, min_time_s = (3, 0.2) if args.quick else (7, 0.5)
    load_before = os.getloadavg()
    report = {
        "threads": args.threads,
        "cores": os.cpu_count(),
        "numba": _numba_version(),
        "load_average_before": load_before,
    }
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    shapes = QUICK_SHAPES if args.quick else SHAPES
    report["throughput"] = throughput(shapes, args.threads, repeats, min_time_s)
    for row in report["throughput"]:
        rate = row["mpoints_per_s_best"]
        print(
            f"{row['n_paths']} x {row['n_times']} ({row['workers']} worker(s)): "
            + ", ".join(f"{name} {value:.0f}" for name, value in rate.items())
            + f" M points/s; pathfit/numpy {row['pathfit_over_numpy']:.2f}x, "
            f"pathfit/normals_only {row['pathfit_over_normals_only']:.2f}, "
            f"legacy/numpy {row['legacy_over_numpy']:.2f}x"
        )
    replicates = 200 if args.quick else 1000
    report["fits"] = fits_per_second(replicates, args.threads, max(2, repeats - 2), min_time_s)
    fits = report["fits"]["fits_per_s_best"]
    print(
        f"batched least-squares fits of 100 x 1000, simulation included ({replicates} at once): "
        + ", ".join(f"{name} {value:.0f}/s" for name, value in fits.items())
    )
    report["cold_start"] = cold_start(1 if args.quick else 3)
    print("cold start (s): " + ", ".join(f"{k} {v:.2f}" for k, v in report["cold_start"].items()))
    report["load_average_after"] = os.getloadavg()
    after = report["load_average_after"]
    print(f"load average after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def _numba_version() -> str | None:
    try:
        import numba
    except ImportError:
        return None
    return numba.__version__


if __name__ == "__main__":
    sys.exit(main())
