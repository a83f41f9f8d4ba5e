"""What one benchmark run measures: the sizes of the full and the quick run."""

from __future__ import annotations

from dataclasses import dataclass, field

from pathfit.exceptions import InputError
from pathfit.processes.tiling import available_cores

Shape = tuple[int, int]
"""(n_paths, n_times)."""


def machine_cores() -> int:
    """CPU cores this process may run on: torch's default number of intra-op threads."""
    return available_cores()


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Sizes and repeats of one run; ``Plan.make(quick)`` gives the two standard ones.

    Attributes:
        shapes: (n_paths, n_times) of the simulate + design throughput table.
        repeats: interleaved repeats of every timed table; best and median are reported.
        min_time_s: within a repeat, a candidate is called often enough to last this long.
        stage_shape: the shape at which each stage of the job is timed alone.
        stream_points: path-points streamed in a fresh process (0: skip), ``stream_n_times``
            times per path.
        stream_n_times: times per path of the streamed run.
        fit_shape: (n_paths, n_times) of each dataset in the fits-per-second and
            time-to-accuracy measures (the seed experiment's).
        batched_replicates: datasets simulated and fitted per batched call.
        looped_replicates: datasets simulated and fitted one by one per looped call.
        seed_max_steps: step limit of the seed's SGD recipe in the time-to-accuracy measure.
        run_repeats: in-process runs of ``run_experiment(RunConfig())`` on ``threads``.
        run_repeats_1thread: the same on one torch thread, alternated with the former.
        cold_repeats: cold subprocesses (interpreter, import, ``pathfit run``); 0: skip.
        torchsde_max_points: torchsde's Euler solver, when installed, is timed up to this size.
        gpu_shape: the shape of the end-to-end GPU measure (CUDA only).
        gpu_shapes: the kernel shapes of ``benchmarks/bench_gpu.py`` (CUDA only).
        threads: torch intra-op threads of every measure not marked "1 thread" (default: one
            per core the process may use, torch's own default), set explicitly where timed.
    """

    shapes: tuple[Shape, ...]
    repeats: int
    min_time_s: float
    stage_shape: Shape = (1000, 1000)
    stream_points: int
    stream_n_times: int = 10_000
    fit_shape: Shape = (100, 1000)
    batched_replicates: int
    looped_replicates: int
    seed_max_steps: int = 200_000
    run_repeats: int
    run_repeats_1thread: int
    cold_repeats: int
    torchsde_max_points: int = 10_000_000
    gpu_shape: Shape = (4096, 65536)  # big enough that launch overhead does not dominate
    gpu_shapes: tuple[Shape, ...] = ((1024, 2**20), (4096, 8192), (65536, 8192))
    threads: int = field(default_factory=machine_cores)

    def __post_init__(self) -> None:
        if not self.shapes:
            raise InputError("shapes", "()", "at least one (n_paths, n_times) shape")
        for name in ("shapes", "gpu_shapes"):
            for shape in getattr(self, name):
                _check_shape(name, shape)
        for name in ("stage_shape", "fit_shape", "gpu_shape"):
            _check_shape(name, getattr(self, name))
        for name, minimum in (
            ("repeats", 1),
            ("stream_points", 0),
            ("stream_n_times", 1),
            ("batched_replicates", 1),
            ("looped_replicates", 1),
            ("seed_max_steps", 1),
            ("run_repeats", 0),
            ("run_repeats_1thread", 0),
            ("cold_repeats", 0),
            ("torchsde_max_points", 0),
            ("threads", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InputError(name, repr(value), f"an integer >= {minimum}")
        if not (isinstance(self.min_time_s, int | float) and 0 <= self.min_time_s < 60):
            raise InputError("min_time_s", repr(self.min_time_s), "seconds in [0, 60)")

    @classmethod
    def make(cls, quick: bool) -> Plan:
        """The full run, or the quick one: fewer and smaller shapes, fewer repeats, a tenth of
        the streamed points and of the fits."""
        return QUICK if quick else FULL


def _check_shape(name: str, shape: object) -> None:
    ok = (
        isinstance(shape, tuple)
        and len(shape) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
    )
    if not ok:
        raise InputError(name, repr(shape), "a tuple (n_paths, n_times) of positive integers")


FULL = Plan(
    shapes=((100, 1000), (1000, 1000), (10000, 1000), (200, 50000), (2048, 8192)),
    repeats=7,
    min_time_s=0.2,
    stream_points=2_000_000_000,
    batched_replicates=1000,
    looped_replicates=200,
    run_repeats=3,
    run_repeats_1thread=2,
    cold_repeats=2,
    gpu_shapes=(
        (1024, 8192),
        (1024, 65536),
        (1024, 2**20),
        (4096, 8192),
        (4096, 65536),
        (16384, 8192),
        (65536, 8192),
    ),
)
QUICK = Plan(
    shapes=((100, 1000), (1000, 1000), (200, 10000)),
    repeats=3,
    min_time_s=0.05,
    stream_points=200_000_000,
    batched_replicates=200,
    looped_replicates=50,
    run_repeats=1,
    run_repeats_1thread=0,
    cold_repeats=1,
)
