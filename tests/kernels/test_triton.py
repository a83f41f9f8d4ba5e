"""The fused Triton design kernel (pathfit.kernels.triton_design): GPU only.

Three kinds of check:

* exact, on the same normals: ``pathfit.kernels.reference_design`` recomputes the kernel's
  Philox normals with NumPy and drives the processes' own exact transitions with them in float64
  (tests/kernels/test_reference.py checks it on the CPU), so the kernel must match it to float32
  rounding (no sampling noise at all);
* statistical, against the exact moments E[x_t^q] (``process.raw_moment``) and against torch's
  own sampler: each check is |estimate - target| <= Z * sd, sd from the exact moments
  (Var x^q = E x^(2q) - (E x^q)^2), by the central limit theorem. Z = 6.5 gives a two-sided
  tail of 8e-11 per check; no test makes more than 5,000 checks, so a correct kernel fails a
  given test with probability below 1e-6, all of them together below 1e-5 (the normal
  approximation is good here: n >= 2^12 paths and moderate parameters, so the powers are not
  heavy-tailed);
* determinism and splitting: same seed, identical bits; the time axis cut into chunks (an odd
  number, m not a multiple of the tile) gives the same Phi to rounding.
"""

from __future__ import annotations

import pytest
import torch

import pathfit as pf
from pathfit.design import power_design
from pathfit.kernels import reference_design

pytestmark = pytest.mark.gpu

Z = 6.5

PROCESSES = {
    "abm": pf.ABM(x0=0.5, mu=0.3, sigma=1.2),
    "gbm": pf.GBM(x0=1.5, mu=0.1, sigma=0.3),
    "ou": pf.OU(x0=2.0, theta=0.8, mu=-0.5, sigma=0.9),
}


@pytest.fixture(scope="module")
def td():
    pytest.importorskip("triton")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from pathfit.kernels import triton_design

    return triton_design


def _times(n_times: int, horizon: float = 2.0, seed: int = 3) -> torch.Tensor:
    return pf.sample_times(n_times, horizon, seed=seed, device="cuda")


def _exact(process, powers, times) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, sd of one path's x^q): (n_times, len(powers)) each."""
    mean = torch.stack([process.raw_moment(q, times) for q in powers], dim=1)
    second = torch.stack([process.raw_moment(2 * q, times) for q in powers], dim=1)
    return mean, (second - mean**2).clamp_min(0.0).sqrt()


def _column_errors(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (out - ref).norm(dim=0) / ref.norm(dim=0)


def test_available(td) -> None:
    assert td.available()


@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize(
    ("powers", "config"),
    [
        ((2,), None),
        ((0, 1, 2, 3), None),
        ((2, 3, 4, 5, 6, 7, 8, 9), None),
        ((1, 2), "chunks7"),
        ((2, 3, 4), "chunks5-columns1"),
    ],
)
def test_matches_float64_reference_on_same_normals(td, name, powers, config) -> None:
    process = PROCESSES[name]
    configs = {
        None: None,
        "chunks7": td.KernelConfig(chunks=7),
        "chunks5-columns1": td.KernelConfig(chunks=5, columns=1, block_t=16),
    }
    times = _times(501)  # 501 = 62 tiles of 8 + 5: the last tile is cut
    n_paths = 1003  # not a multiple of 4 or of a program's paths: masked paths
    out = td.fused_design(process, n_paths, times, powers, 11, config=configs[config])
    ref = reference_design(process, n_paths, times, powers, 11)
    assert out.dtype == torch.float64 and out.shape == (501, len(powers))
    assert torch.isfinite(out).all()
    err = _column_errors(out, ref)
    # float32 in the kernel, fast sin/cos/log2: ~1e-6; x^9 amplifies it ninefold
    assert float(err.max()) < 1e-4, err
    for b, q in enumerate(powers):
        if q == 0:
            assert torch.equal(out[:, b], torch.ones_like(out[:, b]))


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_split_time_axis_gives_the_same_design(td, name) -> None:
    process = PROCESSES[name]
    times = _times(1001)
    whole = td.fused_design(process, 4096, times, (1, 2, 3), 5, config=td.KernelConfig(chunks=1))
    for chunks in (3, 13, 125):  # 126 tiles of 8 times: 125 asks for 63 chunks of 2 tiles
        split = td.fused_design(
            process, 4096, times, (1, 2, 3), 5, config=td.KernelConfig(chunks=chunks)
        )
        assert float(_column_errors(split, whole).max()) < 1e-5


def test_same_seed_same_bits_other_seed_other_draws(td) -> None:
    process = PROCESSES["ou"]
    times = _times(3000)
    a = td.fused_design(process, 10_000, times, (1, 2), 42)
    b = td.fused_design(process, 10_000, times, (1, 2), 42)
    c = td.fused_design(process, 10_000, times, (1, 2), 43)
    big = td.fused_design(process, 10_000, times, (1, 2), 2**62 + 17)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, big)
    # independent draws: the difference is sampling noise, of order sd / sqrt(n) per time
    _, sd = _exact(process, (1, 2), times.double())
    assert float(((a - c).abs() / sd).mean()) > 1e-3


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_exact_moments(td, name) -> None:
    process = PROCESSES[name]
    powers = (1, 2, 3) if name == "gbm" else (1, 2, 3, 4)
    times = _times(1001)
    n_paths = 2**22
    out = td.fused_design(process, n_paths, times, powers, 2024)
    mean, sd = _exact(process, powers, times.double())
    z = (out - mean).abs() / (sd / n_paths**0.5 + 1e-5 * mean.abs() + 1e-12)
    assert float(z.max()) < Z, float(z.max())


