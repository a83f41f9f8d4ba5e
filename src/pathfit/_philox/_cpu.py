"""The compiled CPU kernel of the counter-based normals (``pathfit._philox.fill_normals``).

Imported on first use: numba takes a second to import, and the kernel is compiled once, then
loaded from numba's on-disk cache (``cache=True``) by later processes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from pathfit._philox import (
    _C1,
    _C2,
    _C3,
    _C4,
    _C5,
    _C6,
    _INV_PIO2,
    _LG1,
    _LG2,
    _LG3,
    _LG4,
    _LG5,
    _LG6,
    _LG7,
    _LN2_HI,
    _LN2_LO,
    _PIO2_HI,
    _PIO2_LO,
    _S1,
    _S2,
    _S3,
    _S4,
    _S5,
    _S6,
    _SQRT2,
    KEY_A,
    KEY_B,
    PHILOX_ROUNDS,
    ROUND_A,
    ROUND_B,
    THREE_PI,
    TWO_PI,
)

_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_ROUND_A, _ROUND_B = np.uint64(ROUND_A), np.uint64(ROUND_B)
_KEY_A, _KEY_B = np.uint64(KEY_A), np.uint64(KEY_B)

# Each loop below is a plain loop over one row of counters, so that LLVM vectorizes it (Philox
# with 32 x 32 -> 64-bit lane multiplies, the float transforms 4 doubles wide), and without
# fast math, so a vector lane and the scalar remainder compute the same bits: a normal depends
# on its counter only, never on where it sits in a vector, a tile or a thread.
njit = numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)


@njit
def philox_row(k0, k1, c1, c2, counter0, w0, w1, w2, w3):
    """Philox4x32-10 at counters (counter0 + t, c1, c2, 0) into the uint32 rows w."""
    for t in range(w0.shape[0]):
        a0 = np.uint64(counter0 + t) & _MASK
        a1, a2, a3 = np.uint64(c1) & _MASK, np.uint64(c2) & _MASK, np.uint64(0)
        s0, s1 = np.uint64(k0), np.uint64(k1)
        for _ in range(PHILOX_ROUNDS):
            pb = _ROUND_B * a2
            pa = _ROUND_A * a0
            a0 = (pb >> _SHIFT) ^ a1 ^ s0
            a2 = (pa >> _SHIFT) ^ a3 ^ s1
            a1 = pb & _MASK
            a3 = pa & _MASK
            s0 = (s0 + _KEY_A) & _MASK
            s1 = (s1 + _KEY_B) & _MASK
        w0[t] = a0
        w1[t] = a1
        w2[t] = a2
        w3[t] = a3


@njit
def radius_row(words, unit, radius):
    """Box-Muller radii sqrt(-2 log u) from the int32 view of 32-bit words."""
    for t in range(words.shape[0]):
        x = np.float64(words[t])
        x = x + 4294967296.0 if x < 0.0 else x  # the word as unsigned
        # u = fma(float32(w), 2^-32, 2^-33) rounded to float32, as in the kernel
        unit[t] = np.float32(np.float64(np.float32(x)) * 2.0**-32 + 2.0**-33)
    bits = unit.view(np.int32)
    for t in range(words.shape[0]):
        b = bits[t]
        e = np.float64((b >> 23) - 127)
        m = 1.0 + np.float64(b & 0x7FFFFF) * 1.1920928955078125e-07
        high = m > _SQRT2
        m = m * 0.5 if high else m
        k = e + 1.0 if high else e
        # fdlibm log(m 2^k), m in [sqrt(2)/2, sqrt(2)]
        f = m - 1.0
        hfsq = 0.5 * f * f
        s = f / (2.0 + f)
        z = s * s
        w = z * z
        t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
        t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
        log_u = s * (hfsq + t1 + t2) + k * _LN2_LO - hfsq + f + k * _LN2_HI
        radius[t] = math.sqrt(max(-2.0 * log_u, 0.0))


@njit
def pair_rows(words, radius, out_cos, out_sin):
    """r cos(theta), r sin(theta) with theta = 2 pi v - 3 pi, v in [1, 2) from the top 23
    bits of the words (int32 view)."""
    for t in range(words.shape[0]):
        v = 1.0 + np.float64((words[t] >> 9) & 0x7FFFFF) * 1.1920928955078125e-07
        x = v * TWO_PI - THREE_PI
        # x = n pi/2 + r, |r| <= pi/4, then fdlibm's sin and cos of r
        n = np.floor(x * _INV_PIO2 + 0.5)
        r = (x - n * _PIO2_HI) - n * _PIO2_LO
        z = r * r
        w = z * z
        sr = _S2 + z * (_S3 + z * _S4) + z * w * (_S5 + z * _S6)
        sin_r = r + z * r * (_S1 + z * sr)
        cr = z * (_C1 + z * (_C2 + z * _C3)) + w * w * (_C4 + z * (_C5 + z * _C6))
        hz = 0.5 * z
        one_minus = 1.0 - hz
        cos_r = one_minus + (((1.0 - one_minus) - hz) + z * cr)
        n_abs = abs(n)  # n in {-2, ..., 2}
        c = cos_r if n == 0.0 else (-sin_r if n == 1.0 else (-cos_r if n_abs == 2.0 else sin_r))
        s = sin_r if n == 0.0 else (cos_r if n == 1.0 else (-sin_r if n_abs == 2.0 else -cos_r))
        out_cos[t] = radius[t] * c
        out_sin[t] = radius[t] * s


CHUNK = 512
"""Counters per pass of the kernels: their scratch rows (about 50 kB) stay in the L1 and L2
caches however long the tile."""


@njit
def scratch():
    """The kernels' scratch rows: 32-bit words, float32 uniforms and radii for CHUNK counters."""
    words = np.empty((4, CHUNK), np.uint32)
    return words, np.empty(CHUNK, np.float32), np.empty((2, CHUNK), np.float64)


