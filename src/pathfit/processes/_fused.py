"""One compiled pass per tile for the exact processes on the CPU: the "philox" stream's normals,
the exact transition, and the power sums over the tile's paths, the paths never written out.

Imported on first use (it imports numba; ``pathfit._philox`` says why). The tiling engine
calls ``tile_power_sums`` once per tile on its threads (the kernel releases the GIL).

The transition is the process's own (``AbstractExactProcess._fused_coefficients`` gives its
per-time coefficients, computed as ``_transform_normals`` computes them): for ABM and GBM
(log x) y_j = state + sum_(k <= j) (scale_k z_k + drift_k), summed in that order as torch's
cumsum does; for OU x_j - mu = decay_j (x_(j-1) - mu) + scale_j z_j. The paths' values agree
with the torch path's to rounding (torch fuses some multiply-adds, its exp is its own).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from pathfit._philox._cpu import CHUNK, normals4, scratch
from pathfit.processes._base import CUMULATIVE_EXP, RECURSIVE

njit = numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)


@njit
def _scan_cumulative(z, scale, drift, start, carry, x):
    """x_rj = start_r + the running sums carry_r (updated) of scale_j z_rj + drift_j, four
    paths at once: four independent chains keep the adder busy."""
    a0, a1, a2, a3 = carry[0], carry[1], carry[2], carry[3]
    for j in range(scale.shape[0]):
        a0 += z[0, j] * scale[j] + drift[j]
        a1 += z[1, j] * scale[j] + drift[j]
        a2 += z[2, j] * scale[j] + drift[j]
        a3 += z[3, j] * scale[j] + drift[j]
        x[0, j] = a0 + start[0]
        x[1, j] = a1 + start[1]
        x[2, j] = a2 + start[2]
        x[3, j] = a3 + start[3]
    carry[0], carry[1], carry[2], carry[3] = a0, a1, a2, a3


@njit
def _scan_recursive(z, scale, decay, offset, carry, x):
    """x_rj - offset = decay_j (x_r(j-1) - offset) + scale_j z_rj, the deviations carried in
    ``carry`` (updated)."""
    d0, d1, d2, d3 = carry[0], carry[1], carry[2], carry[3]
    for j in range(scale.shape[0]):
        d0 = d0 * decay[j] + z[0, j] * scale[j]
        d1 = d1 * decay[j] + z[1, j] * scale[j]
        d2 = d2 * decay[j] + z[2, j] * scale[j]
        d3 = d3 * decay[j] + z[3, j] * scale[j]
        x[0, j] = d0 + offset
        x[1, j] = d1 + offset
        x[2, j] = d2 + offset
        x[3, j] = d3 + offset
    carry[0], carry[1], carry[2], carry[3] = d0, d1, d2, d3


@njit
def _exp_row(x):
    for j in range(x.shape[0]):
        x[j] = math.exp(x[j])


@njit
def _add_powers(x, column, power, sums, first):
    """sums[column[q], first + j] += x_j^q for every q with column[q] >= 0, x^q built by
    products (x^2 = x x, x^3 = x^2 x, ...), one pass per power."""
    width = x.shape[0]
    for q in range(column.shape[0]):
        c = column[q]
        if q == 0:
            if c >= 0:
                out = sums[c, first : first + width]
                for j in range(width):
                    out[j] += 1.0
        elif q == 1:
            if c >= 0:
                out = sums[c, first : first + width]
                for j in range(width):
                    out[j] += x[j]
        else:
            source = x if q == 2 else power
            if c >= 0:
                out = sums[c, first : first + width]
                for j in range(width):
                    p = source[j] * x[j]
                    power[j] = p
                    out[j] += p
            else:
                for j in range(width):
                    power[j] = source[j] * x[j]


@njit
def tile_power_sums(
    k0, k1, first_group, first_counter, kind, scale, drift, decay, offset, state, column, sums
):
    """Add sum over the tile's paths of x_ij^q to ``sums[column[q], j]`` (float64,
    (n_columns, n_times)); ``state`` (n_paths,) holds each path's state before the tile (y for
    ABM, log x for GBM, x for OU) and is updated to its state at the tile's last time. Paths
    are added in their order, so the sums do not depend on threads or tiling."""
    n_rows = state.shape[0]
    n_cols = scale.shape[0]
    words, unit, radii = scratch()
    z = np.empty((4, CHUNK), np.float64)
    x = np.empty((4, CHUNK), np.float64)
    power = np.empty(CHUNK, np.float64)
    start = np.zeros(4, np.float64)
    carry = np.zeros(4, np.float64)
    for g in range((n_rows + 3) // 4):
        live = min(4, n_rows - 4 * g)
        for r in range(live):
            start[r] = state[4 * g + r]
        for r in range(4):
            carry[r] = start[r] - offset if kind == RECURSIVE else 0.0
        for first in range(0, n_cols, CHUNK):
            last = min(first + CHUNK, n_cols)
            width = last - first
            normals4(
                k0, k1, first_group + g, 0, first_counter + first, words, unit, radii,
                z[0, :width], z[1, :width], z[2, :width], z[3, :width],
            )  # fmt: skip
            if kind == RECURSIVE:
                _scan_recursive(z, scale[first:last], decay[first:last], offset, carry, x)
            else:
                _scan_cumulative(z, scale[first:last], drift[first:last], start, carry, x)
            for r in range(live):
                if last == n_cols:
                    state[4 * g + r] = x[r, width - 1]
                if kind == CUMULATIVE_EXP:
                    _exp_row(x[r, :width])
                _add_powers(x[r, :width], column, power[:width], sums, first)


@njit
def dataset_power_sums(
    k0, k1, path_block, time_tile, kind, scale, drift, decay, offset, state, column, sums
):
    """``tile_power_sums`` over every tile of a whole simulation, in the tiling engine's order
    (tile by tile; within a tile, each block of ``path_block`` paths summed on its own, then
    added block after block), so the same bits as the tiles reduced one call at a time, in
    one call: a small problem pays no per-tile overhead. ``sums`` (n_columns, n_times) is
    added to; ``state`` (n_paths,) is updated."""
    n_paths = state.shape[0]
    n_times = scale.shape[0]
    partial = np.empty((sums.shape[0], min(time_tile, n_times)), np.float64)
    for first_time in range(0, n_times, time_tile):
        last_time = min(first_time + time_tile, n_times)
        width = last_time - first_time
        for first_path in range(0, n_paths, path_block):
            last_path = min(first_path + path_block, n_paths)
            block_sums = partial[:, :width]
            block_sums[:] = 0.0
            tile_power_sums(
                k0, k1, first_path // 4, first_time, kind, scale[first_time:last_time],
                drift[first_time:last_time], decay[first_time:last_time], offset,
                state[first_path:last_path], column, block_sums,
            )  # fmt: skip
            sums[:, first_time:last_time] += block_sums


@njit
def datasets_power_sums(
    keys, path_block, time_tile, n_paths, kind, scale, drift, decay, offset, start, column, sums
):
    """``dataset_power_sums`` of R datasets: keys (R, 2) the Philox keys of their seeds,
    scale, drift, decay (R, n_times), sums (R, n_columns, n_times) added to; every path starts
    at ``start``."""
    state = np.empty(n_paths, np.float64)
    for r in range(keys.shape[0]):
        state[:] = start
        dataset_power_sums(
            keys[r, 0], keys[r, 1], path_block, time_tile, kind, scale[r], drift[r], decay[r],
            offset, state, column, sums[r],
        )  # fmt: skip
