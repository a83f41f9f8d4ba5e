"""Counter-based standard normals: Philox4x32-10 and Box-Muller, the fused GPU kernel's stream.

The normal of path i at counter j (the time index, for the exact processes) is made from
Philox4x32-10 keyed by the 64-bit seed at counter (j, i // 4, c2, 0): the four 32-bit words of
one call give the four paths 4g .. 4g + 3 two Box-Muller pairs. Radii come from the uniforms
u = float32(float32(w) 2^-32 + 2^-33) in (0, 1] (so |z| <= sqrt(66 ln 2) = 6.76), angles from
the top 23 bits of the other words. This is what ``pathfit.kernels.triton_design`` draws
(``c2 = 0``) and what ``pathfit.kernels.reference_normals`` recomputes in NumPy. Each normal
depends on (seed, i, j, c2) only: never on the tiling, the threads or the device.

``fill_normals`` writes a block of them on the CPU with a compiled kernel (numba, ``nogil``: the
tiling engine's threads fill tiles in parallel). Its integers equal ``tl.philox``'s bit for
bit; its log, sin and cos are fdlibm's float64 polynomials written out so that they vectorize
(4 lanes with AVX2), within 1 ulp of the correctly rounded functions, so its normals equal the
NumPy reference (NumPy's log, sin and cos) to a few units in the last place, not bit for bit.
``torch_normals`` performs the very same IEEE operations with torch operators on any device,
so it gives the same bits (the torch backend on a GPU, and the CPU where numba is missing).
The GPU kernel's float32 transform with fast hardware log2, sin and cos is further away: about
1e-6 relative. If a change to these formulas changes a single bit, the stream has changed:
tests/test_philox.py keeps a table of its values.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

PHILOX_ROUNDS = 10
ROUND_A, ROUND_B = 0xD2511F53, 0xCD9E8D57
KEY_A, KEY_B = 0x9E3779B9, 0xBB67AE85
TWO_PI = 6.283185307179586
THREE_PI = 9.42477796076938
LARGEST_NORMAL = math.sqrt(66 * math.log(2))
"""The largest |z| the transform can give: the radius at u = 2^-33 (6.7637 sigma)."""

# fdlibm (musl) log: ln 2 in two parts and the minimax coefficients of log(1 + f) on
# [sqrt(2)/2 - 1, sqrt(2) - 1], in s = f / (2 + f).
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5 = 2.222219843214978396e-01, 1.818357216161805012e-01
_LG6, _LG7 = 1.531383769920937332e-01, 1.479819860511658591e-01
# fdlibm sin and cos on [-pi/4, pi/4], and pi/2 in a 33-bit head and its tail
_S1, _S2 = -1.66666666666666324348e-01, 8.33333333332248946124e-03
_S3, _S4 = -1.98412698298579493134e-04, 2.75573137070700676789e-06
_S5, _S6 = -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2 = 4.16666666666666019037e-02, -1.38888888888741095749e-03
_C3, _C4 = 2.48015872894767294178e-05, -2.75573143513906633035e-07
_C5, _C6 = 2.08757232129817482790e-09, -1.13596475577881948265e-11
_PIO2_HI, _PIO2_LO = 1.57079632673412561417e00, 6.07710050650619224932e-11
_INV_PIO2 = 6.36619772367581382433e-01
_SQRT2 = 1.4142135623730951


def split_seed(seed: int) -> tuple[int, int]:
    """The Philox key (k0, k1): the low and high 32 bits of the 64-bit seed."""
    return seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF


_FILL = None
_NO_NUMBA = False
TORCH_BUDGET = 1 << 21
"""Normals drawn with torch operators before the compiled kernel is loaded (about 0.1 s of
them): loading numba and the kernel from its cache takes about a second, which a small run
(the seed's 100 x 1000 is 1e5 normals) should not pay. Both give the same bits."""
_drawn_by_torch = 0


def _fill_kernel():
    """The compiled kernel (loaded from numba's on-disk cache after the first run), or None
    where numba cannot be imported: then torch operators draw the same stream, slower."""
    global _FILL, _NO_NUMBA
    if _FILL is None and not _NO_NUMBA:
        try:
            from pathfit._philox import _cpu  # imports numba: paid by the first simulation
        except ImportError:  # pragma: no cover - numba is a dependency
            _NO_NUMBA = True
        else:
            _FILL = _cpu.fill
    return _FILL


def fill_normals(
    seed: int, first_path: int, first_counter: int, out: np.ndarray, c2: int = 0
) -> np.ndarray:
    """Fill the float64 C-contiguous ``out`` (n_rows, n_cols) with the stream's normals:
    ``out[r, t]`` is path ``first_path + r`` at counter ``first_counter + t``. ``first_path``
    must be a multiple of 4 (the paths of one Philox call stay together)."""
    if first_path % 4:
        raise ValueError(f"first_path must be a multiple of 4, got {first_path}")
    global _drawn_by_torch
    loaded = _FILL is not None or f"{__name__}._cpu" in sys.modules
    if not loaded and _drawn_by_torch + out.size <= TORCH_BUDGET:
        _drawn_by_torch += out.size  # a race here only moves the switch a little
        kernel = None
    else:
        kernel = _fill_kernel()
    if kernel is None:
        out[...] = torch_normals(seed, first_path, first_counter, out.shape, c2=c2).numpy()
    else:
        k0, k1 = split_seed(seed)
        kernel(k0, k1, first_path // 4, c2, first_counter, out)
    return out


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    # IEEE sqrt: torch's float64 sqrt on the CPU is not correctly rounded (about 1% of values
    # differ in the last bit), NumPy's and CUDA's are
    return torch.from_numpy(np.sqrt(x.numpy())) if x.device.type == "cpu" else x.sqrt()


def torch_philox(
    seed: int, c0: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Philox4x32-10 at counters (c0, c1, c2, 0) with torch int64 operators (32-bit words in
    int64, products wrapping modulo 2^64): ``tl.philox`` bit for bit, on any device."""
    k0, k1 = split_seed(seed)
    low = 0xFFFFFFFF
    c3 = torch.zeros_like(c0)
    for _ in range(PHILOX_ROUNDS):
        pb = c2 * ROUND_B
        pa = c0 * ROUND_A
        c0, c2, c1, c3 = (
            ((pb >> 32) & low) ^ c1 ^ k0,
            ((pa >> 32) & low) ^ c3 ^ k1,
            pb & low,
            pa & low,
        )
        k0 = (k0 + KEY_A) & low
        k1 = (k1 + KEY_B) & low
    return c0, c1, c2, c3


def torch_normals(
    seed: int,
    first_path: int,
    first_counter: int,
    shape: tuple[int, int],
    *,
    c2: int = 0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(n_rows, n_cols) float64 normals of the stream by torch operators on ``device``: the
    compiled kernel's operations one for one (IEEE float64, no fused multiply-adds), so the
    same bits as ``fill_normals``."""
    if first_path % 4:
        raise ValueError(f"first_path must be a multiple of 4, got {first_path}")
    n_rows, n_cols = shape
    groups = -(-n_rows // 4)
    kw = {"dtype": torch.int64, "device": device}
    c0 = (torch.arange(n_cols, **kw) + first_counter).expand(groups, n_cols) & 0xFFFFFFFF
    c1 = (torch.arange(groups, **kw)[:, None] + first_path // 4).expand(groups, n_cols)
    w0, w1, w2, w3 = torch_philox(seed, c0, c1 & 0xFFFFFFFF, torch.full_like(c0, c2))

    def radius(w: torch.Tensor) -> torch.Tensor:
        # the compiled kernel's operations, one for one: the same bits
        u = (w.to(torch.float32).to(torch.float64) * 2.0**-32 + 2.0**-33).to(torch.float32)
        bits = u.view(torch.int32)
        e = ((bits >> 23) - 127).to(torch.float64)
        m = 1.0 + (bits & 0x7FFFFF).to(torch.float64) * 1.1920928955078125e-07
        high = m > _SQRT2
        m = torch.where(high, m * 0.5, m)
        k = torch.where(high, e + 1.0, e)
        f = m - 1.0
        hfsq = 0.5 * f * f
        s = f / (2.0 + f)
        z = s * s
        w = z * z
        t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
        t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
        log_u = s * (hfsq + t1 + t2) + k * _LN2_LO - hfsq + f + k * _LN2_HI
        return _sqrt((-2.0 * log_u).clamp_min(0.0))

    def pair(w: torch.Tensor, radius: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = 1.0 + ((w >> 9) & 0x7FFFFF).to(torch.float64) * 1.1920928955078125e-07
        x = v * TWO_PI - THREE_PI
        n = torch.floor(x * _INV_PIO2 + 0.5)
        r = (x - n * _PIO2_HI) - n * _PIO2_LO
        z = r * r
        w = z * z
        sr = _S2 + z * (_S3 + z * _S4) + z * w * (_S5 + z * _S6)
        sin_r = r + z * r * (_S1 + z * sr)
        cr = z * (_C1 + z * (_C2 + z * _C3)) + w * w * (_C4 + z * (_C5 + z * _C6))
        hz = 0.5 * z
        one_minus = 1.0 - hz
        cos_r = one_minus + (((1.0 - one_minus) - hz) + z * cr)
        n_abs = n.abs()
        c = torch.where(
            n == 0.0,
            cos_r,
            torch.where(n == 1.0, -sin_r, torch.where(n_abs == 2.0, -cos_r, sin_r)),
        )
        s = torch.where(
            n == 0.0,
            sin_r,
            torch.where(n == 1.0, cos_r, torch.where(n_abs == 2.0, -sin_r, -cos_r)),
        )
        return radius * c, radius * s

    z = torch.stack([*pair(w1, radius(w0)), *pair(w3, radius(w2))], dim=1)
    return z.reshape(4 * groups, n_cols)[:n_rows]
