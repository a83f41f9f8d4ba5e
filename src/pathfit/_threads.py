"""torch's intra-op thread count, and reductions whose results do not depend on it.

The same seed gives the same estimates whatever the number of threads. Most of torch's CPU
operators already give the same bits on any number of threads: elementwise ones, and a
reduction with several outputs (``x.sum(dim=0)`` of a matrix), which torch splits over its
outputs, each summed whole by one thread. Two kinds do not:

- a reduction to a single number (``x.sum()``, ``x.mean()``, ``x.std()``, ``a @ b`` of two
  vectors) over more than torch's grain of 32768 elements: each thread sums a share of the
  elements and the shares are added at the end, so the rounding depends on the thread count.
  ``fixed_sum`` and ``fixed_mean`` cut the elements into chunks of SUM_CHUNK (below the grain),
  which torch sums as a reduction with several outputs, and add the partial sums the same way;
- LAPACK's SVD (MKL's, threaded), even of a 1000 x 49 matrix. ``svd`` runs it on one thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

SUM_CHUNK = 8192
"""Elements per partial sum of ``fixed_sum``: below torch's grain (32768), so that each chunk
is summed by one thread in one fixed order."""


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run torch's CPU operators on ``n`` threads inside the block (None: leave as is).

    The count is process-wide, so only the main thread changes it: code running in a pool
    (batched simulation, say) relies on whoever started the pool to have set it.
    """
    if threading.current_thread() is not threading.main_thread():
        n = None
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def fixed_sum(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """``x.sum(dim)`` (all elements when ``dim`` is None), the same bits on any number of
    threads; differentiable.

    A reduction with several outputs is torch's own (already independent of the threads, and
    unchanged); one to a single number is summed in chunks of SUM_CHUNK, the partial sums then
    added the same way.
    """
    if dim is None:
        x, dim = x.reshape(-1), 0
    n = x.shape[dim]
    if n <= SUM_CHUNK or x.numel() != n:
        return x.sum(dim)
    flat = x.reshape(-1)
    whole = n - n % SUM_CHUNK
    partials = flat[:whole].view(-1, SUM_CHUNK).sum(dim=1)
    if whole < n:
        partials = torch.cat([partials, flat[whole:].sum().unsqueeze(0)])
    shape = list(x.shape)
    del shape[dim]
    return fixed_sum(partials).reshape(shape)


def fixed_mean(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """``x.mean(dim)``, the same bits on any number of threads (see ``fixed_sum``)."""
    count = x.numel() if dim is None else x.shape[dim]
    return fixed_sum(x, dim) / count


def svd(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torch.linalg.svd(matrix, full_matrices=False)`` on one CPU thread, so that the factors
    do not depend on the thread count (on a worker thread, the count its pool was started
    with). The matrices pathfit factors are thin (n_times x a few parameters), so one thread
    costs little."""
    with torch_threads(1 if matrix.device.type == "cpu" else None):
        u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    return u, s, vh


def svdvals(matrix: torch.Tensor) -> torch.Tensor:
    """``torch.linalg.svdvals(matrix)`` on one CPU thread, as ``svd``; the largest singular
    value is ``svdvals(matrix)[..., 0]`` (the spectral norm)."""
    with torch_threads(1 if matrix.device.type == "cpu" else None):
        return torch.linalg.svdvals(matrix)
