"""Reproducible random streams.

A run is reproducible from one integer seed. Independent parts of a run (the observation times,
each block of paths, the observation noise, the training order) draw from their own streams,
derived from the seed and a fixed key with NumPy's ``SeedSequence``. So simulating paths in
chunks, or adding noise later, never changes what an earlier part drew.

The paths' normals come from one of two streams (``RandomStream``). ``"philox"``, the default,
is counter-based: the normal of path i at time j is Philox4x32-10 keyed by the seed at counter
(j, i // 4), turned into normals by Box-Muller (``pathfit._philox``), the very numbers the fused
GPU kernel draws, so a seed gives the same paths on the CPU and on a GPU, whatever the tiling or
the threads. ``"legacy"`` is the stream pathfit drew before it (NumPy's PCG64 and ziggurat
per tile on the CPU, torch's generator on a GPU), kept to reproduce results of pathfit 0.2.0
and earlier.
"""

from __future__ import annotations

import numbers
from typing import Literal

import numpy as np
import torch

from pathfit import _philox
from pathfit.exceptions import InputError

# Stream keys: the first element of the spawn key of each part of a run.
TIMES, PATHS, NOISE, TRAINING, BOOTSTRAP, HOLDOUT = 0, 1, 2, 3, 4, 5

RandomStream = Literal["philox", "legacy"]
RANDOM_STREAMS: tuple[RandomStream, ...] = ("philox", "legacy")
DEFAULT_STREAM: RandomStream = "philox"
"""The paths' stream unless a caller says otherwise: the one the GPU kernel draws too."""

SEED_MAX = 2**64 - 1
"""The largest seed pathfit accepts: torch generators take unsigned 64-bit seeds."""


def check_seed(field: str, value: object) -> int:
    """Return ``value`` as an int seed in [0, 2^64 - 1]; NumPy integers are accepted, bools are
    not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(field, repr(value), "an integer seed in [0, 2^64 - 1]")
    if not 0 <= value <= SEED_MAX:
        raise InputError(field, value, "an integer seed in [0, 2^64 - 1]")
    return int(value)


def resolve_seed(seed: int | None = None, generator: torch.Generator | None = None) -> int:
    """One integer seed from an explicit seed (in [0, 2^64 - 1]), or 63 bits drawn from a torch
    generator or from fresh entropy."""
    if seed is not None and generator is not None:
        raise InputError("seed", seed, "either seed or generator, not both")
    if generator is not None:
        return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    return check_seed("seed", seed)


def stream(seed: int, *key: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator for the part of a run named by ``key``."""
    state = np.random.SeedSequence(seed, spawn_key=key).generate_state(2, np.uint32)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(state[0]) << 32 | int(state[1]))
    return generator


def normals(
    seed: int,
    key: tuple[int, ...],
    shape: tuple[int, int],
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """Standard normals for the part of a run named by ``key``.

    On the CPU they come from NumPy's PCG64 with its ziggurat sampler (written straight into a
    buffer torch shares): about 1.7 times torch's own CPU rate in float64, and it releases the
    GIL, so threads fill tiles in parallel. On a GPU they come from torch's Philox generator.
    """
    if device.type == "cpu":
        bit_generator = np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key))
        buffer = np.empty(shape, dtype=np.float64 if dtype == torch.float64 else np.float32)
        np.random.Generator(bit_generator).standard_normal(out=buffer, dtype=buffer.dtype)
        return torch.from_numpy(buffer)
    return torch.randn(
        shape, generator=stream(seed, *key, device=device), dtype=dtype, device=device
    )


def check_stream(field: str, value: object) -> RandomStream:
    """``value`` as a ``RandomStream`` ("philox" or "legacy"), or InputError."""
    if value not in RANDOM_STREAMS:
        raise InputError(field, repr(value), "'philox' or 'legacy'")
    return value  # type: ignore[return-value]


def counter_normals(
    seed: int,
    first_path: int,
    first_counter: int,
    shape: tuple[int, int],
    dtype: torch.dtype,
    device: torch.device,
    c2: int = 0,
) -> torch.Tensor:
    """(n_rows, n_cols) normals of the "philox" stream: row r is path ``first_path + r``
    (a multiple of 4), column t counter ``first_counter + t``; ``c2`` the counter's third word.

    Made in float64 (cast to ``dtype`` after). On the CPU by the compiled kernel, which
    releases the GIL, so the tiling engine's threads fill tiles in parallel (a process's first
    2^21 normals by torch operators, the same bits, so that a small run never loads numba); on
    a GPU by torch operators on the device.
    """
    if device.type == "cpu":
        buffer = np.empty(shape, dtype=np.float64)
        _philox.fill_normals(seed, first_path, first_counter, buffer, c2=c2)
        z = torch.from_numpy(buffer)
    else:
        z = _philox.torch_normals(seed, first_path, first_counter, shape, c2=c2, device=device)
    return z if dtype == torch.float64 else z.to(dtype)
