"""Benchmarks of pathfit's core, measured side by side in one run.

1. Simulate + aggregated design: path-points per second (n_paths * n_times / seconds) of
   drawing sorted random times, simulating ABM paths at them and reducing the paths to
   s_j = (1/n) sum_i x_ij^2, for pathfit (streamed and materialized) and for plain NumPy, and
   the time of each stage (normal draws, cumulative sum, reduction) in torch and in NumPy.
2. ``pathfit run`` on its defaults: the wall time of ``run_experiment(RunConfig())`` in
   process (after import and a tiny warm-up run), its per-method wall times, and the wall time
   of a cold ``pathfit run`` subprocess, to show what start-up and import cost.

Every figure is the best (and the median) of several repeats, and the candidates of each
measurement are timed in turn within each repeat, so that the load of a shared machine falls
on all of them alike. pathfit is also timed with torch held to one intra-op thread: on a
small machine shared with other work, torch's default of one thread per core is what decides
its speed. Absolute figures only mean something on the machine that measured them.

Usage:
    .venv/bin/python benchmarks/bench_core.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import pathfit
from pathfit.app.config import RunConfig, parse_config
from pathfit.app.experiment import run_experiment
from pathfit.design import power_design, streamed_design
from pathfit.processes import ABM, sample_times

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = RunConfig()
"""The seed experiment: its process and horizon are the ones simulated in every shape."""

FULL_SHAPES: tuple[tuple[int, int], ...] = ((100, 1000), (1000, 1000), (10000, 1000), (200, 50000))
QUICK_SHAPES: tuple[tuple[int, int], ...] = ((100, 1000), (1000, 1000), (200, 10000))
BREAKDOWN_SHAPE = (1000, 1000)


@dataclass(frozen=True)
class Plan:
    """How much to measure.

    Attributes:
        shapes: (n_paths, n_times) pairs for the throughput table.
        repeats: repeats of each throughput and stage timing; best and median are reported.
        min_time_s: each repeat calls a candidate often enough to last at least this long.
        run_repeats: in-process runs of ``run_experiment(RunConfig())`` at torch's default
            number of threads.
        run_repeats_1thread: the same, with torch held to one thread (interleaved).
        cold_repeats: cold ``pathfit run`` subprocesses.
    """

    shapes: tuple[tuple[int, int], ...]
    repeats: int
    min_time_s: float
    run_repeats: int
    run_repeats_1thread: int
    cold_repeats: int


FULL = Plan(
    shapes=FULL_SHAPES,
    repeats=7,
    min_time_s=0.2,
    run_repeats=3,
    run_repeats_1thread=2,
    cold_repeats=2,
)
QUICK = Plan(
    shapes=QUICK_SHAPES,
    repeats=3,
    min_time_s=0.05,
    run_repeats=1,
    run_repeats_1thread=0,
    cold_repeats=1,
)


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Candidate:
    """One thing to time.

    Attributes:
        run: function of an integer seed; one call does the whole job being measured.
        threads: torch intra-op threads while it is timed; None keeps torch's default.
    """

    run: Callable[[int], object]
    threads: int | None = None


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one candidate.

    Attributes:
        samples_s: seconds per call in each repeat (the mean over that repeat's calls).
        calls: calls per repeat.
    """

    samples_s: tuple[float, ...]
    calls: int

    @property
    def best_s(self) -> float:
        return min(self.samples_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s)

    def summary(self) -> dict[str, Any]:
        return {
            "best_s": self.best_s,
            "median_s": self.median_s,
            "samples_s": list(self.samples_s),
            "calls_per_repeat": self.calls,
        }


