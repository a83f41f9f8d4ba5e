"""The report of one benchmark run: typed figures, the display rows, and its JSON."""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass
from typing import Any

from pathfit.app.bench._figures import (
    THROUGHPUT_CANDIDATES,
    ColdCommand,
    DefaultRuns,
    Environment,
    FitsPerSecond,
    GpuFigures,
    Stages,
    StreamRun,
    ThroughputRow,
    TimeToAccuracy,
)
from pathfit.app.bench._plan import Plan
from pathfit.app.bench._timing import Timing


@dataclass(frozen=True, kw_only=True)
class BenchFigures:
    """Everything one run measured; a measure the plan skipped (or that needs CUDA) is None
    or empty.

    Attributes:
        step_seconds: wall seconds of each step of the run, by step name.
        wall_s: wall seconds of the whole run.
    """

    quick: bool
    plan: Plan
    environment: Environment
    throughput: tuple[ThroughputRow, ...]
    stages: Stages
    stream: StreamRun | None
    fits: FitsPerSecond
    accuracy: tuple[TimeToAccuracy, ...]
    default_run: DefaultRuns | None
    cold_start: tuple[ColdCommand, ...]
    gpu: GpuFigures | None
    step_seconds: dict[str, float]
    wall_s: float


@dataclass(frozen=True, kw_only=True)
class BenchReport:
    """What ``pathfit bench`` and ``make bench`` show and write.

    Attributes:
        title: e.g. "pathfit bench (cpu, quick)".
        rows: (measure, value) display text of a two-column table.
        figures: every figure, typed.
    """

    title: str
    rows: tuple[tuple[str, str], ...]
    figures: BenchFigures

    @classmethod
    def of(cls, figures: BenchFigures) -> BenchReport:
        quick = ", quick" if figures.quick else ""
        return cls(
            title=f"pathfit bench ({figures.environment.device}{quick})",
            rows=_rows(figures),
            figures=figures,
        )

    def to_json(self) -> dict[str, Any]:
        """Every figure, the plan, the environment and the versions, JSON-safe (a non-finite
        float becomes null)."""
        return {"title": self.title, **_plain(self.figures)}


