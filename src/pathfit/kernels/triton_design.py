"""The power design of ABM, GBM and OU paths in one fused Triton kernel, paths never stored.

``fused_design(process, n_paths, times, powers, seed)`` returns
Phi[j, b] = (1/n) sum_i x_ij^q_b, as ``power_design(process.sample_paths(...).values, powers)``
does, but draws the normals inside the kernel, scans each path over time in registers, raises
to the powers and reduces over paths, so x never reaches device memory.

Random numbers. Philox4x32-10 keyed by the seed, with counter (c0, c1, c2, c3) = (time index j,
path group i // 4, 0, 0): one call gives the four normals of paths 4g .. 4g + 3 at time j (two
Box-Muller pairs; radii from 32-bit uniforms, so tails reach 6.8 sigma). On the GPU Philox is
written out with one wide multiply (``mul.wide.u32``) per product and its first round folded,
bit for bit ``tl.philox``. Each (path, time) thus has its own fixed normal whatever the tiling,
the chunking or the split of the work, and the same seed gives the same Phi, bit for bit, on
the same device. ``reference_normals`` (``pathfit.kernels``) recomputes these normals with
NumPy (float64 Box-Muller from the same 32-bit integers), and ``reference_design`` drives the
processes' own exact transitions with them in float64, so the kernel is checked against the
processes' law on the same draws. The stream is not torch's: the kernel's Phi equals torch's in
law, not draw for draw.

Work split. A program owns ``128 * warps * columns`` paths and one chunk of consecutive times,
walked in tiles of ``block_t`` times; within a tile each thread holds whole columns of time, so
the scan over time (``tl.cumsum`` for ABM and log-GBM, ``tl.associative_scan`` with an
affine-map combine for OU) runs in registers, and the powers are summed over the thread's
paths before a warp reduction. Few paths and many times split the time axis into chunks: pass
1 regenerates each chunk's normals and sums its total increment (for OU, the chunk's affine map
x -> A x + B: A depends on the times only, B is a weighted sum of the normals), a small scan
over chunks gives each chunk its starting values, and pass 2 does the real work from them.
Each program writes its float32 sums over its paths per (time, power) to a partial buffer,
which a last kernel sums over programs in float64 in a fixed order: no atomics, so the result
is deterministic. A first small kernel computes the per-time coefficients in float64 from the
times. Five launches in all (three when the time axis is not split); x is never stored.

Precision: float32 inside the kernel (normals from fast hardware sin/cos/log2, the scan, the
powers, the sum over a program's paths), float64 for the coefficients and across programs.
Measured against the float64 reference on the same normals: relative error ~1e-6 per column
(benchmarks/gpu_notes.md).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

import numpy as np
import torch

from pathfit.exceptions import InputError
from pathfit.kernels._reference import PHILOX_ROUNDS, THREE_PI, TWO_PI
from pathfit.kernels._reference import reference_design as reference_design
from pathfit.kernels._reference import reference_normals as reference_normals
from pathfit.processes import ABM, GBM, OU

try:
    import triton
    import triton.language as tl

    _HAVE_TRITON = True
except Exception:  # triton missing or broken: available() says False
    triton = None
    tl = None
    _HAVE_TRITON = False

_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"
"""Under Triton's CPU interpreter the kernels run on CPU tensors, with exact math functions."""

MAX_COLUMNS = 8
"""At most this many powers per call."""
MAX_POWER = 16

_ABM, _GBM, _OU = 0, 1, 2
_TWO_LN2 = 1.3862943611198906  # -2 ln u = -2 ln 2 log2 u