def time_interleaved(
    candidates: dict[str, Candidate], repeats: int, min_time_s: float
) -> dict[str, Timing]:
    """Time several candidates in turn, repeat after repeat.

    Args:
        candidates: name -> Candidate.
        repeats: number of repeats; within each, every candidate is timed once, in an order
            that rotates from repeat to repeat.
        min_time_s: a candidate is called ``ceil(min_time_s / first call)`` times per repeat,
            so that short calls are not lost in timer and scheduler noise.

    Returns:
        name -> Timing, in seconds per call.
    """
    default_threads = torch.get_num_threads()
    current = default_threads

    def use_threads(candidate: Candidate) -> None:
        # A change of thread count is followed by one untimed call, so that the timed calls
        # do not pay for resizing torch's thread pool.
        nonlocal current
        wanted = candidate.threads or default_threads
        if wanted != current:
            torch.set_num_threads(wanted)
            current = wanted
            candidate.run(0)

    try:
        calls: dict[str, int] = {}
        for name, candidate in candidates.items():  # first call: warm-up, sizes the repeats
            use_threads(candidate)
            start = time.perf_counter()
            candidate.run(0)
            once = time.perf_counter() - start
            calls[name] = max(1, math.ceil(min_time_s / max(once, 1e-9)))
        names = list(candidates)
        samples: dict[str, list[float]] = {name: [] for name in names}
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                candidate = candidates[name]
                use_threads(candidate)
                start = time.perf_counter()
                for k in range(calls[name]):
                    candidate.run(1 + k)
                samples[name].append((time.perf_counter() - start) / calls[name])
    finally:
        torch.set_num_threads(default_threads)
    return {name: Timing(tuple(samples[name]), calls[name]) for name in names}


# --------------------------------------------------------------------------- 1. throughput


def pathfit_streamed(process: ABM, n_paths: int, n_times: int, horizon: float, seed: int) -> Any:
    """pathfit, block-wise: draw the times, then ``streamed_design``; (n_times, 1) design."""
    times = sample_times(n_times, horizon, seed=seed)
    return streamed_design(process, n_paths, times, powers=(2,), seed=seed)


def pathfit_materialized(
    process: ABM, n_paths: int, n_times: int, horizon: float, seed: int
) -> Any:
    """pathfit, all paths at once: ``power_design(sample_paths(...).values, (2,))``."""
    times = sample_times(n_times, horizon, seed=seed)
    return power_design(process.sample_paths(n_paths, times, seed=seed).values, (2,))