def _plain(value: Any) -> Any:
    """JSON-safe plain data of a figure, with the derived figures a reader wants beside it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    out = {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Timing):
        out.update(best_s=_plain(value.best_s), median_s=_plain(value.median_s))
    elif isinstance(value, ThroughputRow):
        for name in value.timings:
            out["timings"][name].update(
                mpts_best=_plain(value.mpts(name)),
                mpts_median=_plain(value.mpts(name, median=True)),
                vs_numpy_best=_plain(value.vs_numpy(name)),
                vs_numpy_median=_plain(value.vs_numpy(name, median=True)),
            )
    elif isinstance(value, StreamRun):
        out.update(points=value.points, mpts_s=_plain(value.mpts_s))
    elif isinstance(value, FitsPerSecond):
        out.update(
            batched_per_s=_plain(value.batched_per_s), looped_per_s=_plain(value.looped_per_s)
        )
    elif isinstance(value, GpuFigures):
        out["gpts_best"] = {name: _plain(value.gpts(name)) for name in value.timings}
    return out


def _best(timing: Timing, scale: float = 1.0, digits: int = 2) -> str:
    return f"{timing.best_s * scale:.{digits}f} (median {timing.median_s * scale:.{digits}f})"


def _rows(f: BenchFigures) -> tuple[tuple[str, str], ...]:
    env, plan = f.environment, f.plan
    rows: list[tuple[str, str]] = []
    # display text only: no square brackets, which a rich table would read as markup
    rows.append(("versions", ", ".join(f"{name} {v}" for name, v in env.versions.items())))
    if env.git is not None:
        commit = env.git.commit[:7]
        if env.git.src_modified:
            commit += f" + uncommitted src/ (diff {env.git.src_diff_sha256})"
        rows.append(("commit", commit))
    rows.append(
        (
            "torch intra-op threads",
            f"{plan.threads} ({env.cores} cores); rows marked '1 thread' on 1",
        )
    )
    load = " -> ".join(f"{a[0]:.2f}" for a in (env.loadavg_start, env.loadavg_end) if a)
    rows.append(("load average, start -> end", load or "n/a"))

    labels = {"pathfit_streamed_1thread": "1 thread", "pathfit_materialized": "materialized"}
    for row in f.throughput:
        pathfit = f"pathfit {row.mpts('pathfit_streamed'):.0f} (" + ", ".join(
            f"{label} {row.mpts(name):.0f}" for name, label in labels.items()
        )
        others = ", ".join(
            f"{name} {row.mpts(name):.0f}"
            for name in THROUGHPUT_CANDIDATES
            if name in row.timings and not name.startswith("pathfit")
        )
        rows.append(
            (
                f"simulate + design {row.n_paths} x {row.n_times}, M path-points/s",
                f"{pathfit}), {others}; pathfit / numpy {row.vs_numpy('pathfit_streamed'):.2f}x "
                f"(median {row.vs_numpy('pathfit_streamed', median=True):.2f}x)",
            )
        )
    checks = [row.check for row in f.throughput]
    rows.append(
        (
            "checks: streamed vs materialized; mean_j s_j / E x_j^2 (~1)",
            f"{max(c.stream_vs_materialized for c in checks):.1e}; "
            f"pathfit {min(c.pathfit_ratio for c in checks):.3f} to "
            f"{max(c.pathfit_ratio for c in checks):.3f}, numpy "
            f"{min(c.numpy_ratio for c in checks):.3f} to {max(c.numpy_ratio for c in checks):.3f}",
        )
    )
    for name, timing in f.stages.timings.items():
        shape = f"{f.stages.n_paths} x {f.stages.n_times}"
        rows.append((f"at {shape}: {name}, ms", _best(timing, 1e3)))

    if f.stream is not None:
        s = f.stream
        rows.append(
            (
                f"streamed {s.points:.2g} path-points ({s.n_paths} x {s.n_times})",
                f"{s.seconds:.1f} s, {s.mpts_s:.0f} M/s, peak RSS {s.peak_rss_mib:.0f} MiB "
                "(torch's import included)",
            )
        )
    rows.append(
        (
            f"least-squares fits/s, {f.fits.n_paths} x {f.fits.n_times}, simulation included",
            f"batched {f.fits.batched_per_s:.0f}, one by one {f.fits.looped_per_s:.0f}",
        )
    )
    for a in f.accuracy:

        def seconds(s: float | None, status: str) -> str:
            return f"never ({status})" if s is None else f"{s:.3g}"

        rows.append(
            (
                f"seconds to |lambda error| < {a.threshold:g}, T = {a.horizon:g}",
                f"seed recipe {seconds(a.seed_recipe_s, a.seed_recipe_status)}, "
                f"guarded {seconds(a.guarded_s, a.guarded_status)}",
            )
        )

    if f.default_run is not None:
        rows.extend(_default_run_rows(f.default_run, plan))
    for command in f.cold_start:
        value = "n/a"
        if command.samples_s:
            best, median = min(command.samples_s), statistics.median(command.samples_s)
            value = f"{best:.2f} (median {median:.2f})"
        if command.errors:
            value += f"; {len(command.errors)} failed: {command.errors[-1]}"
        rows.append((f"cold {command.label}, s", value))

    if f.gpu is not None:
        g = f.gpu
        rows.append(
            (
                f"GPU {g.name} {g.n_paths} x {g.n_times}, G path-points/s",
                f"pathfit {g.gpts('pathfit'):.0f}, torch {g.gpts('torch'):.0f}, "
                f"randn {g.gpts('randn'):.0f} G numbers/s",
            )
        )
    steps = ", ".join(f"{name} {s:.0f}" for name, s in f.step_seconds.items())
    rows.append(("benchmark wall time, s", f"{f.wall_s:.0f} ({steps})"))
    return tuple(rows)


def _default_run_rows(d: DefaultRuns, plan: Plan) -> list[tuple[str, str]]:
    rows = []
    settings = [t for t in (plan.threads, 1) if d.on(t)]
    settings = list(dict.fromkeys(settings))  # plan.threads may be 1
    for threads in settings:
        runs = d.on(threads)
        best = min(runs, key=lambda run: run.wall_s)
        median = statistics.median(run.wall_s for run in runs)
        rows.append(
            (
                f"pathfit run defaults in process, {threads} thread(s), s",
                f"{best.wall_s:.2f} (median {median:.2f}), CPU {best.cpu_s:.2f} in the "
                f"best run; warm-up {d.warmup_s:.2f}",
            )
        )
    for k, method in enumerate(d.runs[0].methods):
        cells = ", ".join(
            f"{min(run.methods[k].wall_s for run in d.on(t)):.3f} on {t}" for t in settings
        )
        rows.append((f"  {method.name}, s", f"{cells} ({method.status})"))
    return rows