@dataclass(frozen=True)
class KernelConfig:
    """How the work is split; none of it changes the normals drawn, only rounding.

    Attributes:
        block_t: times per tile (a power of two).
        warps: warps per program; None: chosen with ``columns``.
        columns: groups of 4 paths per thread; a program owns 128 * warps * columns paths.
            None (with warps None): 2 warps of 2 columns (512 paths) for up to 3 powers, 1
            warp of 2 columns from 4 powers up (8 powers of 16 paths a thread spill), fewer
            paths a program while that leaves fewer than ``target_programs`` programs.
        target_programs: split the time axis until about this many programs run.
        min_tiles_per_chunk: never split the time axis finer than this many tiles a chunk.
        max_chunks: at most this many time chunks.
        chunks: force this many time chunks (tests), else chosen from the above.
    """

    block_t: int = 8
    warps: int | None = None
    columns: int | None = None
    target_programs: int = 4096
    min_tiles_per_chunk: int = 2
    max_chunks: int = 2048
    chunks: int | None = None

    def resolved(self, n_powers: int, n_paths: int, n_times: int) -> KernelConfig:
        """This config with ``warps`` and ``columns`` chosen for the problem."""
        if self.warps is not None and self.columns is not None:
            return self
        if self.warps is not None or self.columns is not None:
            return replace(self, warps=self.warps or 1, columns=self.columns or 1)
        # (warps, columns): measured on an H100, 2 warps of 2 columns beat 1 warp of 4 for
        # a few powers; from 4 powers up, 2 warps pay a barrier per power and tile: 1 warp
        shapes = [(2, 2), (2, 1), (1, 1)] if n_powers <= 3 else [(1, 2), (1, 1)]
        n_tiles = -(-n_times // self.block_t)
        most_chunks = max(1, min(self.max_chunks, n_tiles // self.min_tiles_per_chunk))
        for warps, columns in shapes:
            blocks = -(-n_paths // (128 * warps * columns))
            if self.chunks is not None or blocks * most_chunks >= self.target_programs:
                break
        return replace(self, warps=warps, columns=columns)

    @property
    def block_p(self) -> int:
        return 128 * (self.warps or 1) * (self.columns or 1)


DEFAULT_CONFIG = KernelConfig()


def available() -> bool:
    """True when Triton imports and torch sees a CUDA device; never raises."""
    try:
        return _HAVE_TRITON and bool(torch.cuda.is_available())
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------
# Triton kernels
# ---------------------------------------------------------------------------------------------

if _HAVE_TRITON:
    _K_TWO_LN2 = tl.constexpr(_TWO_LN2)
    _K_TWO_PI = tl.constexpr(TWO_PI)
    _K_THREE_PI = tl.constexpr(THREE_PI)
    _K_ROUNDS = tl.constexpr(PHILOX_ROUNDS)

    if _INTERPRET:

        @triton.jit
        def _sin(x):
            return tl.sin(x)

        @triton.jit
        def _cos(x):
            return tl.cos(x)

        @triton.jit
        def _log2(x):
            return tl.log2(x)

        @triton.jit
        def _philox(seed, c0, c1):
            zero = c0 * 0
            return tl.philox(seed, c0, c1, zero, zero, _K_ROUNDS)

    else:
        from triton.language.extra.cuda import libdevice

        @triton.jit
        def _sin(x):
            return libdevice.fast_sinf(x)  # sin.approx: abs error ~2^-21 on [-pi, pi]

        @triton.jit
        def _cos(x):
            return libdevice.fast_cosf(x)

        @triton.jit
        def _log2(x):
            return libdevice.fast_log2f(x)  # lg2.approx

        @triton.jit
        def _mulwide_a(x):
            """(hi, lo) of x * 0xD2511F53: one IMAD.WIDE instead of IMAD + IMAD.HI."""
            return tl.inline_asm_elementwise(
                "{ .reg .b64 t; mul.wide.u32 t, $2, 0xD2511F53; mov.b64 {$1, $0}, t; }",
                "=r,=r,r",
                [x],
                dtype=(tl.uint32, tl.uint32),
                is_pure=True,
                pack=1,
            )

        @triton.jit
        def _mulwide_b(x):
            """(hi, lo) of x * 0xCD9E8D57."""
            return tl.inline_asm_elementwise(
                "{ .reg .b64 t; mul.wide.u32 t, $2, 0xCD9E8D57; mov.b64 {$1, $0}, t; }",
                "=r,=r,r",
                [x],
                dtype=(tl.uint32, tl.uint32),
                is_pure=True,
                pack=1,
            )

        @triton.jit
        def _philox(seed, c0, c1):
            """tl.philox(seed, c0, c1, 0, 0) with 10 rounds, bit for bit, in fewer
            instructions: the first round folded (c2 = c3 = 0) and wide multiplies."""
            seed = seed.to(tl.uint64)
            k0 = (seed & 0xFFFFFFFF).to(tl.uint32)
            k1 = ((seed >> 32) & 0xFFFFFFFF).to(tl.uint32)
            c0 = c0.to(tl.uint32)
            c1 = c1.to(tl.uint32)
            hi_a, lo_a = _mulwide_a(c0)
            c0 = c1 ^ k0
            c2 = hi_a ^ k1
            c1 = c0 * 0
            c3 = lo_a
            for _ in tl.static_range(_K_ROUNDS - 1):
                k0 = tl.add(k0, 0x9E3779B9, sanitize_overflow=False)
                k1 = tl.add(k1, 0xBB67AE85, sanitize_overflow=False)
                hi_b, lo_b = _mulwide_b(c2)
                hi_a, lo_a = _mulwide_a(c0)
                c0 = hi_b ^ c1 ^ k0
                c2 = hi_a ^ c3 ^ k1
                c1 = lo_b
                c3 = lo_a
            return c0, c1, c2, c3

    @triton.jit
    def _normals4(seed, c0, c1):
        """Four standard normals per element: Philox4x32-10 at counter (c0, c1, 0, 0), then
        two Box-Muller pairs. Radii from 32-bit uniforms in (0, 1] (tail to 6.7 sigma),
        angles from 23-bit uniforms in [-pi, pi)."""
        i0, i1, i2, i3 = _philox(seed, c0, c1)
        u0 = i0.to(tl.float32) * 2.3283064365386963e-10 + 1.1641532182693481e-10
        u2 = i2.to(tl.float32) * 2.3283064365386963e-10 + 1.1641532182693481e-10
        r0 = tl.sqrt(tl.maximum(-_K_TWO_LN2 * _log2(u0), 0.0))
        r2 = tl.sqrt(tl.maximum(-_K_TWO_LN2 * _log2(u2), 0.0))
        v1 = ((i1 >> 9) | 0x3F800000).to(tl.float32, bitcast=True)  # [1, 2)
        v3 = ((i3 >> 9) | 0x3F800000).to(tl.float32, bitcast=True)
        th1 = v1 * _K_TWO_PI - _K_THREE_PI
        th3 = v3 * _K_TWO_PI - _K_THREE_PI
        return r0 * _cos(th1), r0 * _sin(th1), r2 * _cos(th3), r2 * _sin(th3)

    @triton.jit
    def _affine(a1, b1, a2, b2):
        """Compose x -> a1 x + b1, then x -> a2 x + b2."""
        return a1 * a2, a2 * b1 + b2

    @triton.jit
    def _step(z, carry, scale, decay, shift, first, last, KIND: tl.constexpr):
        """One tile of one group of paths: values x (block_t, P4) and the carry after it."""
        if KIND == 2:
            # d_j = a_j d_(j-1) + b_j z_j, the carry folded into the first element
            inc = scale * z + tl.where(first, decay * carry[None, :], -0.0)
            _, y = tl.associative_scan((tl.broadcast_to(decay, inc.shape), inc), 0, _affine)
        else:
            inc = scale * z + tl.where(first, carry[None, :], -0.0)
            y = tl.cumsum(inc, axis=0)
        new_carry = tl.sum(tl.where(last, y, -0.0), axis=0)  # the last row; -0.0 adds fold away
        if KIND == 1:  # noqa: SIM108 - a compile-time branch in Triton
            x = tl.exp2(shift + y)  # GBM in log2 units
        else:
            x = shift + y
        return x, new_carry

    @triton.jit
    def _ipow(x, Q: tl.constexpr):
        r = x
        for _ in tl.static_range(Q - 1):
            r = r * x
        return r

    @triton.jit
    def _colsum(x0, x1, x2, x3, count, Q: tl.constexpr):
        """Sum over the tile's paths of x^Q, per time; Q = 0 counts the live paths."""
        if Q == 0:
            return tl.zeros((x0.shape[0],), tl.float32) + count
        return tl.sum(_ipow(x0, Q) + _ipow(x1, Q) + _ipow(x2, Q) + _ipow(x3, Q), axis=1)

    @triton.jit(do_not_specialize=["seed"])
    def _design_kernel(
        part_ptr,
        scale_ptr,
        shift_ptr,
        decay_ptr,
        start_ptr,
        seed: tl.uint64,
        init,
        n_paths,
        n_pad,
        m_pad,
        chunk_len,
        KIND: tl.constexpr,
        BLOCK_T: tl.constexpr,
        P4: tl.constexpr,
        HAS_CARRY: tl.constexpr,
        MASK_P: tl.constexpr,
        NQ: tl.constexpr,
        Q0: tl.constexpr,
        Q1: tl.constexpr,
        Q2: tl.constexpr,
        Q3: tl.constexpr,
        Q4: tl.constexpr,
        Q5: tl.constexpr,
        Q6: tl.constexpr,
        Q7: tl.constexpr,
    ):
        """Pass 2: part[pb, j, b] = sum over this program's paths of x_ij^Q_b."""
        pb = tl.program_id(0)
        ch = tl.program_id(1)
        g = pb * P4 + tl.arange(0, P4)  # path groups of 4
        rows = tl.arange(0, BLOCK_T)
        first = (rows == 0)[:, None]
        last = (rows == BLOCK_T - 1)[:, None]
        c1 = tl.broadcast_to(g[None, :], (BLOCK_T, P4)).to(tl.uint32)
        p0 = 4 * g
        if HAS_CARRY:
            base = start_ptr + ch.to(tl.int64) * n_pad + p0
            y0 = tl.load(base)
            y1 = tl.load(base + 1)
            y2 = tl.load(base + 2)
            y3 = tl.load(base + 3)
        else:
            y0 = tl.zeros((P4,), tl.float32) + init
            y1 = y0
            y2 = y0
            y3 = y0
        t_begin = ch * chunk_len
        out_base = part_ptr + pb.to(tl.int64) * m_pad * NQ
        count = tl.minimum(n_paths - pb * (4 * P4), 4 * P4).to(tl.float32)
        for dt0 in range(0, chunk_len, BLOCK_T):
            t = t_begin + dt0 + rows
            scale = tl.load(scale_ptr + t)[:, None]
            shift = tl.load(shift_ptr + t)[:, None]
            if KIND == 2:  # noqa: SIM108 - a compile-time branch in Triton
                decay = tl.load(decay_ptr + t)[:, None]
            else:
                decay = scale
            c0 = tl.broadcast_to(t[:, None], (BLOCK_T, P4)).to(tl.uint32)
            z0, z1, z2, z3 = _normals4(seed, c0, c1)
            x0, y0 = _step(z0, y0, scale, decay, shift, first, last, KIND)
            x1, y1 = _step(z1, y1, scale, decay, shift, first, last, KIND)
            x2, y2 = _step(z2, y2, scale, decay, shift, first, last, KIND)
            x3, y3 = _step(z3, y3, scale, decay, shift, first, last, KIND)
            if MASK_P:
                x0 = tl.where((p0 < n_paths)[None, :], x0, 0.0)
                x1 = tl.where((p0 + 1 < n_paths)[None, :], x1, 0.0)
                x2 = tl.where((p0 + 2 < n_paths)[None, :], x2, 0.0)
                x3 = tl.where((p0 + 3 < n_paths)[None, :], x3, 0.0)
            out = out_base + t * NQ
            tl.store(out, _colsum(x0, x1, x2, x3, count, Q0))
            if NQ > 1:
                tl.store(out + 1, _colsum(x0, x1, x2, x3, count, Q1))
            if NQ > 2:
                tl.store(out + 2, _colsum(x0, x1, x2, x3, count, Q2))
            if NQ > 3:
                tl.store(out + 3, _colsum(x0, x1, x2, x3, count, Q3))
            if NQ > 4:
                tl.store(out + 4, _colsum(x0, x1, x2, x3, count, Q4))
            if NQ > 5:
                tl.store(out + 5, _colsum(x0, x1, x2, x3, count, Q5))
            if NQ > 6:
                tl.store(out + 6, _colsum(x0, x1, x2, x3, count, Q6))
            if NQ > 7:
                tl.store(out + 7, _colsum(x0, x1, x2, x3, count, Q7))

    @triton.jit(do_not_specialize=["seed"])
    def _chunk_kernel(
        agg_ptr,
        weight_ptr,
        seed: tl.uint64,
        n_pad,
        chunk_len,
        BLOCK_T: tl.constexpr,
        P4: tl.constexpr,
    ):
        """Pass 1: agg[ch, i] = sum over chunk ch of w_j z_ij, the same normals as pass 2."""
        pb = tl.program_id(0)
        ch = tl.program_id(1)
        g = pb * P4 + tl.arange(0, P4)
        rows = tl.arange(0, BLOCK_T)
        c1 = tl.broadcast_to(g[None, :], (BLOCK_T, P4)).to(tl.uint32)
        acc0 = tl.zeros((P4,), tl.float32)
        acc1 = acc0
        acc2 = acc0
        acc3 = acc0
        t_begin = ch * chunk_len
        for dt0 in range(0, chunk_len, BLOCK_T):
            t = t_begin + dt0 + rows
            w = tl.load(weight_ptr + t)[:, None]
            c0 = tl.broadcast_to(t[:, None], (BLOCK_T, P4)).to(tl.uint32)
            z0, z1, z2, z3 = _normals4(seed, c0, c1)
            acc0 += tl.sum(w * z0, axis=0)
            acc1 += tl.sum(w * z1, axis=0)
            acc2 += tl.sum(w * z2, axis=0)
            acc3 += tl.sum(w * z3, axis=0)
        base = agg_ptr + ch.to(tl.int64) * n_pad + 4 * g
        tl.store(base, acc0)
        tl.store(base + 1, acc1)
        tl.store(base + 2, acc2)
        tl.store(base + 3, acc3)

    @triton.jit
    def _carry_kernel(
        start_ptr,
        agg_ptr,
        times_ptr,
        init,
        theta: tl.float64,
        m,
        n_pad,
        n_chunks,
        chunk_len,
        KIND: tl.constexpr,
        NCH: tl.constexpr,
        BN: tl.constexpr,
    ):
        """start[0] = init; start[c + 1] = A_c start[c] + B_c: each chunk's starting value.

        A_c, the chunk's decay, is 1 but for OU: exp(-theta (end time of c - end time of c-1)).
        """
        cols = tl.program_id(0) * BN + tl.arange(0, BN)
        rows = tl.arange(0, NCH)
        live = rows < n_chunks - 1
        mask = live[:, None] & (cols < n_pad)[None, :]
        b = tl.load(agg_ptr + rows[:, None] * n_pad + cols[None, :], mask=mask, other=0.0)
        if KIND == 2:
            end = tl.load(times_ptr + tl.minimum((rows + 1) * chunk_len, m) - 1, mask=live)
            before = tl.load(
                times_ptr + tl.maximum(tl.minimum(rows * chunk_len, m) - 1, 0),
                mask=live & (rows > 0),
                other=0.0,
            )
            gap = end.to(tl.float64) - before.to(tl.float64)
            a = tl.where(live, tl.exp(-theta * gap), 1.0).to(tl.float32)[:, None]
        else:
            a = tl.full((NCH, 1), 1.0, tl.float32)
        acum, bcum = tl.associative_scan((tl.broadcast_to(a, b.shape), b), 0, _affine)
        tl.store(start_ptr + (rows[:, None] + 1) * n_pad + cols[None, :], acum * init + bcum, mask)
        tl.store(start_ptr + cols, tl.zeros((BN,), tl.float32) + init, mask=cols < n_pad)

    @triton.jit
    def _finish_kernel(
        phi_ptr,
        part_ptr,
        n_blocks,
        total,
        block_stride,
        n_paths: tl.float64,
        BB: tl.constexpr,
        BE: tl.constexpr,
    ):
        """phi[e] = (sum over programs of part[b, e]) / n, in float64, in a fixed order."""
        e = tl.program_id(0) * BE + tl.arange(0, BE)
        live = e < total
        acc = tl.zeros((BE,), tl.float64)
        for b0 in range(0, n_blocks, BB):
            rb = b0 + tl.arange(0, BB)
            mask = (rb < n_blocks)[:, None] & live[None, :]
            offsets = rb[:, None].to(tl.int64) * block_stride + e[None, :]
            tile = tl.load(part_ptr + offsets, mask=mask, other=0.0)
            acc += tl.sum(tile.to(tl.float64), axis=0)
        tl.store(phi_ptr + e, acc / n_paths, mask=live)

    @triton.jit
    def _prep_kernel(
        coef_ptr,
        times_ptr,
        m,
        m_pad,
        chunk_len,
        base: tl.float64,
        drift: tl.float64,
        sigma: tl.float64,
        theta: tl.float64,
        KIND: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        """Per-time coefficients, in float64 from the times, stored as float32 rows:
        coef[0] = scale, coef[1] = shift, coef[2] = decay, coef[3] = weight (see
        ``_coefficient_params``). Times past m repeat the last one (dt = 0)."""
        j = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = j < m_pad
        t = tl.load(times_ptr + tl.minimum(j, m - 1), mask=live, other=0.0).to(tl.float64)
        before = tl.load(times_ptr + tl.maximum(tl.minimum(j, m) - 1, 0), mask=live & (j > 0))
        before = tl.where(j > 0, before.to(tl.float64), 0.0)
        dt = tl.maximum(t - before, 0.0)
        if KIND == 2:
            decay = tl.exp(-theta * dt)
            x = 2.0 * theta * dt
            one_minus = tl.where(x < 1e-3, x * (1.0 - x * (0.5 - x / 6.0)), 1.0 - tl.exp(-x))
            scale = sigma * tl.sqrt(one_minus / (2.0 * theta))
            shift = tl.zeros_like(t) + base
            end_index = tl.minimum((j // chunk_len + 1) * chunk_len, m) - 1
            end = tl.load(times_ptr + end_index, mask=live, other=0.0).to(tl.float64)
            weight = scale * tl.exp(-theta * (end - t))
        else:
            scale = sigma * tl.sqrt(dt)
            shift = base + drift * t
            if KIND == 1:  # GBM works in log2 units
                scale = scale * 1.4426950408889634
                shift = shift * 1.4426950408889634
            decay = tl.zeros_like(t) + 1.0
            weight = scale
        tl.store(coef_ptr + j, scale.to(tl.float32), mask=live)
        tl.store(coef_ptr + m_pad + j, shift.to(tl.float32), mask=live)
        tl.store(coef_ptr + 2 * m_pad + j, decay.to(tl.float32), mask=live)
        tl.store(coef_ptr + 3 * m_pad + j, weight.to(tl.float32), mask=live)


# ---------------------------------------------------------------------------------------------
# Host side
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    block_p: int
    n_blocks: int  # path blocks
    n_chunks: int
    chunk_len: int  # times per chunk, a multiple of block_t

    @property
    def n_pad(self) -> int:
        return self.n_blocks * self.block_p

    @property
    def m_pad(self) -> int:
        return self.n_chunks * self.chunk_len


def _plan(n_paths: int, n_times: int, config: KernelConfig) -> _Plan:
    block_p = config.block_p
    n_blocks = -(-n_paths // block_p)
    n_tiles = -(-n_times // config.block_t)
    if config.chunks is not None:
        n_chunks = config.chunks
    else:
        n_chunks = -(-config.target_programs // n_blocks)
        n_chunks = min(n_chunks, n_tiles // config.min_tiles_per_chunk, config.max_chunks)
    n_chunks = max(1, min(n_chunks, n_tiles))
    tiles = -(-n_tiles // n_chunks)
    n_chunks = -(-n_tiles // tiles)
    return _Plan(block_p, n_blocks, n_chunks, tiles * config.block_t)


def _coefficient_params(process: ABM | GBM | OU) -> tuple[int, float, float, float, float, float]:
    """(kind, base, drift, sigma, theta, init) for ``_prep_kernel``.

    The kernel computes y_j = a_j y_(j-1) + scale_j z_j (a = decay, 1 but for OU) from
    y = init, and x_j = shift_j + y_j (ABM, OU) or exp2(shift_j + y_j) (GBM):
    ABM: scale = sigma sqrt(dt), shift = x0 + mu t;
    GBM: the same for log x in log2 units, shift = (log x0 + (mu - sigma^2 / 2) t) log2(e);
    OU:  a = exp(-theta dt), scale = sigma sqrt((1 - a^2) / (2 theta)), shift = mu, y = x - mu.
    Pass 1 sums weight_j z_j over each chunk: weight = scale, but for OU scale_j times
    exp(-theta (end time of the chunk - t_j)), the normal's share in the chunk's end value.
    """
    sigma = float(process.sigma)
    if isinstance(process, OU):
        mu = float(process.mu)
        return _OU, mu, 0.0, sigma, float(process.theta), float(process.x0) - mu
    if isinstance(process, GBM):
        drift = float(process.mu) - 0.5 * sigma**2
        return _GBM, math.log(float(process.x0)), drift, sigma, 1.0, 0.0
    if isinstance(process, ABM):
        return _ABM, float(process.x0), float(process.mu), sigma, 1.0, 0.0
    raise InputError("process", type(process).__name__, "an ABM, GBM or OU process")


def _check_inputs(
    process: object, n_paths: int, times: torch.Tensor, powers: tuple[int, ...], seed: int, check
) -> tuple[int, ...]:
    if not isinstance(process, ABM | GBM | OU):
        raise InputError("process", type(process).__name__, "an ABM, GBM or OU process")
    if isinstance(n_paths, bool) or not isinstance(n_paths, int | np.integer) or n_paths < 1:
        raise InputError("n_paths", repr(n_paths), "an integer >= 1")
    if n_paths >= 2**32:
        raise InputError("n_paths", n_paths, "fewer than 2**32 paths")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**64:
        raise InputError("seed", repr(seed), "an integer in [0, 2**64)")
    if not isinstance(times, torch.Tensor) or times.ndim != 1 or times.shape[0] < 1:
        raise InputError("times", type(times).__name__, "a non-empty 1-D tensor")
    if times.shape[0] >= 2**31:
        raise InputError("times", times.shape[0], "fewer than 2**31 times")
    if not times.is_floating_point():
        raise InputError("times", times.dtype, "a float32 or float64 tensor")
    if times.device.type != "cuda" and not _INTERPRET:
        raise InputError("times", f"a tensor on {times.device}", "a CUDA tensor")
    powers = tuple(powers)
    if (
        not powers
        or len(powers) > MAX_COLUMNS
        or any(isinstance(q, bool) or not isinstance(q, int | np.integer) for q in powers)
        or any(not 0 <= q <= MAX_POWER for q in powers)
    ):
        raise InputError("powers", repr(powers), f"1 to {MAX_COLUMNS} integers in [0, {MAX_POWER}]")
    if check:  # these two read back from the device
        if bool((times < 0).any()):
            raise InputError("times", f"{times.min().item()}", "times >= 0")
        if times.shape[0] > 1 and bool((times[1:] < times[:-1]).any()):
            raise InputError("times", "unsorted times", "times sorted ascending")
    return tuple(int(q) for q in powers)


def fused_design(
    process: ABM | GBM | OU,
    n_paths: int,
    times: torch.Tensor,
    powers: tuple[int, ...],
    seed: int,
    *,
    check: bool = True,
    config: KernelConfig | None = None,
) -> torch.Tensor:
    """Phi (n_times, len(powers)) float64 of ``n_paths`` paths of ``process``, on the GPU.

    Equal in law to ``power_design(process.sample_paths(n_paths, times, seed=s).values,
    powers)``; the normals come from the kernel's own Philox stream (see the module doc), so
    the same seed gives the same Phi here but not the same as torch's sampler.

    Args:
        process: an ABM, GBM or OU instance.
        n_paths: number of paths, >= 1.
        times: (n_times,) sorted CUDA tensor of observation times >= 0, float32 or float64.
        powers: 1 to 8 integer powers q, each in [0, 16].
        seed: integer in [0, 2**64).
        check: validate the times' order and sign (one device read-back; off for timing).
        config: how the work is split (tuning and tests); the default suits an H100.
    """
    if not _HAVE_TRITON:
        raise RuntimeError("pathfit.kernels.triton_design needs triton, which is not installed")
    powers = _check_inputs(process, n_paths, times, powers, seed, check)
    n_paths, seed = int(n_paths), int(seed)
    m = times.shape[0]
    device = times.device
    if all(q == 0 for q in powers):
        return torch.ones((m, len(powers)), dtype=torch.float64, device=device)
    config = (DEFAULT_CONFIG if config is None else config).resolved(
        sum(1 for q in powers if q > 0), n_paths, m
    )
    plan = _plan(n_paths, m, config)
    kind, base, drift, sigma, theta, init = _coefficient_params(process)
    times = times.contiguous()
    coef = torch.empty((4, plan.m_pad), dtype=torch.float32, device=device)
    _prep_kernel[(triton.cdiv(plan.m_pad, 1024),)](
        coef,
        times,
        m,
        plan.m_pad,
        plan.chunk_len,
        base,
        drift,
        sigma,
        theta,
        KIND=kind,
        BLOCK=1024,
        num_warps=4,
    )
    scale, shift, decay, weight = coef
    p4 = plan.block_p // 4
    has_carry = plan.n_chunks > 1
    if has_carry:
        agg = torch.empty((plan.n_chunks, plan.n_pad), dtype=torch.float32, device=device)
        _chunk_kernel[(plan.n_blocks, plan.n_chunks)](
            agg,
            weight,
            seed,
            plan.n_pad,
            plan.chunk_len,
            BLOCK_T=config.block_t,
            P4=p4,
            num_warps=config.warps,
        )
        start = torch.empty_like(agg)
        nch = triton.next_power_of_2(plan.n_chunks)
        bn = max(1, min(64, 4096 // nch))
        _carry_kernel[(triton.cdiv(plan.n_pad, bn),)](
            start,
            agg,
            times,
            init,
            theta,
            m,
            plan.n_pad,
            plan.n_chunks,
            plan.chunk_len,
            KIND=kind,
            NCH=nch,
            BN=bn,
            num_warps=4,
        )
    else:
        start = scale  # unused
    nq = len(powers)
    qs = list(powers) + [1] * (MAX_COLUMNS - nq)
    part = torch.empty((plan.n_blocks, plan.m_pad, nq), dtype=torch.float32, device=device)
    _design_kernel[(plan.n_blocks, plan.n_chunks)](
        part,
        scale,
        shift,
        decay,
        start,
        seed,
        init,
        n_paths,
        plan.n_pad,
        plan.m_pad,
        plan.chunk_len,
        KIND=kind,
        BLOCK_T=config.block_t,
        P4=p4,
        HAS_CARRY=has_carry,
        MASK_P=n_paths != plan.n_pad,
        NQ=nq,
        Q0=qs[0],
        Q1=qs[1],
        Q2=qs[2],
        Q3=qs[3],
        Q4=qs[4],
        Q5=qs[5],
        Q6=qs[6],
        Q7=qs[7],
        num_warps=config.warps,
    )
    # float64 sum over the programs' float32 sums, in a fixed order: deterministic
    phi = torch.empty((m, nq), dtype=torch.float64, device=device)
    _finish_kernel[(triton.cdiv(m * nq, 256),)](
        phi, part, plan.n_blocks, m * nq, plan.m_pad * nq, float(n_paths), BB=16, BE=256
    )
    return phi