def test_exact_moments_float32_times_and_odd_split(td) -> None:
    process = PROCESSES["abm"]
    times = _times(777).float()
    n_paths = 2**20 + 3
    config = td.KernelConfig(chunks=11)
    out = td.fused_design(process, n_paths, times, (2, 3, 4), 7, config=config)
    mean, sd = _exact(process, (2, 3, 4), times.double())
    z = (out - mean).abs() / (sd / n_paths**0.5 + 1e-5 * mean.abs() + 1e-12)
    assert float(z.max()) < Z, float(z.max())


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_agrees_with_the_torch_sampler(td, name) -> None:
    process = PROCESSES[name]
    powers = (1, 2)
    times = _times(200)
    n_torch, n_kernel = 2**12, 2**20
    ref = power_design(process.sample_paths(n_torch, times, seed=9).values, powers)
    out = td.fused_design(process, n_kernel, times, powers, 9)
    _, sd = _exact(process, powers, times.double())
    z = (out - ref).abs() / (sd * (1 / n_torch + 1 / n_kernel) ** 0.5 + 1e-12)
    assert float(z.max()) < Z, float(z.max())


def test_mean_over_seeds_agrees_with_torch(td) -> None:
    process = PROCESSES["abm"]
    times = _times(100)
    seeds = range(16)
    n_torch, n_kernel = 2**12, 2**16
    ref = torch.stack(
        [power_design(process.sample_paths(n_torch, times, seed=s).values, (2,)) for s in seeds]
    ).mean(0)
    out = torch.stack([td.fused_design(process, n_kernel, times, (2,), s) for s in seeds]).mean(0)
    _, sd = _exact(process, (2,), times.double())
    scale = sd * ((1 / n_torch + 1 / n_kernel) / len(seeds)) ** 0.5
    assert float(((out - ref).abs() / scale).max()) < Z


def test_small_and_degenerate_inputs(td) -> None:
    one = td.fused_design(PROCESSES["abm"], 1, torch.tensor([0.5], device="cuda"), (1, 0), 0)
    assert one.shape == (1, 2) and torch.isfinite(one).all() and one[0, 1] == 1.0
    # sigma = 0: deterministic paths, exact up to float32
    flat = pf.ABM(x0=1.0, mu=2.0, sigma=0.0)
    times = _times(50)
    out = td.fused_design(flat, 300, times, (1, 2), 0)
    x = 1.0 + 2.0 * times.double()
    assert torch.allclose(out[:, 0], x, rtol=1e-5) and torch.allclose(out[:, 1], x**2, rtol=1e-5)
    # repeated times (dt = 0) keep the value
    rep = torch.tensor([0.1, 0.1, 0.1, 0.7, 0.7], device="cuda", dtype=torch.float64)
    out = td.fused_design(PROCESSES["ou"], 2000, rep, (1,), 3)
    assert out[0, 0] == out[1, 0] == out[2, 0] and out[3, 0] == out[4, 0]


def test_input_errors(td) -> None:
    times = _times(10)
    euler = pf.EulerSDE(drift=lambda t, x: x, diffusion=lambda t, x: 1.0)
    with pytest.raises(pf.InputError):
        td.fused_design(euler, 10, times, (2,), 0)
    with pytest.raises(pf.InputError):
        td.fused_design(PROCESSES["abm"], 10, times, tuple(range(1, 10)), 0)
    with pytest.raises(pf.InputError):
        td.fused_design(PROCESSES["abm"], 10, times, (-1,), 0)
    with pytest.raises(pf.InputError):
        td.fused_design(PROCESSES["abm"], 0, times, (2,), 0)
    with pytest.raises(pf.InputError):
        td.fused_design(PROCESSES["abm"], 10, times.cpu(), (2,), 0)
    with pytest.raises(pf.InputError):
        td.fused_design(PROCESSES["abm"], 10, times.flip(0), (2,), 0)