def numpy_design(
    n_paths: int, n_times: int, horizon: float, x0: float, mu: float, sigma: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The same job in plain NumPy, written the straightforward way, float64.

    Returns:
        (times, s): (n_times,) sorted times and (n_times,) s_j = (1/n) sum_i x_ij^2.
    """
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, horizon, n_times))
    dt = np.diff(times, prepend=0.0)
    z = rng.standard_normal((n_paths, n_times))
    x = x0 + mu * times + sigma * np.cumsum(z * np.sqrt(dt), axis=1)
    return times, (x**2).mean(axis=0)


def check_agreement(process: ABM, n_paths: int, n_times: int, horizon: float) -> dict[str, float]:
    """Untimed check that the candidates compute what they claim.

    Returns:
        ``stream_vs_materialized``: max |streamed - materialized| / max |materialized| (same
        seed, so rounding only); ``pathfit_ratio`` and ``numpy_ratio``: mean over j of
        s_j / E[x_j^2] (exact ABM second moment), near 1 within sampling error.
    """
    times = sample_times(n_times, horizon, seed=0)
    streamed = pathfit_streamed(process, n_paths, n_times, horizon, 0)[:, 0]
    materialized = pathfit_materialized(process, n_paths, n_times, horizon, 0)[:, 0]
    np_times, np_s = numpy_design(
        n_paths, n_times, horizon, process.x0, process.mu, process.sigma, 0
    )
    np_exact = (process.x0 + process.mu * np_times) ** 2 + process.sigma**2 * np_times
    return {
        "stream_vs_materialized": float(
            (streamed - materialized).abs().max() / materialized.abs().max()
        ),
        "pathfit_ratio": float((streamed / process.second_moment(times)).mean()),
        "numpy_ratio": float(np.mean(np_s / np_exact)),
    }


THROUGHPUT_COLUMNS = {
    "numpy": "numpy",
    "pathfit_streamed": "pf stream",
    "pathfit_materialized": "pf mater",
    "pathfit_streamed_1thread": "pf stream 1thr",
}


def bench_throughput(plan: Plan) -> list[dict[str, Any]]:
    """Path-points per second of simulate + design, pathfit against NumPy, for each shape.

    Returns:
        One dict per shape, with timings, M path-points/s and ratios to NumPy.
    """
    p = DEFAULTS.process
    horizon = DEFAULTS.sampling.horizon
    process = ABM(x0=p.x0, mu=p.mu, sigma=p.sigma)
    print_throughput_header(plan)
    rows = []
    for n_paths, n_times in plan.shapes:

        def numpy_job(seed: int, n: int = n_paths, m: int = n_times) -> object:
            return numpy_design(n, m, horizon, p.x0, p.mu, p.sigma, seed)

        def streamed_job(seed: int, n: int = n_paths, m: int = n_times) -> object:
            return pathfit_streamed(process, n, m, horizon, seed)

        def materialized_job(seed: int, n: int = n_paths, m: int = n_times) -> object:
            return pathfit_materialized(process, n, m, horizon, seed)

        candidates = {
            "numpy": Candidate(numpy_job),
            "pathfit_streamed": Candidate(streamed_job),
            "pathfit_materialized": Candidate(materialized_job),
            "pathfit_streamed_1thread": Candidate(streamed_job, threads=1),
        }
        check = check_agreement(process, n_paths, n_times, horizon)
        timings = time_interleaved(candidates, plan.repeats, plan.min_time_s)
        points = n_paths * n_times
        row: dict[str, Any] = {"n_paths": n_paths, "n_times": n_times, "check": check}
        for name, timing in timings.items():
            row[name] = {
                **timing.summary(),
                "mpts_best": points / timing.best_s / 1e6,
                "mpts_median": points / timing.median_s / 1e6,
            }
            if name != "numpy":
                # ratio of throughputs = numpy's time / pathfit's time
                row[name]["vs_numpy_best"] = timings["numpy"].best_s / timing.best_s
                row[name]["vs_numpy_median"] = timings["numpy"].median_s / timing.median_s
        rows.append(row)
        print_throughput_row(row)
    print("   checks: |streamed - materialized| / max, and mean_j s_j / E[x_j^2] (exact, ~1):")
    for row in rows:
        c = row["check"]
        print(
            f"   {row['n_paths']:>7} {row['n_times']:>7} | {c['stream_vs_materialized']:.1e}, "
            f"pathfit {c['pathfit_ratio']:.3f}, numpy {c['numpy_ratio']:.3f}"
        )
    return rows


def print_throughput_header(plan: Plan) -> None:
    print(
        f"\n1. simulate + design, ABM at sorted random times, s_j = mean_i x_ij^2, float64\n"
        f"   M path-points/s, best of {plan.repeats} repeats; pathfit / numpy as best "
        f"(median); 'pf' = pathfit, '1thr' = torch.set_num_threads(1)"
    )
    speeds = " ".join(f"{label:>14}" for label in THROUGHPUT_COLUMNS.values())
    ratios = " ".join(f"{label + '/np':>17}" for label in list(THROUGHPUT_COLUMNS.values())[1:])
    print(f"   {'n_paths':>7} {'n_times':>7} | {speeds} | {ratios}")


def print_throughput_row(row: dict[str, Any]) -> None:
    speeds = " ".join(f"{row[name]['mpts_best']:>14.1f}" for name in THROUGHPUT_COLUMNS)
    ratios = " ".join(
        f"{row[name]['vs_numpy_best']:>9.2f} ({row[name]['vs_numpy_median']:.2f})"
        for name in list(THROUGHPUT_COLUMNS)[1:]
    )
    print(f"   {row['n_paths']:>7} {row['n_times']:>7} | {speeds} | {ratios}")


# --------------------------------------------------------------------------- 1b. stages


def bench_stages(plan: Plan, n_paths: int, n_times: int) -> dict[str, dict[str, Any]]:
    """Where the time goes: each stage of the job alone, torch and NumPy, on a whole array.

    The stages are the operations the job is made of: normal draws from a seeded generator
    (torch's sampler and NumPy's ziggurat; which one pathfit uses on the CPU is up to
    ``pathfit._random``), the scaled cumulative sum plus drift, and the reduction to s_j. They
    are timed on the full (n_paths, n_times) array, not through pathfit's private code.

    Returns:
        stage name -> timing summary (seconds per call).
    """
    p = DEFAULTS.process
    times = sample_times(n_times, DEFAULTS.sampling.horizon, seed=0)
    steps = torch.diff(times, prepend=times.new_zeros(1))
    scale = p.sigma * steps.sqrt()
    drift = p.x0 + p.mu * times
    generator = torch.Generator().manual_seed(0)
    z = torch.randn((n_paths, n_times), generator=generator, dtype=torch.float64)
    x = torch.cumsum(z * scale, dim=1).add_(drift)
    rng = np.random.default_rng(0)
    np_times, np_z, np_x = times.numpy(), z.numpy(), x.numpy()
    np_steps = np.diff(np_times, prepend=0.0)
    shape = (n_paths, n_times)

    def randn64(seed: int) -> object:
        return torch.randn(shape, generator=generator, dtype=torch.float64)

    def randn32(seed: int) -> object:
        return torch.randn(shape, generator=generator, dtype=torch.float32)

    def torch_cumsum(seed: int) -> object:
        return torch.cumsum(z * scale, dim=1).add_(drift)

    def torch_reduce(seed: int) -> object:
        return power_design(x, (2,))

    def numpy_normal(seed: int) -> object:
        return rng.standard_normal(shape)

    def numpy_cumsum(seed: int) -> object:
        return p.x0 + p.mu * np_times + p.sigma * np.cumsum(np_z * np.sqrt(np_steps), axis=1)

    def numpy_reduce(seed: int) -> object:
        return (np_x**2).mean(axis=0)

    stages = {
        "torch.randn float64": Candidate(randn64),
        "torch.randn float32 (reference)": Candidate(randn32),
        "torch cumsum(z * sqrt(dt)) + drift": Candidate(torch_cumsum),
        "torch cumsum(z * sqrt(dt)) + drift, 1thr": Candidate(torch_cumsum, threads=1),
        "pathfit power_design(x, (2,))": Candidate(torch_reduce),
        "pathfit power_design(x, (2,)), 1thr": Candidate(torch_reduce, threads=1),
        "numpy standard_normal float64": Candidate(numpy_normal),
        "numpy cumsum(z * sqrt(dt)) + drift": Candidate(numpy_cumsum),
        "numpy (x**2).mean(axis=0)": Candidate(numpy_reduce),
    }
    timings = time_interleaved(stages, plan.repeats, plan.min_time_s)
    print(f"\n   where the time goes at ({n_paths}, {n_times}): ms per call, best (median)")
    for name, timing in timings.items():
        print(f"   {name:<42} {timing.best_s * 1e3:>8.2f} ({timing.median_s * 1e3:.2f})")
    return {name: timing.summary() for name, timing in timings.items()}


# --------------------------------------------------------------------------- 2. pathfit run


def _timed_default_run(threads: int | None) -> dict[str, Any]:
    default_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        out = run_experiment(RunConfig())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        torch.set_num_threads(default_threads)
    return {
        "torch_threads": threads or default_threads,
        "wall_s": wall,
        "cpu_s": cpu,
        "simulate_s": out.simulate_s,
        "methods": {
            row["name"]: {"wall_s": row["wall_s"], "status": row["status"]} for row in out.rows
        },
    }


def _summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [run["wall_s"] for run in runs]
    best = runs[walls.index(min(walls))]
    return {
        "first_s": walls[0],
        "best_s": min(walls),
        "median_s": statistics.median(walls),
        "cpu_s_of_best": best["cpu_s"],
        "simulate_s_best": min(run["simulate_s"] for run in runs),
        "methods": {
            name: {
                "best_s": min(run["methods"][name]["wall_s"] for run in runs),
                "median_s": statistics.median(run["methods"][name]["wall_s"] for run in runs),
                "status": sorted({run["methods"][name]["status"] for run in runs}),
            }
            for name in runs[0]["methods"]
        },
    }


def bench_default_run(plan: Plan) -> dict[str, Any]:
    """Wall time of ``run_experiment(RunConfig())``, after import and a tiny warm-up run.

    Runs at torch's default number of threads and with one thread alternate.

    Returns:
        warm-up seconds, every run, and per setting: first, best and median wall seconds, and
        per-method wall seconds and status.
    """
    tiny = parse_config({"sampling": {"n_paths": 8, "n_times": 16}})
    start = time.perf_counter()
    run_experiment(tiny)  # one-off torch start-up (autograd, optimizers) is paid here
    warmup_s = time.perf_counter() - start
    order: list[int | None] = [None] * plan.run_repeats
    for k in range(plan.run_repeats_1thread):  # alternate: default, 1, default, 1, ...
        order.insert(2 * k + 1, 1)
    runs = [_timed_default_run(threads) for threads in order]
    default_runs = [run for threads, run in zip(order, runs, strict=True) if threads is None]
    single_runs = [run for threads, run in zip(order, runs, strict=True) if threads == 1]
    result: dict[str, Any] = {
        "warmup_s": warmup_s,
        "runs": runs,
        "default_threads": _summarize_runs(default_runs),
        "one_thread": _summarize_runs(single_runs) if single_runs else None,
    }
    print(
        f"\n2. run_experiment(RunConfig()) in process, after import and a tiny warm-up "
        f"({warmup_s:.2f} s); target < 10 s"
    )
    settings = {"default_threads": f"{torch.get_num_threads()} threads", "one_thread": "1 thread"}
    settings = {key: label for key, label in settings.items() if result[key] is not None}
    for key, label in settings.items():
        s = result[key]
        print(
            f"   {label:<9} wall: first {s['first_s']:.2f} s, best {s['best_s']:.2f} s, "
            f"median {s['median_s']:.2f} s; CPU {s['cpu_s_of_best']:.2f} s in the best run"
        )
    print(
        f"   {'wall s, best (median)':<20}"
        + "".join(f"{label:>20}" for label in settings.values())
        + "  status"
    )
    simulate = "".join(f"{result[key]['simulate_s_best']:>20.3f}" for key in settings)
    print(f"   {'simulate + targets':<20}{simulate}")
    for name in runs[0]["methods"]:
        cells = "".join(
            f"{result[key]['methods'][name]['best_s']:.3f} "
            f"({result[key]['methods'][name]['median_s']:.3f})".rjust(20)
            for key in settings
        )
        status = "/".join(result["default_threads"]["methods"][name]["status"])
        print(f"   {name:<20}{cells}  {status}")
    return result


def _time_subprocess(command: list[str]) -> tuple[float, str | None]:
    """Wall seconds of a subprocess, and the last line of its stderr if it failed."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        return elapsed, lines[-1]
    return elapsed, None


def bench_cold_cli(plan: Plan) -> dict[str, Any]:
    """Wall time of a cold ``pathfit run -o TMP`` subprocess, and of what it starts with.

    Each repeat times, in turn, a bare interpreter, an interpreter that only imports pathfit's
    CLI and experiment modules (torch included), and the whole ``pathfit run``. A failed
    subprocess is reported, not timed.

    Returns:
        name -> best, median and all samples in seconds, and any errors.
    """
    cli = Path(sys.executable).parent / "pathfit"
    commands = {
        "python": [sys.executable, "-c", "pass"],
        "import": [sys.executable, "-c", "import pathfit.cli, pathfit.app.experiment"],
        "pathfit_run": [str(cli), "run", "-o"],
    }
    labels = {
        "python": "python -c pass",
        "import": "python -c 'import pathfit.cli, pathfit.app.experiment'",
        "pathfit_run": "pathfit run -o TMP",
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    errors: dict[str, list[str]] = {name: [] for name in commands}
    for _ in range(plan.cold_repeats):
        for name, command in commands.items():
            with tempfile.TemporaryDirectory() as folder:
                argv = [*command, folder] if name == "pathfit_run" else command
                seconds, error = _time_subprocess(argv)
                wrote = (Path(folder) / "results.json").is_file()
                if error is None and name == "pathfit_run" and not wrote:
                    error = "no results.json written"
            if error is None:
                samples[name].append(seconds)
            else:
                errors[name].append(error)
    result: dict[str, Any] = {}
    print(f"\n   cold subprocesses, wall s best (median) of {plan.cold_repeats}:")
    for name, label in labels.items():
        s = samples[name]
        result[name] = {
            "best_s": min(s) if s else None,
            "median_s": statistics.median(s) if s else None,
            "samples_s": s,
            "errors": errors[name],
        }
        timing = f"{min(s):>6.2f} s ({statistics.median(s):.2f})" if s else "   n/a"
        failed = f"  {len(errors[name])} failed: {errors[name][-1]}" if errors[name] else ""
        print(f"   {label:<52} {timing}{failed}")
    return result


# --------------------------------------------------------------------------- environment


def _git_state() -> dict[str, Any] | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "src"], cwd=REPO, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    # names the uncommitted state of src that was measured, when there is one
    diff_sha256 = hashlib.sha256(diff).hexdigest()[:16] if diff else None
    return {"commit": commit, "src_modified": bool(dirty), "src_diff_sha256": diff_sha256}


def environment() -> dict[str, Any]:
    """Versions and machine facts that the figures depend on."""
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "pathfit": pathfit.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "loadavg_start": list(os.getloadavg()),
        "git": _git_state(),
    }


