"""Cutting a study into chunks: tasks of about ``chunk_seconds`` each, with stable keys.

A chunk's key is a hash of the base config, its cells' keys and its replicate seeds (and the
methods and metrics recorded), so the same study planned again gives the same keys, and
``--resume`` skips exactly the chunks whose shard is on disk.

The seconds a replicate takes are estimated from the cell's size and methods: simulating
n x m path values at about 60 M per second on one thread, and a rough cost per fit (the batched
forms cost almost nothing per replicate; the seed's per-sample SGD a few microseconds per
step for the whole batch; networks about a second). Cells whose replicates all fit in half a
task share a chunk.
"""

from __future__ import annotations

import math

from pathfit.app.study.compute import Chunk, Unit, axis_type, batchable, seeds_for
from pathfit.app.study.spec import Cell, Study, _hash

POINTS_PER_SECOND = 6e7
"""Path values simulated and reduced per second on one worker thread (rough)."""

FIT_SECONDS = {
    "least_squares": 5e-3,
    "gradient": 3e-2,
    "seed_network": 0.3,
    "pointwise_mlp": 0.6,
    "amortized": 0.05,
}
"""A fit's rough seconds when it is not batched."""


def replicate_seconds(cell: Cell, methods: tuple[str, ...]) -> float:
    """The estimated seconds of one replicate of ``cell`` with ``methods``."""
    s = cell.config.sampling
    seconds = s.n_paths * s.n_times / POINTS_PER_SECOND
    single = False
    for name in methods:
        if batchable(name, cell.config):
            if name == "seed_sgd":
                # one vectorized step over the batch; a batch of about 50 shares it
                seconds += cell.config.methods.seed_sgd.max_steps * 4e-6 / 50
            else:
                seconds += 1e-4
        else:
            single = True
            seconds += FIT_SECONDS.get(name, 0.1)
    if single:  # the paths are simulated again, whole, for the replicate-by-replicate fits
        seconds += s.n_paths * s.n_times / POINTS_PER_SECOND
    return seconds


def plan_chunks(study: Study) -> list[Chunk]:
    """Every chunk of the study, in cell order."""
    settings = study.settings
    methods, metrics, axes = study.methods, tuple(settings.metrics), tuple(study.axes)
    types = tuple(axis_type([cell.values[axis] for cell in study.cells]) for axis in axes)
    target = settings.chunk_seconds
    base = study.base.model_dump()
    chunks: list[Chunk] = []
    pending: list[Unit] = []
    pending_seconds = 0.0

    def close() -> None:
        nonlocal pending, pending_seconds
        if pending:
            key = _hash(
                {
                    "base": base,
                    "units": [[u.cell_key, list(u.seeds)] for u in pending],
                    "methods": methods,
                    "metrics": metrics,
                }
            )
            chunks.append(Chunk(key, tuple(pending), methods, metrics, axes, types))
        pending, pending_seconds = [], 0.0

    for cell in study.cells:
        each = replicate_seconds(cell, methods)
        per_chunk = max(1, min(settings.replicates, math.floor(target / max(each, 1e-9))))
        seeds = seeds_for(study.base.seed, cell.key, range(settings.replicates))
        config = cell.config.model_dump()
        for first in range(0, settings.replicates, per_chunk):
            replicates = tuple(range(first, min(first + per_chunk, settings.replicates)))
            unit = Unit(
                cell.index,
                cell.key,
                cell.values,
                config,
                cell.noise,
                cell.phi,
                replicates,
                tuple(seeds[first : first + len(replicates)]),
            )
            seconds = each * len(replicates)
            if pending and pending_seconds + seconds > target:
                close()
            pending.append(unit)
            pending_seconds += seconds
            if pending_seconds >= target / 2 and len(replicates) == per_chunk:
                close()
    close()
    return chunks
