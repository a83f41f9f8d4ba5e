"""One benchmark run: the steps in order, each announced to ``progress``."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from pathfit.app.bench._cpu import (
    bench_accuracy,
    bench_fits,
    bench_stages,
    bench_stream,
    bench_throughput,
)
from pathfit.app.bench._gpu import bench_gpu
from pathfit.app.bench._plan import Plan
from pathfit.app.bench._report import BenchFigures, BenchReport
from pathfit.app.bench._runs import EnvironmentProbe, bench_cold_start, bench_default_run

STEPS = (
    "throughput",
    "stages",
    "streamed run",
    "batched fits",
    "time to accuracy",
    "pathfit run defaults",
    "cold start",
    "gpu",
)
"""The steps of a run, in order; ``progress`` hears each name as the step starts."""
BENCH_STEPS: int = len(STEPS)
"""How many times ``run_bench`` calls ``progress`` (a skipped step is announced too)."""


def run_bench(
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> BenchReport:
    """Every measurement of ``pathfit bench`` and ``make bench``, side by side in one run.

    Args:
        quick: smaller sizes and fewer repeats (``Plan.make``).
        progress: called BENCH_STEPS times, with each step's name as it starts.
        threads: ``Plan.threads``, the threads of every measure not marked "1 thread" (None:
            the plan's, one per core this process may use).

    Returns:
        The report: a title, display rows, and every figure (``to_json()`` for bench.json).
    """
    plan = Plan.make(quick)
    if threads is not None:
        plan = dataclasses.replace(plan, threads=threads)
    return run_plan(plan, progress, quick=quick)


def run_plan(
    plan: Plan, progress: Callable[[str], None] | None = None, *, quick: bool = False
) -> BenchReport:
    """``run_bench`` on any plan (tests run it on tiny sizes); ``quick`` only labels it."""
    say = progress or (lambda _: None)
    probe = EnvironmentProbe(plan)
    seconds: dict[str, float] = {}
    start = time.perf_counter()

    def step(name: str) -> None:
        say(name)
        seconds[name] = time.perf_counter()

    step("throughput")
    throughput = bench_throughput(plan)
    step("stages")
    stages = bench_stages(plan)
    step("streamed run")
    stream = bench_stream(plan)
    step("batched fits")
    fits = bench_fits(plan)
    step("time to accuracy")
    accuracy = bench_accuracy(plan)
    step("pathfit run defaults")
    default_run = bench_default_run(plan)
    step("cold start")
    cold_start = bench_cold_start(plan)
    step("gpu")
    gpu = bench_gpu(plan)
    end = time.perf_counter()
    starts = [*seconds.values(), end]
    step_seconds = {name: b - a for name, a, b in zip(seconds, starts, starts[1:], strict=False)}
    figures = BenchFigures(
        quick=quick,
        plan=plan,
        environment=probe.finish(),
        throughput=throughput,
        stages=stages,
        stream=stream,
        fits=fits,
        accuracy=accuracy,
        default_run=default_run,
        cold_start=cold_start,
        gpu=gpu,
        step_seconds=step_seconds,
        wall_s=end - start,
    )
    return BenchReport.of(figures)
