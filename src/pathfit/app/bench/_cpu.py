"""The measures of the library's speed on the CPU: throughput, stages, a streamed run, fits
per second and time to accuracy."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import torch

from pathfit.app.bench._figures import (
    FitsPerSecond,
    Stages,
    StreamRun,
    ThroughputRow,
    TimeToAccuracy,
)
from pathfit.app.bench._pipelines import (
    HORIZON,
    LAM,
    check_agreement,
    numpy_design,
    pathfit_materialized,
    pathfit_streamed,
    seed_process,
    torch_design,
    torchsde_available,
    torchsde_design,
)
from pathfit.app.bench._plan import Plan
from pathfit.app.bench._timing import Candidate, time_interleaved
from pathfit.design import power_design, simulate_designs
from pathfit.estimators import GradientFit, LeastSquares
from pathfit.estimators.batched import batched_least_squares
from pathfit.exceptions import ConvergenceWarning
from pathfit.models import ConstantLambda
from pathfit.processes import sample_times, simulate
from pathfit.processes.tiling import torch_threads
from pathfit.targets import ConstantLam, make_targets


def bench_throughput(plan: Plan) -> tuple[ThroughputRow, ...]:
    """Simulate + design at every shape of the plan, all candidates side by side."""
    process = seed_process()
    jobs = {
        "numpy": numpy_design,
        "pathfit_streamed": pathfit_streamed,
        "pathfit_streamed_1thread": pathfit_streamed,
        "pathfit_materialized": pathfit_materialized,
        "torch": torch_design,
        "torchsde": torchsde_design,
    }
    with_torchsde = torchsde_available()
    rows = []
    for n_paths, n_times in plan.shapes:
        candidates = {}
        for name, job in jobs.items():
            if name == "torchsde" and not (
                with_torchsde and n_paths * n_times <= plan.torchsde_max_points
            ):
                continue

            def run(seed: int, job: Any = job, n: int = n_paths, m: int = n_times) -> object:
                return job(process, n, m, HORIZON, seed)

            threads = 1 if name.endswith("_1thread") else plan.threads
            candidates[name] = Candidate(run=run, threads=threads)
        with torch_threads(plan.threads):
            check = check_agreement(process, n_paths, n_times, HORIZON)
        timings = time_interleaved(candidates, repeats=plan.repeats, min_time_s=plan.min_time_s)
        rows.append(ThroughputRow(n_paths=n_paths, n_times=n_times, timings=timings, check=check))
    return tuple(rows)


def bench_stages(plan: Plan) -> Stages:
    """Where the time goes: each stage of the job alone, in torch and in NumPy, on a whole
    array: normal draws from a seeded generator, the scaled cumulative sum plus drift, and the
    reduction to s_j (which sampler pathfit uses on the CPU is up to ``pathfit._random``)."""
    n_paths, n_times = plan.stage_shape
    p = seed_process()
    times = sample_times(n_times, HORIZON, seed=0)
    scale = p.sigma * torch.diff(times, prepend=times.new_zeros(1)).sqrt()
    drift = p.x0 + p.mu * times
    generator = torch.Generator().manual_seed(0)
    z = torch.randn((n_paths, n_times), generator=generator, dtype=torch.float64)
    x = torch.cumsum(z * scale, dim=1).add_(drift)
    rng = np.random.default_rng(0)
    np_times, np_z, np_x = times.numpy(), z.numpy(), x.numpy()
    np_steps = np.diff(np_times, prepend=0.0)
    shape = (n_paths, n_times)
    jobs = {
        "torch.randn float64": lambda: torch.randn(shape, generator=generator, dtype=torch.float64),
        "torch.randn float32 (reference)": lambda: torch.randn(
            shape, generator=generator, dtype=torch.float32
        ),
        "torch cumsum(z * sqrt(dt)) + drift": lambda: torch.cumsum(z * scale, dim=1).add_(drift),
        "pathfit power_design(x, (2,))": lambda: power_design(x, (2,)),
        "numpy standard_normal float64": lambda: rng.standard_normal(shape),
        "numpy cumsum(z * sqrt(dt)) + drift": lambda: (
            p.x0 + p.mu * np_times + p.sigma * np.cumsum(np_z * np.sqrt(np_steps), axis=1)
        ),
        "numpy (x**2).mean(axis=0)": lambda: (np_x**2).mean(axis=0),
    }
    candidates = {}
    for name, job in jobs.items():
        candidates[name] = Candidate(run=lambda seed, job=job: job(), threads=plan.threads)
        if name.startswith(("torch cumsum", "pathfit")):  # torch operators: also on one thread
            candidates[f"{name}, 1 thread"] = Candidate(run=lambda seed, job=job: job(), threads=1)
    timings = time_interleaved(candidates, repeats=plan.repeats, min_time_s=plan.min_time_s)
    return Stages(n_paths=n_paths, n_times=n_times, timings=timings)


_STREAM_CHILD = """
import sys, time
import torch
from pathfit._rss import peak_rss
torch.set_num_threads(int(sys.argv[3]))
from pathfit.design import streamed_design
from pathfit.processes import ABM, sample_times
n_paths, n_times = int(sys.argv[1]), int(sys.argv[2])
x0, mu, sigma, horizon = map(float, sys.argv[4:8])
times = sample_times(n_times, horizon, seed=0)
start = time.perf_counter()
design = streamed_design(ABM(x0=x0, mu=mu, sigma=sigma), n_paths, times, (2,), seed=0)
seconds = time.perf_counter() - start
print(seconds, peak_rss() / 2**20, float(design.mean()))
"""


def bench_stream(plan: Plan) -> StreamRun | None:
    """Stream the plan's path-points through ``streamed_design`` in a fresh process, so that
    its peak resident memory is the streamed run's own (None when the plan says 0 points)."""
    if plan.stream_points == 0:
        return None
    n_times = plan.stream_n_times
    n_paths = max(1, plan.stream_points // n_times)
    p = seed_process()
    argv = [n_paths, n_times, plan.threads, p.x0, p.mu, p.sigma, HORIZON]
    out = subprocess.run(
        [sys.executable, "-c", _STREAM_CHILD, *map(str, argv)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(plan.threads)},
    ).stdout.split()
    return StreamRun(
        n_paths=n_paths,
        n_times=n_times,
        seconds=float(out[0]),
        peak_rss_mib=float(out[1]),
        design_mean=float(out[2]),
        threads=plan.threads,
    )


def bench_fits(plan: Plan) -> FitsPerSecond:
    """Least-squares fits per second of the plan's datasets, batched against one by one."""
    process = seed_process()
    n_paths, n_times = plan.fit_shape

    def batched(seed: int) -> object:
        seeds = [seed * plan.batched_replicates + r for r in range(plan.batched_replicates)]
        _, designs = simulate_designs(
            process, n_paths=n_paths, n_times=n_times, horizon=HORIZON, seeds=seeds, powers=(2,)
        )
        return batched_least_squares(designs, LAM * designs[..., 0])

    def looped(seed: int) -> object:
        for r in range(plan.looped_replicates):
            paths = simulate(
                process,
                n_paths=n_paths,
                n_times=n_times,
                horizon=HORIZON,
                seed=seed * plan.looped_replicates + r,
            )
            LeastSquares(interval="classical").fit(paths, make_targets(paths, ConstantLam(LAM)))
        return None

    timings = time_interleaved(
        {
            "batched": Candidate(run=batched, threads=plan.threads),
            "looped": Candidate(run=looped, threads=plan.threads),
        },
        repeats=max(1, plan.repeats - 1),
        min_time_s=plan.min_time_s,
    )
    return FitsPerSecond(
        n_paths=n_paths,
        n_times=n_times,
        batched_replicates=plan.batched_replicates,
        looped_replicates=plan.looped_replicates,
        batched=timings["batched"],
        looped=timings["looped"],
    )


def _seconds_to(fit: GradientFit, paths: Any, targets: Any, threshold: float) -> float | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit.fit(paths, targets)
    result = fit.result_
    history = result.history
    if history is None:
        return None
    for step, estimate in zip(history.step, history.estimate, strict=True):
        if estimate is not None and abs(estimate - LAM) < threshold:
            return result.wall_s * step / max(result.steps, 1)
    return None


def bench_accuracy(plan: Plan, threshold: float = 1e-6) -> tuple[TimeToAccuracy, ...]:
    """The seed's per-sample SGD (lr 0.01, no guard) against pathfit's guarded fit, in time
    to |lambda_hat - lambda| < threshold: at the seed's horizon 10, where the recipe diverges,
    and at horizon 1, where its step happens to be stable."""
    n_paths, n_times = plan.fit_shape

    def recipe(max_steps: int) -> GradientFit:
        return GradientFit(
            ConstantLambda(), mode="per_sample", lr=0.01, guard=False, max_steps=max_steps, tol=0.0
        )

    # the first fit imports torch.optim (and torch._dynamo): seconds that no step should carry
    tiny = simulate(seed_process(), n_paths=8, n_times=16, horizon=HORIZON, seed=0)
    tiny_targets = make_targets(tiny, ConstantLam(LAM))
    _seconds_to(recipe(2), tiny, tiny_targets, threshold)
    _seconds_to(GradientFit(ConstantLambda(), max_steps=2), tiny, tiny_targets, threshold)
    out = []
    for horizon in (HORIZON, 1.0):
        paths = simulate(seed_process(), n_paths=n_paths, n_times=n_times, horizon=horizon, seed=0)
        targets = make_targets(paths, ConstantLam(LAM))
        seed_sgd, guarded = recipe(plan.seed_max_steps), GradientFit(ConstantLambda())
        with torch_threads(plan.threads):
            recipe_s = _seconds_to(seed_sgd, paths, targets, threshold)
            guarded_s = _seconds_to(guarded, paths, targets, threshold)
        out.append(
            TimeToAccuracy(
                horizon=horizon,
                threshold=threshold,
                seed_recipe_s=recipe_s,
                seed_recipe_status=seed_sgd.result_.status,
                guarded_s=guarded_s,
                guarded_status=guarded.result_.status,
                threads=plan.threads,
            )
        )
    return tuple(out)
