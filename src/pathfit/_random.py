"""Reproducible random streams.

A run is reproducible from one integer seed. Independent parts of a run (the observation times,
each block of paths, the observation noise, the training order) draw from their own streams,
derived from the seed and a fixed key with NumPy's ``SeedSequence``. So simulating paths in
chunks, or adding noise later, never changes what an earlier part drew.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from pathfit.exceptions import InputError

# Stream keys: the first element of the spawn key of each part of a run.
TIMES, PATHS, NOISE, TRAINING, BOOTSTRAP, HOLDOUT = 0, 1, 2, 3, 4, 5

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