@njit
def normals4(k0, k1, group, c2, counter0, words, unit, radii, z0, z1, z2, z3):
    """The normals of paths 4 group .. 4 group + 3 at counters counter0 .. + len(z0) (at most
    CHUNK) into the rows z0 .. z3."""
    width = z0.shape[0]
    signed = words.view(np.int32)
    philox_row(
        k0, k1, group, c2, counter0, words[0, :width], words[1, :width], words[2, :width],
        words[3, :width],
    )  # fmt: skip
    radius_row(signed[0, :width], unit[:width], radii[0, :width])
    radius_row(signed[2, :width], unit[:width], radii[1, :width])
    pair_rows(signed[1, :width], radii[0, :width], z0, z1)
    pair_rows(signed[3, :width], radii[1, :width], z2, z3)


@njit
def fill(k0, k1, group0, c2, counter0, out):
    """out[r, t] = the normal of path 4 group0 + r at counter (counter0 + t, ., c2, 0)."""
    n_rows, n_cols = out.shape
    words, unit, radii = scratch()
    spare = np.empty((4, CHUNK), np.float64)
    for g in range((n_rows + 3) // 4):
        live = min(4, n_rows - 4 * g)
        for first in range(0, n_cols, CHUNK):
            last = min(first + CHUNK, n_cols)
            if live == 4:
                normals4(
                    k0, k1, group0 + g, c2, counter0 + first, words, unit, radii,
                    out[4 * g, first:last], out[4 * g + 1, first:last],
                    out[4 * g + 2, first:last], out[4 * g + 3, first:last],
                )  # fmt: skip
            else:
                width = last - first
                normals4(
                    k0, k1, group0 + g, c2, counter0 + first, words, unit, radii,
                    spare[0, :width], spare[1, :width], spare[2, :width], spare[3, :width],
                )  # fmt: skip
                for r in range(live):
                    out[4 * g + r, first:last] = spare[r, :width]
