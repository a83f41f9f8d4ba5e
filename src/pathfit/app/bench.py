"""``pathfit bench``: speed measured side by side in one run.

Ratios between candidates timed in the same run are the figures to compare; absolute times
only mean something on the same machine. Each candidate is timed several times, interleaved
with the others, and the best time is kept (the least disturbed by other work on the machine).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pathfit.design import simulate_designs, streamed_design
from pathfit.estimators import GradientFit, LeastSquares
from pathfit.estimators.batched import batched_least_squares
from pathfit.exceptions import ConvergenceWarning
from pathfit.models import ConstantLambda
from pathfit.processes import ABM, sample_times, simulate
from pathfit.targets import ConstantLam, make_targets

X0, MU, SIGMA, HORIZON, LAM = 0.0, 0.5, 1.0, 10.0, 0.25


@dataclass(frozen=True)
class Plan:
    """What a run measures; ``quick`` shrinks every size."""

    shapes: tuple[tuple[int, int], ...]
    stream_points: int
    batched_replicates: int
    looped_replicates: int
    repeats: int

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(((100, 1000), (2000, 2000)), 200_000_000, 200, 50, 2)
        return cls(
            ((100, 1000), (1000, 1000), (10000, 1000), (200, 50000), (2048, 8192)),
            2_000_000_000,
            1000,
            200,
            3,
        )


def best_time(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of each function over ``repeats`` rounds, interleaved, after a warm-up."""
    for fn in functions.values():
        fn()
    best = dict.fromkeys(functions, math.inf)
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def numpy_pipeline(n_paths: int, n_times: int, seed: int) -> np.ndarray:
    """The plain NumPy way: Gaussian increments, cumsum, mean of squares."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, HORIZON, n_times))
    dt = np.diff(times, prepend=0.0)
    x = (
        X0
        + MU * times
        + SIGMA * np.cumsum(rng.standard_normal((n_paths, n_times)) * np.sqrt(dt), 1)
    )
    return (x * x).mean(axis=0)


def torch_pipeline(n_paths: int, n_times: int, seed: int, device: str = "cpu") -> torch.Tensor:
    """The same in plain torch, materialized."""
    generator = torch.Generator(device=device).manual_seed(seed)
    times = torch.sort(
        HORIZON * torch.rand(n_times, generator=generator, device=device, dtype=torch.float64)
    ).values
    dt = torch.diff(times, prepend=times.new_zeros(1))
    z = torch.randn((n_paths, n_times), generator=generator, device=device, dtype=torch.float64)
    x = X0 + MU * times + SIGMA * torch.cumsum(z * dt.sqrt(), dim=1)
    return (x * x).mean(dim=0)


def pathfit_pipeline(n_paths: int, n_times: int, seed: int, device: str = "cpu") -> torch.Tensor:
    """pathfit: times, then simulate and reduce tile by tile (fused kernel on CUDA)."""
    times = sample_times(n_times, HORIZON, seed=seed, device=device)
    return streamed_design(ABM(x0=X0, mu=MU, sigma=SIGMA), n_paths, times, (2,), seed=seed)


def torchsde_pipeline(n_paths: int, n_times: int, seed: int) -> torch.Tensor | None:
    """torchsde's Euler solver on the same ABM and times, when torchsde is installed."""
    try:
        import torchsde
    except ImportError:
        return None

    class _ABM(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.full_like(y, MU)

        def g(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.full_like(y, SIGMA)

    torch.manual_seed(seed)
    times = torch.cat(
        [
            torch.zeros(1, dtype=torch.float64),
            torch.sort(HORIZON * torch.rand(n_times, dtype=torch.float64)).values,
        ]
    )
    y0 = torch.full((n_paths, 1), X0, dtype=torch.float64)
    ys = torchsde.sdeint(_ABM(), y0, times, method="euler", dt=HORIZON / n_times)
    return ys[1:, :, 0].square().mean(dim=1)


def bench_throughput(plan: Plan) -> list[dict[str, Any]]:
    rows = []
    for n_paths, n_times in plan.shapes:
        candidates: dict[str, Callable[[], object]] = {
            "pathfit": lambda n=n_paths, m=n_times: pathfit_pipeline(n, m, 0),
            "numpy": lambda n=n_paths, m=n_times: numpy_pipeline(n, m, 0),
            "torch": lambda n=n_paths, m=n_times: torch_pipeline(n, m, 0),
        }
        if torchsde_pipeline(2, 2, 0) is not None and n_paths * n_times <= 10_000_000:
            candidates["torchsde"] = lambda n=n_paths, m=n_times: torchsde_pipeline(n, m, 0)
        best = best_time(candidates, plan.repeats)
        points = n_paths * n_times
        row: dict[str, Any] = {"n_paths": n_paths, "n_times": n_times}
        row.update({f"{name}_mpts_s": points / s / 1e6 for name, s in best.items()})
        row["ratio_vs_numpy"] = row["pathfit_mpts_s"] / row["numpy_mpts_s"]
        rows.append(row)
    return rows


_STREAM_CHILD = """
import resource, sys, time, torch
from pathfit.design import streamed_design
from pathfit.processes import ABM, sample_times
n_paths, n_times = int(sys.argv[1]), int(sys.argv[2])
times = sample_times(n_times, 10.0, seed=0)
start = time.perf_counter()
design = streamed_design(ABM(mu=0.5, sigma=1.0), n_paths, times, (2,), seed=0)
seconds = time.perf_counter() - start
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, float(design.mean()))
"""


def bench_stream(points: int) -> dict[str, Any]:
    """Stream ``points`` path-points through the design in a fresh process; its peak RSS."""
    n_times = 10_000
    n_paths = max(1, points // n_times)
    out = subprocess.run(
        [sys.executable, "-c", _STREAM_CHILD, str(n_paths), str(n_times)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    seconds, peak_mib = float(out[0]), float(out[1])
    return {
        "stream_points": n_paths * n_times,
        "stream_shape": [n_paths, n_times],
        "stream_s": seconds,
        "stream_mpts_s": n_paths * n_times / seconds / 1e6,
        "stream_peak_rss_mib": peak_mib,
    }


def bench_fits(plan: Plan) -> dict[str, Any]:
    """Least-squares fits of the default experiment per second, simulation included:
    batched (``simulate_designs`` + ``batched_least_squares``) against one by one."""
    process = ABM(x0=X0, mu=MU, sigma=SIGMA)

    def batched() -> None:
        seeds = list(range(plan.batched_replicates))
        _, designs = simulate_designs(
            process, n_paths=100, n_times=1000, horizon=HORIZON, seeds=seeds, powers=(2,)
        )
        batched_least_squares(designs, LAM * designs[..., 0])

    def looped() -> None:
        for seed in range(plan.looped_replicates):
            paths = simulate(process, n_paths=100, n_times=1000, horizon=HORIZON, seed=seed)
            targets = make_targets(paths, ConstantLam(LAM))
            LeastSquares(interval="classical").fit(paths, targets)

    best = best_time({"batched": batched, "looped": looped}, max(1, plan.repeats - 1))
    return {
        "batched_fits_per_s": plan.batched_replicates / best["batched"],
        "looped_fits_per_s": plan.looped_replicates / best["looped"],
    }


def _time_to(fit: GradientFit, paths: Any, targets: Any, threshold: float) -> float | None:
    """Seconds until |lambda_hat - lambda| first drops below ``threshold`` (None: never),
    from the fit's per-step estimates and its wall time spread evenly over its steps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit.fit(paths, targets)
    history = fit.result_.history
    assert history is not None
    for step, estimate in zip(history.step, history.estimate, strict=True):
        if estimate is not None and abs(estimate - LAM) < threshold:
            return fit.result_.wall_s * step / fit.result_.steps
    return None


def bench_seed_recipe() -> dict[str, Any]:
    """The seed's per-sample SGD (lr = 0.01, no guard) against pathfit's guarded fit, in
    time to |lambda_hat - lambda| < 1e-6: at T = 10 (the seed's scale, where the recipe
    diverges) and at T = 1 (where its step happens to be stable)."""
    out: dict[str, Any] = {}
    for horizon, suffix in ((HORIZON, ""), (1.0, "_t1")):
        paths = simulate(
            ABM(x0=X0, mu=MU, sigma=SIGMA), n_paths=100, n_times=1000, horizon=horizon, seed=0
        )
        targets = make_targets(paths, ConstantLam(LAM))
        seed = GradientFit(
            ConstantLambda(), mode="per_sample", lr=0.01, guard=False, max_steps=200_000, tol=0.0
        )
        guarded = GradientFit(ConstantLambda())
        out[f"seed_sgd_s_to_1e-6{suffix}"] = _time_to(seed, paths, targets, 1e-6)
        out[f"gradient_s_to_1e-6{suffix}"] = _time_to(guarded, paths, targets, 1e-6)
    return out


def bench_gpu(plan: Plan) -> dict[str, Any] | None:
    """Fused design against the plain torch pipeline and torch.randn, on CUDA."""
    if not torch.cuda.is_available():
        return None
    n_paths, n_times = 4096, 65536  # big enough that launch overhead does not dominate

    def sync(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            out = fn()
            torch.cuda.synchronize()
            return out

        return run

    buffer = torch.empty((n_paths, n_times), device="cuda", dtype=torch.float64)
    best = best_time(
        {
            "pathfit": sync(lambda: pathfit_pipeline(n_paths, n_times, 0, device="cuda")),
            "torch": sync(lambda: torch_pipeline(n_paths, n_times, 0, device="cuda")),
            "randn": sync(lambda: buffer.normal_()),
        },
        max(3, plan.repeats),
    )
    points = n_paths * n_times
    return {
        "name": torch.cuda.get_device_name(),
        "shape": [n_paths, n_times],
        "pathfit_gpts_s": points / best["pathfit"] / 1e9,
        "torch_gpts_s": points / best["torch"] / 1e9,
        "randn_gnum_s": points / best["randn"] / 1e9,
    }


def run_bench(quick: bool = False, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every measurement of ``pathfit bench``, as the dict written to bench.json."""
    plan = Plan.make(quick)
    say = progress or (lambda _: None)
    say("throughput")
    throughput = bench_throughput(plan)
    say("streamed run")
    stream = bench_stream(plan.stream_points)
    say("batched fits")
    fits = bench_fits(plan)
    say("seed recipe")
    seed = bench_seed_recipe()
    say("gpu")
    gpu = bench_gpu(plan)
    default = next(r for r in throughput if (r["n_paths"], r["n_times"]) == (100, 1000))
    largest = max(throughput, key=lambda r: r["n_paths"] * r["n_times"])
    return {
        "device": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "quick": quick,
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "cpu": {
            "pathfit_mpts_s": largest["pathfit_mpts_s"],
            "numpy_mpts_s": largest["numpy_mpts_s"],
            "torch_mpts_s": largest["torch_mpts_s"],
            "ratio_vs_numpy": largest["ratio_vs_numpy"],
            "shape": [largest["n_paths"], largest["n_times"]],
            "default_shape_ratio_vs_numpy": default["ratio_vs_numpy"],
            "throughput": throughput,
            **stream,
            **fits,
            **seed,
        },
        "gpu": gpu,
    }


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, allow_nan=False) + "\n"
