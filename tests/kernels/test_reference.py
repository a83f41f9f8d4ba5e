"""The host reference of the fused kernel (pathfit.kernels): NumPy and torch only, no GPU.

* Philox4x32-10 against the known-answer vectors of Random123 (the generator ``tl.philox``
  implements), so the reference draws the kernel's integers;
* the normals: each (path, time) has its own, whatever the sizes asked, and they are standard
  normal (KS test, false-failure probability 1e-7);
* the paths: the processes' exact transitions driven by those normals (closed forms to
  rounding), and the design has the processes' exact moments E[x_t^q]: each check is
  |estimate - E x^q| <= Z sd / sqrt(n), Z = 6.5 (two-sided tail 8e-11 per check); 240 checks,
  so a correct reference fails with probability below 2e-8.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats

import pathfit as pf
from pathfit.kernels import philox4x32, reference_design, reference_normals, reference_paths

F64 = torch.float64
Z = 6.5

PROCESSES = {
    "abm": pf.ABM(x0=0.5, mu=0.3, sigma=1.2),
    "gbm": pf.GBM(x0=1.5, mu=0.1, sigma=0.3),
    "ou": pf.OU(x0=2.0, theta=0.8, mu=-0.5, sigma=0.9),
}

# Random123's kat_vectors for philox4x32 with 10 rounds: counter, key (k0, k1), result.
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF,) * 4,
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_gives_the_known_answers(counter, key, expected) -> None:
    seed = key[0] | key[1] << 32  # tl.philox's key: the seed's low and high words
    words = philox4x32(seed, *(np.array([c], dtype=np.uint64) for c in counter))
    assert tuple(int(w[0]) for w in words) == expected


def test_each_path_and_time_has_its_own_normal_whatever_the_sizes() -> None:
    small = reference_normals(7, 5, 3)
    large = reference_normals(7, 12, 10)
    assert small.shape == (5, 3) and large.shape == (12, 10)
    assert np.array_equal(small, large[:5, :3])
    assert not np.array_equal(large, reference_normals(8, 12, 10))


def test_reference_normals_are_standard_normal() -> None:
    z = reference_normals(2024, 2000, 10).ravel()
    assert stats.kstest(z, "norm").pvalue > 1e-7


def test_reference_paths_follow_the_exact_transitions() -> None:
    times = pf.sample_times(40, 2.0, seed=3)
    z = torch.from_numpy(reference_normals(11, 9, 40))
    dt = torch.diff(times, prepend=times.new_zeros(1))
    w = torch.cumsum(dt.sqrt() * z, dim=1)
    abm, gbm, ou = PROCESSES["abm"], PROCESSES["gbm"], PROCESSES["ou"]
    exact = abm.x0 + abm.mu * times + abm.sigma * w
    assert torch.allclose(reference_paths(abm, 9, times, 11), exact, rtol=1e-13, atol=1e-13)
    exact = gbm.x0 * torch.exp((gbm.mu - gbm.sigma**2 / 2) * times + gbm.sigma * w)
    assert torch.allclose(reference_paths(gbm, 9, times, 11), exact, rtol=1e-13, atol=0)
    decay = torch.exp(-ou.theta * dt)
    scale = ou.sigma * torch.sqrt((1 - decay**2) / (2 * ou.theta))
    x, columns = torch.full((9,), ou.x0, dtype=F64), []
    for j in range(40):
        x = ou.mu + decay[j] * (x - ou.mu) + scale[j] * z[:, j]
        columns.append(x)
    exact = torch.stack(columns, dim=1)
    assert torch.allclose(reference_paths(ou, 9, times, 11), exact, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_reference_design_has_the_exact_moments(name: str) -> None:
    process, powers, n_paths = PROCESSES[name], (1, 2), 2**14
    times = pf.sample_times(40, 2.0, seed=5)
    design = reference_design(process, n_paths, times, powers, 99)
    assert design.shape == (40, 2) and design.dtype == F64
    for b, q in enumerate(powers):
        mean = process.raw_moment(q, times)
        sd = (process.raw_moment(2 * q, times) - mean**2).clamp_min(0).sqrt()
        z = (design[:, b] - mean).abs() / (sd / math.sqrt(n_paths) + 1e-12)
        assert float(z.max()) < Z, (q, float(z.max()))


def test_reference_refuses_what_the_kernel_cannot_run() -> None:
    euler = pf.EulerSDE(drift=lambda t, x: x, diffusion=lambda t, x: 1.0)
    times = torch.tensor([0.5, 1.0], dtype=F64)
    with pytest.raises(pf.InputError, match="an ABM, GBM or OU process"):
        reference_design(euler, 4, times, (2,), 0)
    with pytest.raises(pf.InputError, match="powers"):
        reference_design(PROCESSES["abm"], 4, times, (-1,), 0)


@pytest.mark.slow
def test_importing_the_reference_does_not_import_triton() -> None:
    code = "import sys, pathfit.kernels; assert 'triton' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
