"""The power design, its streamed accumulation, and the targets built from paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from pathfit.design import (
    DesignAccumulator,
    accumulate_design,
    power_design,
    power_sums,
    streamed_design,
)
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.processes import ABM, OU, PATH_BLOCK, sample_times
from pathfit.targets import (
    CallableLam,
    ConstantLam,
    KPolynomial,
    PolynomialLam,
    Targets,
    make_targets,
)

F64 = torch.float64
TIMES = torch.tensor([0.1, 0.5, 1.0, 2.0, 3.5], dtype=F64)
POWERS = [(2,), (0, 1, 2), (2, 3, 4), (4, 0, 2, 1), (1, 1, 3, 6)]


def _abm_values(n_paths: int = 1000, seed: int = 0) -> torch.Tensor:
    # x0, mu > 0 keep every E[x^q] well away from zero, so relative tolerances are meaningful.
    return ABM(x0=0.3, mu=0.5, sigma=1.2).sample_paths(n_paths, TIMES, seed=seed).values


def _abs_design(values: torch.Tensor, powers: tuple[int, ...]) -> torch.Tensor:
    """(1/n) sum_i |x_ij|^q: the scale against which summation rounding is relative."""
    return torch.stack([values.abs().pow(q).mean(dim=0) for q in powers], dim=1)


def _assert_close_to_scale(
    found: torch.Tensor, expected: torch.Tensor, scale: torch.Tensor, rtol: float
) -> None:
    """|found - expected| <= rtol * scale elementwise: rounding of a sum is relative to sum |x|."""
    error = (found - expected).abs()
    worst = float((error / scale).max())
    assert worst <= rtol, f"largest error relative to scale {worst:.3g} > {rtol:.0e}"


# --- power_design ----------------------------------------------------------------------------


@pytest.mark.parametrize("powers", POWERS, ids=str)
def test_power_design_matches_numpy(powers: tuple[int, ...]) -> None:
    x = np.random.default_rng(1).normal(0.4, 1.3, size=(257, 6))
    expected = np.stack([np.mean(x**q, axis=0) for q in powers], axis=1)
    found = power_design(torch.from_numpy(x), powers)
    assert found.shape == (6, len(powers)) and found.dtype == F64
    scale = _abs_design(torch.from_numpy(x), powers)
    _assert_close_to_scale(found, torch.from_numpy(expected), scale, 1e-13)


def test_power_sums_of_power_zero_count_the_paths() -> None:
    values = _abm_values(37)
    assert torch.equal(power_sums(values, (0,)), torch.full((5, 1), 37.0, dtype=F64))
    assert torch.equal(power_design(values, (0,)), torch.ones((5, 1), dtype=F64))


def test_power_design_of_integers_is_exact() -> None:
    # Small integers: every power and sum is exactly representable, so equality is exact.
    values = torch.tensor([[1.0, -2.0], [3.0, 0.0], [-1.0, 2.0], [2.0, 1.0]], dtype=F64)
    found = power_design(values, (0, 1, 2, 3))
    expected = torch.tensor([[1.0, 5 / 4, 15 / 4, 35 / 4], [1.0, 1 / 4, 9 / 4, 1 / 4]], dtype=F64)
    assert torch.equal(found, expected)


# --- Streaming and accumulation --------------------------------------------------------------


@pytest.mark.parametrize("powers", POWERS, ids=str)
@pytest.mark.parametrize(
    "process", [ABM(x0=0.3, mu=0.5, sigma=1.2), OU(x0=2.0, mu=1.0)], ids=["abm", "ou"]
)
def test_streamed_design_equals_design_of_materialized_paths(
    process: ABM | OU, powers: tuple[int, ...]
) -> None:
    n_paths = 3 * PATH_BLOCK + 41
    values = process.sample_paths(n_paths, TIMES, seed=7).values
    expected = power_design(values, powers)
    streamed = streamed_design(process, n_paths, TIMES, powers, seed=7)
    torch.testing.assert_close(streamed, expected, rtol=1e-12, atol=0)
    acc = DesignAccumulator(powers)
    for block in process.iter_blocks(n_paths, TIMES, seed=7):
        acc.update(block)
    assert acc.n_paths == n_paths
    torch.testing.assert_close(acc.design, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("powers", POWERS, ids=str)
def test_block_split_and_order_do_not_change_the_design(powers: tuple[int, ...]) -> None:
    values = _abm_values(1000)
    expected = power_design(values, powers)
    scale = _abs_design(values, powers)
    splits = [
        [1000],
        [1] * 10 + [990],
        [PATH_BLOCK, PATH_BLOCK, 1000 - 2 * PATH_BLOCK],
        [333, 1, 500, 166],
    ]
    for sizes in splits:
        blocks = list(torch.split(values, sizes))
        for order in (blocks, blocks[::-1]):
            found = accumulate_design(order, powers)
            _assert_close_to_scale(found, expected, scale, 1e-12)


def test_design_accumulator_rejects_blocks_with_other_times() -> None:
    acc = DesignAccumulator((2,))
    acc.update(_abm_values(10))
    with pytest.raises(InputError) as err:
        acc.update(torch.ones((10, 3), dtype=F64))
    assert err.value.field == "block" and "(10, 3)" in str(err.value)


def test_design_accumulator_read_before_update_is_an_error() -> None:
    with pytest.raises(InputError) as err:
        _ = DesignAccumulator((2,)).design
    assert err.value.field == "design"


@pytest.mark.parametrize("powers", [(), (-1,), (1.5,), (True,), (2, "3")], ids=repr)
def test_bad_powers_raise_input_error(powers: tuple) -> None:
    with pytest.raises(InputError) as err:
        DesignAccumulator(powers)
    assert err.value.field == "powers"
    with pytest.raises(InputError, match=r"^powers:"):
        power_design(_abm_values(5), powers)


# --- Targets ---------------------------------------------------------------------------------


@pytest.fixture
def paths() -> Paths:
    return ABM(x0=0.3, mu=0.5, sigma=1.2).sample_paths(500, TIMES, seed=3)


def test_constant_lam_is_a_quarter_of_the_mean_square(paths: Paths) -> None:
    targets = make_targets(paths, ConstantLam(0.25))
    expected = 0.25 * paths.values.square().mean(dim=0)
    assert torch.allclose(targets.values, expected, rtol=1e-14, atol=0)
    assert torch.equal(targets.times, paths.times)
    assert targets.noise_std == 0.0 and targets.n_times == 5


def test_polynomial_and_callable_lam_agree(paths: Paths) -> None:
    coef = (0.3, -0.2, 0.05)
    poly = PolynomialLam(coef)
    call = CallableLam(lambda x: 0.3 - 0.2 * x + 0.05 * x**2)
    found = make_targets(paths, poly).values
    expected = make_targets(paths, call).values
    # Both sum the same terms in a different order: rounding relative to sum |c_d| |x|^(d+2).
    scale = _abs_design(paths.values, (2, 3, 4)) @ torch.tensor(coef, dtype=F64).abs()
    _assert_close_to_scale(found, expected, scale, 1e-13)
    assert poly.powers == (2, 3, 4)
    x = torch.linspace(-2, 2, 9, dtype=F64)
    torch.testing.assert_close(poly.lam(x), call.fn(x), rtol=1e-14, atol=1e-15)


def test_k_polynomial_matches_direct_computation(paths: Paths) -> None:
    coef = (0.5, -1.0, 0.25, 0.1)
    x = paths.values
    expected = (coef[0] + coef[1] * x + coef[2] * x**2 + coef[3] * x**3).mean(dim=0)
    spec = KPolynomial(coef)
    found = make_targets(paths, spec).values
    scale = _abs_design(x, (0, 1, 2, 3)) @ torch.tensor(coef, dtype=F64).abs()
    _assert_close_to_scale(found, expected, scale, 1e-13)
    assert spec.powers == (0, 1, 2, 3)
    assert torch.equal(spec.params, torch.tensor(coef, dtype=F64))


def test_targets_follow_the_paths_dtype() -> None:
    paths = ABM(mu=0.5).sample_paths(50, TIMES.float(), seed=4)
    targets = make_targets(paths, ConstantLam(0.25), noise_std=0.1, seed=4)
    assert targets.values.dtype == torch.float32 and targets.times.dtype == torch.float32


def test_noise_has_the_stated_standard_deviation() -> None:
    # The residuals are iid N(0, s^2): (m - 1) sd^2 / s^2 ~ chi2(m - 1) and mean ~ N(0, s^2 / m).
    # 2 exact checks at 1e-8 each: false-failure probability <= 2e-8.
    alpha, noise_std = 1e-8, 0.05
    times = sample_times(4000, 5.0, seed=5)
    paths = ABM(x0=0.3, mu=0.5, sigma=1.2).sample_paths(8, times, seed=5)
    exact = make_targets(paths, ConstantLam(0.25)).values
    noisy = make_targets(paths, ConstantLam(0.25), noise_std=noise_std, seed=5)
    assert noisy.noise_std == noise_std
    residuals = (noisy.values - exact).numpy()
    m = residuals.size
    statistic = (m - 1) * residuals.var(ddof=1) / noise_std**2
    low, high = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], m - 1)
    assert low <= statistic <= high, f"residual sd {residuals.std(ddof=1):.4g} vs {noise_std}"
    z = float(stats.norm.ppf(1 - alpha / 2))
    assert abs(residuals.mean()) <= z * noise_std / math.sqrt(m)


def test_noise_is_reproducible_from_its_seed(paths: Paths) -> None:
    spec = ConstantLam(0.25)
    first = make_targets(paths, spec, noise_std=0.1, seed=11).values
    again = make_targets(paths, spec, noise_std=0.1, seed=11).values
    other = make_targets(paths, spec, noise_std=0.1, seed=12).values
    assert torch.equal(first, again)
    assert (first != other).all()
    from_generator = [
        make_targets(paths, spec, noise_std=0.1, generator=torch.Generator().manual_seed(9)).values
        for _ in range(2)
    ]
    assert torch.equal(*from_generator)


def test_noise_does_not_reuse_the_path_stream() -> None:
    # With noise_std = 1 and the simulation's seed, the noise must not equal the first path's
    # normals; with one path of ABM(sigma=1) at unit gaps those normals are its increments.
    times = torch.arange(1.0, 201.0, dtype=F64)
    paths = ABM(sigma=1.0).sample_paths(1, times, seed=13)
    increments = torch.diff(paths.values[0], prepend=paths.values.new_zeros(1))
    noisy = make_targets(paths, KPolynomial((0.0,)), noise_std=1.0, seed=13).values
    r = float(torch.corrcoef(torch.stack([noisy, increments]))[0, 1])
    # Independent: |atanh r| <= z(1e-8) / sqrt(197) = 0.41; a shared stream gives r = 1.
    assert abs(math.atanh(r)) <= stats.norm.ppf(1 - 0.5e-8) / math.sqrt(200 - 3)


BAD_TARGETS = {
    "noise_std < 0": (
        lambda p: make_targets(p, ConstantLam(0.25), noise_std=-0.1, seed=0),
        "noise_std",
        "-0.1",
    ),
    "noise_std nan": (
        lambda p: make_targets(p, ConstantLam(0.25), noise_std=float("nan"), seed=0),
        "noise_std",
        "nan",
    ),
    "empty lam coef": (lambda p: PolynomialLam([]), "lam_coef", "[]"),
    "empty k coef": (lambda p: KPolynomial(()), "k_coef", "()"),
    "string coef": (lambda p: KPolynomial("12"), "k_coef", "'12'"),
    "nan coef": (lambda p: PolynomialLam([0.1, float("nan")]), "lam_coef[1]", "nan"),
    "non-callable lam": (lambda p: CallableLam(0.25), "lam", "0.25"),
    "lam of wrong shape": (
        lambda p: make_targets(p, CallableLam(lambda x: x.mean(dim=0))),
        "lam",
        "(5,)",
    ),
    "constant lam nan": (lambda p: ConstantLam(float("nan")), "lam", "nan"),
    "spec not a spec": (lambda p: make_targets(p, 0.25), "spec", "float"),
    "targets with other times": (
        lambda p: Targets(values=torch.zeros(3, dtype=F64), times=TIMES),
        "targets.times",
        "5 times for 3 targets",
    ),
}


@pytest.mark.parametrize("case", list(BAD_TARGETS))
def test_bad_target_input_raises_input_error_naming_the_field(paths: Paths, case: str) -> None:
    make, field, found = BAD_TARGETS[case]
    with pytest.raises(InputError) as err:
        make(paths)
    assert isinstance(err.value, ValueError)
    assert err.value.field == field
    message = str(err.value)
    assert message.startswith(f"{field}:") and found in message, message
