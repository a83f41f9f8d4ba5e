"""The end-to-end GPU measure, on a CUDA device only."""

from __future__ import annotations

from collections.abc import Callable

import torch

from pathfit.app.bench._figures import GpuFigures
from pathfit.app.bench._pipelines import HORIZON, pathfit_streamed, seed_process, torch_design
from pathfit.app.bench._plan import Plan
from pathfit.app.bench._timing import Candidate, time_interleaved


def bench_gpu(plan: Plan) -> GpuFigures | None:
    """pathfit (fused kernel with Triton) against the plain float64 torch pipeline and
    ``Tensor.normal_`` at plan.gpu_shape; None without CUDA."""
    if not torch.cuda.is_available():
        return None
    process = seed_process()
    n_paths, n_times = plan.gpu_shape
    buffer = torch.empty((n_paths, n_times), device="cuda", dtype=torch.float64)

    def candidate(job: Callable[[int], object]) -> Candidate:
        return Candidate(run=job, threads=plan.threads, device="cuda")

    timings = time_interleaved(
        {
            "pathfit": candidate(
                lambda seed: pathfit_streamed(process, n_paths, n_times, HORIZON, seed, "cuda")
            ),
            "torch": candidate(
                lambda seed: torch_design(process, n_paths, n_times, HORIZON, seed, "cuda")
            ),
            "randn": candidate(lambda seed: buffer.normal_()),
        },
        repeats=max(3, plan.repeats),
        min_time_s=plan.min_time_s,
    )
    return GpuFigures(
        name=torch.cuda.get_device_name(), n_paths=n_paths, n_times=n_times, timings=timings
    )