# --------------------------------------------------------------------------- main


def print_summary(throughput: list[dict[str, Any]], default_run: dict[str, Any]) -> None:
    """One line per target: what was measured against what was asked."""
    ratios = [row["pathfit_streamed"]["vs_numpy_best"] for row in throughput]
    print(
        f"\nsummary: pathfit streamed / numpy, best, over shapes: {min(ratios):.2f} to "
        f"{max(ratios):.2f} (target >= 2)"
    )
    best_s = default_run["default_threads"]["best_s"]
    print(f"         run_experiment(RunConfig()) best {best_s:.2f} s (target < 10 s after import)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write all figures as JSON")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    start = time.perf_counter()

    env = environment()
    print(
        f"pathfit {env['pathfit']}, torch {env['torch']} ({env['torch_threads']} threads), "
        f"numpy {env['numpy']}, python {env['python']}, {env['cpu_count']} CPUs, "
        f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, {env['date_utc']}"
    )
    if env["git"] is not None:
        git = env["git"]
        modified = ""
        if git["src_modified"]:
            modified = f" + uncommitted changes in src (diff sha256 {git['src_diff_sha256']})"
        print(f"git {git['commit'][:12]}{modified}")
    print("load average at start: " + " ".join(f"{x:.2f}" for x in env["loadavg_start"]))

    sections_s: dict[str, float] = {}
    section = time.perf_counter()
    throughput = bench_throughput(plan)
    stages = bench_stages(plan, *BREAKDOWN_SHAPE)
    sections_s["throughput_and_stages"] = time.perf_counter() - section
    section = time.perf_counter()
    default_run = bench_default_run(plan)
    sections_s["default_run"] = time.perf_counter() - section
    section = time.perf_counter()
    cold = bench_cold_cli(plan)
    sections_s["cold_cli"] = time.perf_counter() - section
    total_s = time.perf_counter() - start
    env["loadavg_end"] = list(os.getloadavg())
    print_summary(throughput, default_run)
    print(
        f"\nbenchmark wall time {total_s:.0f} s ("
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in sections_s.items())
        + "); load average at end: "
        + " ".join(f"{x:.2f}" for x in env["loadavg_end"])
    )

    if args.json is not None:
        figures = {
            "environment": env,
            "plan": {
                "quick": args.quick,
                "shapes": [list(s) for s in plan.shapes],
                "repeats": plan.repeats,
                "min_time_s": plan.min_time_s,
                "run_repeats": plan.run_repeats,
                "run_repeats_1thread": plan.run_repeats_1thread,
                "cold_repeats": plan.cold_repeats,
            },
            "throughput": throughput,
            "stages": {"shape": list(BREAKDOWN_SHAPE), "timings": stages},
            "default_run": default_run,
            "cold_cli": cold,
            "benchmark_wall_s": total_s,
            "sections_s": sections_s,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
