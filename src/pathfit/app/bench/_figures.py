"""What a benchmark run measured: one typed record per measure."""

from __future__ import annotations

from dataclasses import dataclass

from pathfit.app.bench._pipelines import Agreement
from pathfit.app.bench._timing import Timing

THROUGHPUT_CANDIDATES = (
    "numpy",
    "pathfit_streamed",
    "pathfit_streamed_1thread",
    "pathfit_materialized",
    "torch",
    "torchsde",
)
"""Candidates of the throughput table, in display order; torchsde only when installed."""


@dataclass(frozen=True, kw_only=True)
class ThroughputRow:
    """Simulate + design at one shape: every candidate timed side by side.

    Attributes:
        n_paths, n_times: the shape; path-points = n_paths * n_times.
        timings: candidate name (see THROUGHPUT_CANDIDATES) -> seconds per call.
        check: the untimed agreement check at this shape.
    """

    n_paths: int
    n_times: int
    timings: dict[str, Timing]
    check: Agreement

    def mpts(self, name: str, *, median: bool = False) -> float:
        """Million path-points per second of candidate ``name`` (best or median repeat)."""
        timing = self.timings[name]
        seconds = timing.median_s if median else timing.best_s
        return self.n_paths * self.n_times / seconds / 1e6

    def vs_numpy(self, name: str, *, median: bool = False) -> float:
        """Throughput of ``name`` over NumPy's, both from the best (or median) repeat."""
        return self.mpts(name, median=median) / self.mpts("numpy", median=median)


@dataclass(frozen=True, kw_only=True)
class Stages:
    """Each stage of the job alone on a whole (n_paths, n_times) array: stage -> timing."""

    n_paths: int
    n_times: int
    timings: dict[str, Timing]


@dataclass(frozen=True, kw_only=True)
class StreamRun:
    """``streamed_design`` over n_paths * n_times path-points in a fresh process.

    Attributes:
        seconds: wall time of the call (the import of torch and pathfit excluded).
        peak_rss_mib: the process's peak resident memory, torch's own import included.
        design_mean: mean over j of the design, a sanity figure (E x^2 averaged over times).
        threads: torch intra-op threads of the child process.
    """

    n_paths: int
    n_times: int
    seconds: float
    peak_rss_mib: float
    design_mean: float
    threads: int

    @property
    def points(self) -> int:
        return self.n_paths * self.n_times

    @property
    def mpts_s(self) -> float:
        return self.points / self.seconds / 1e6


@dataclass(frozen=True, kw_only=True)
class FitsPerSecond:
    """Least-squares fits of (n_paths, n_times) datasets per second, simulation included:
    batched (``simulate_designs`` + ``batched_least_squares``) against one by one
    (``simulate`` + ``make_targets`` + ``LeastSquares``)."""

    n_paths: int
    n_times: int
    batched_replicates: int
    looped_replicates: int
    batched: Timing
    looped: Timing

    @property
    def batched_per_s(self) -> float:
        return self.batched_replicates / self.batched.best_s

    @property
    def looped_per_s(self) -> float:
        return self.looped_replicates / self.looped.best_s


@dataclass(frozen=True, kw_only=True)
class TimeToAccuracy:
    """Seconds until |lambda_hat - lambda| < threshold on one dataset (None: never), from a
    fit's per-step estimates and its wall time spread evenly over its steps.

    Attributes:
        horizon: the dataset's horizon; at 10 the seed's recipe diverges, at 1 its step is
            stable.
        seed_recipe_s, seed_recipe_status: the seed's per-sample SGD, lr 0.01, no guard.
        guarded_s, guarded_status: pathfit's guarded gradient fit on its defaults.
    """

    horizon: float
    threshold: float
    seed_recipe_s: float | None
    seed_recipe_status: str
    guarded_s: float | None
    guarded_status: str
    threads: int


@dataclass(frozen=True, kw_only=True)
class MethodRun:
    """One method in one ``run_experiment`` call: its fit's wall time (NaN when the fit
    raised) and how it ended ("failed" when it raised)."""

    name: str
    wall_s: float
    status: str


@dataclass(frozen=True, kw_only=True)
class ExperimentRun:
    """One in-process ``run_experiment(RunConfig())``."""

    threads: int
    wall_s: float
    cpu_s: float
    simulate_s: float
    methods: tuple[MethodRun, ...]


@dataclass(frozen=True, kw_only=True)
class DefaultRuns:
    """``run_experiment(RunConfig())`` after import and a tiny warm-up run (8 paths, 16 times,
    which pays torch's one-off start-up), on ``threads`` and on one thread, alternated."""

    warmup_s: float
    runs: tuple[ExperimentRun, ...]

    def on(self, threads: int) -> tuple[ExperimentRun, ...]:
        return tuple(run for run in self.runs if run.threads == threads)


@dataclass(frozen=True, kw_only=True)
class ColdCommand:
    """Wall seconds of one cold subprocess; a failed one is not timed but its error kept."""

    label: str
    samples_s: tuple[float, ...]
    errors: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class GpuFigures:
    """End to end on CUDA at one shape: pathfit (times drawn and checked, fused kernel), the
    plain float64 torch pipeline, and ``Tensor.normal_`` on a float64 buffer of that size."""

    name: str
    n_paths: int
    n_times: int
    timings: dict[str, Timing]

    def gpts(self, name: str) -> float:
        return self.n_paths * self.n_times / self.timings[name].best_s / 1e9


@dataclass(frozen=True, kw_only=True)
class GitState:
    commit: str
    src_modified: bool
    src_diff_sha256: str | None
    """Names the uncommitted state of src/ that was measured, when there is one."""


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Versions and machine facts the figures depend on.

    Attributes:
        threads: torch intra-op threads of the measures not marked "1 thread".
        torch_threads_at_start: the count the process had before the run (restored after).
    """

    date_utc: str
    versions: dict[str, str]
    platform: str
    processor: str
    cpu_count: int | None
    cores: int
    threads: int
    torch_threads_at_start: int
    openblas_coretype: str | None
    omp_num_threads: str | None
    device: str
    loadavg_start: tuple[float, ...]
    loadavg_end: tuple[float, ...]
    git: GitState | None
