"""The fused kernel's normals and paths recomputed on the host, for exact checks of the kernel.

``philox4x32`` is Philox4x32-10 in NumPy, bit for bit what ``tl.philox`` computes;
``reference_normals`` turns its integers into the kernel's normals by Box-Muller in float64;
``reference_paths`` drives each process's own exact transition
(``AbstractExactProcess.values_from_normals``) with them. So the kernel, whose in-kernel
formulas must be written in Triton, is checked against the processes' law, not against a second
copy of its formulas. NumPy and torch only: these run wherever pathfit does, Triton or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pathfit.exceptions import InputError
from pathfit.processes import ABM, GBM, OU

PHILOX_ROUNDS = 10
"""Rounds of Philox4x32 (the kernel's and ``tl.philox``'s)."""
# Box-Muller angles are 2 pi v - 3 pi for v uniform in [1, 2): in [-pi, pi).
TWO_PI = 6.283185307179586
THREE_PI = 9.42477796076938

_ROUND_A, _ROUND_B = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_KEY_A, _KEY_B = 0x9E3779B9, 0xBB67AE85
_LOW = np.uint64(0xFFFFFFFF)


def philox4x32(
    seed: int,
    c0: np.ndarray,
    c1: np.ndarray,
    c2: np.ndarray | None = None,
    c3: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Philox4x32-10 keyed by the 64-bit ``seed`` at counters (c0, c1, c2, c3), as
    ``tl.philox(seed, c0, c1, c2, c3)`` computes it; c2 and c3 are 0 by default (the kernel's
    counters). Four uint64 arrays holding 32-bit words."""
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    c0 = np.asarray(c0).astype(np.uint64)
    c1 = np.asarray(c1).astype(np.uint64)
    c2 = np.zeros_like(c0) if c2 is None else np.asarray(c2).astype(np.uint64)
    c3 = np.zeros_like(c0) if c3 is None else np.asarray(c3).astype(np.uint64)
    for _ in range(PHILOX_ROUNDS):
        prod_b = _ROUND_B * c2  # < 2**64: both factors < 2**32
        prod_a = _ROUND_A * c0
        c0, c2, c1, c3 = (
            (prod_b >> np.uint64(32)) ^ c1 ^ np.uint64(k0),
            (prod_a >> np.uint64(32)) ^ c3 ^ np.uint64(k1),
            prod_b & _LOW,
            prod_a & _LOW,
        )
        k0 = (k0 + _KEY_A) & 0xFFFFFFFF
        k1 = (k1 + _KEY_B) & 0xFFFFFFFF
    return c0, c1, c2, c3


def reference_normals(seed: int, n_paths: int, n_times: int, *, c2: int = 0) -> np.ndarray:
    """(n_paths, n_times) float64: the normals the kernel draws for ``seed``, by NumPy.

    Path 4 g + k at time j gets the k-th of the four normals made from Philox at counter
    (j, g, c2, 0) (the kernel's c2 is 0; pathfit's CPU stream numbers other processes' normals
    with c2 > 0). Box-Muller is done in float64 from the same uniforms (the kernel uses float32
    and fast hardware sin, cos and log2, so its normals differ from these by about 1e-6; the
    CPU generator, ``pathfit._philox``, by a few units in the last place).
    """
    groups = -(-n_paths // 4)
    c0 = np.broadcast_to(np.arange(n_times, dtype=np.uint64)[None, :], (groups, n_times))
    c1 = np.broadcast_to(np.arange(groups, dtype=np.uint64)[:, None], (groups, n_times))
    i0, i1, i2, i3 = philox4x32(int(seed), c0, c1, np.full_like(c0, c2))

    def radius(i: np.ndarray) -> np.ndarray:
        # u = fma(float32(i), 2^-32, 2^-33) rounded to float32, as in the kernel
        u = i.astype(np.float32).astype(np.float64) * 2.0**-32 + 2.0**-33
        u = u.astype(np.float32).astype(np.float64)
        return np.sqrt(np.maximum(-2.0 * np.log(u), 0.0))

    def angle(i: np.ndarray) -> np.ndarray:
        v = 1.0 + (i >> np.uint64(9)).astype(np.float64) * 2.0**-23
        return v * TWO_PI - THREE_PI

    r0, r2 = radius(i0), radius(i2)
    th1, th3 = angle(i1), angle(i3)
    z = np.stack([r0 * np.cos(th1), r0 * np.sin(th1), r2 * np.cos(th3), r2 * np.sin(th3)], 1)
    return z.reshape(4 * groups, n_times)[:n_paths]


def reference_paths(
    process: ABM | GBM | OU, n_paths: int, times: torch.Tensor, seed: int
) -> torch.Tensor:
    """(n_paths, n_times) float64 paths of ``process`` from the kernel's own normals
    (``reference_normals``), through the process's exact transition, on the times' device."""
    if not isinstance(process, ABM | GBM | OU):
        raise InputError("process", type(process).__name__, "an ABM, GBM or OU process")
    t = times.to(torch.float64)
    z = torch.from_numpy(reference_normals(seed, n_paths, t.shape[0])).to(t.device)
    return process.values_from_normals(z, t)


def reference_design(
    process: ABM | GBM | OU,
    n_paths: int,
    times: torch.Tensor,
    powers: Sequence[int],
    seed: int,
) -> torch.Tensor:
    """float64 Phi (n_times, len(powers)) of ``reference_paths``: what ``fused_design``
    computes, without its float32 rounding and fast math. Holds all paths: for checks at small
    sizes."""
    powers = tuple(powers)
    if not powers or any(isinstance(q, bool) or not isinstance(q, int) or q < 0 for q in powers):
        raise InputError("powers", repr(powers), "a non-empty sequence of integers >= 0")
    x = reference_paths(process, n_paths, times, seed)
    # Phi_jb = (1/n) sum_i x_ij^q_b, by its definition (the kernels never import the design)
    return torch.stack([x.pow(q).mean(dim=0) for q in powers], dim=1)
