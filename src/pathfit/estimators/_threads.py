"""How many torch intra-op threads a fit runs on.

torch's default (one thread per core) makes small fits slower, not faster: a fit's operators
are too short to share, and when another process keeps the cores busy the threads wait on each
other (the seed defaults ran 3-10x slower on a loaded 2-core machine). So a fit runs on one
thread until its work per evaluation passes ``THREAD_WORK`` and on more above, never more
than the cores this process may use, and gives the caller's setting back when it ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pathfit.models import AbstractModel, PointwiseMLP
from pathfit.paths import Paths
from pathfit.processes.tiling import available_cores, torch_threads

THREAD_WORK = 1 << 26
"""Multiply-adds per evaluation (``model_work``) per thread: a fit takes a second thread at
twice this work, a third at three times, ... About 6.7e7. Measured on a shared 2-core machine
(load ~3.5 from others) as time with 2 threads / time with 1, best of 2, short fits (L-BFGS
2-5 steps; LeastSquares poly3): pointwise MLP (16) 50x200 (work 4.9e5) 0.70, 100x1000 (4.9e6)
0.92, 200x2000 (2.0e7) 1.13, and 0.93 with two busy processes competing; seed network
100x1000 (1.0e5) 1.14, 200x2000 0.74, 0.85 loaded; with 32 hidden units 1.01-1.04; least
squares with a path bootstrap 100x1000 1.27, 1.49 loaded. No size below 2e7 gained reliably
from a second thread, so the threshold sits above every default-size fit (whose results then
do not depend on the caller's threads)."""


def choose_threads(threads: int | None, work: int) -> int:
    """The intra-op threads for ``work`` multiply-adds per evaluation: ``threads`` when given,
    else one per THREAD_WORK, at least one and at most the cores this process may use."""
    if threads is not None:
        return threads
    return max(1, min(available_cores(), work // THREAD_WORK))


@contextlib.contextmanager
def fit_threads(threads: int | None, work: int) -> Iterator[None]:
    """Run the block on ``choose_threads(threads, work)`` torch threads; the caller's count
    comes back afterwards, also after an exception (only the main thread changes it)."""
    with torch_threads(choose_threads(threads, work)):
        yield


def model_work(model: AbstractModel, paths: Paths) -> int:
    """Multiply-adds of one evaluation of ``model`` on ``paths``, roughly: a pointwise
    network runs on every path value, any other model once per time with its parameters."""
    per_time = model.n_params * (paths.n_paths if isinstance(model, PointwiseMLP) else 1)
    return paths.n_times * max(per_time, paths.n_paths)
