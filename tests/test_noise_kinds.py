"""Observation noise of each kind: its level, its correlation along time, and bad settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

import pathfit as pf
from pathfit.exceptions import InputError
from pathfit.targets import ConstantLam

ABM = pf.ABM(mu=0.5, sigma=1.0)
M = 20_000


def _noise(kind: str, phi: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    paths = pf.simulate(ABM, n_paths=5, n_times=M, horizon=10.0, seed=seed)
    clean = pf.make_targets(paths, ConstantLam(0.25)).values
    noisy = pf.make_targets(paths, ConstantLam(0.25), noise_std=0.1, noise=kind, phi=phi, seed=seed)
    return (noisy.values - clean).numpy(), clean.numpy()


def _lag1(e: np.ndarray) -> float:
    e = e - e.mean()
    return float(e[1:] @ e[:-1] / (e @ e))


# With m = 20000 values, a sample sd has relative sd 1/sqrt(2m) = 0.5% for iid normals (2.3% for
# AR(1) at phi = 0.9, whose effective sample is (1 - phi)/(1 + phi) m); a lag-1 autocorrelation
# has sd sqrt((1 - phi^2)/m) <= 0.007. The tolerances below are 6 or more of those sd (each
# check fails with probability below 1e-8).
@pytest.mark.parametrize("phi", [-0.5, 0.0, 0.3, 0.6, 0.9])
def test_ar1_noise_has_the_given_sd_and_lag_one_autocorrelation(phi):
    e, _ = _noise("ar1", phi)
    assert e.std() == pytest.approx(0.1, rel=0.14 if phi == 0.9 else 0.05)
    assert _lag1(e) == pytest.approx(phi, abs=0.045)


def test_iid_noise_is_uncorrelated_and_the_same_as_before():
    e, _ = _noise("iid")
    assert e.std() == pytest.approx(0.1, rel=0.04)
    assert abs(_lag1(e)) < 0.045
    paths = pf.simulate(ABM, n_paths=5, n_times=100, horizon=10.0, seed=3)
    default = pf.make_targets(paths, ConstantLam(0.25), noise_std=0.1, seed=3)
    iid = pf.make_targets(paths, ConstantLam(0.25), noise_std=0.1, noise="iid", seed=3)
    assert torch.equal(default.values, iid.values)
    assert iid.noise_std == 0.1


def test_heteroscedastic_noise_has_sd_proportional_to_k():
    e, k = _noise("heteroscedastic")
    scale = np.abs(k) / np.abs(k).mean()
    z = e / (0.1 * scale)  # standard normal if the sd is 0.1 |k_j| / mean |k|
    assert z.std() == pytest.approx(1.0, rel=0.04)
    assert stats.kstest(z, "norm").pvalue > 1e-6
    # and the size of the noise does follow k: |e| grows with |k|
    assert stats.spearmanr(np.abs(e), np.abs(k)).statistic > 0.3


def test_correlated_noise_leaves_noise_std_unknown_on_the_targets():
    paths = pf.simulate(ABM, n_paths=5, n_times=50, horizon=10.0, seed=0)
    for kind in ("ar1", "heteroscedastic"):
        phi = 0.5 if kind == "ar1" else 0.0
        targets = pf.make_targets(paths, ConstantLam(0.25), noise_std=0.1, noise=kind, phi=phi)
        assert targets.noise_std is None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"noise": "pink"}, "noise"),
        ({"noise": "ar1", "phi": 1.0}, "phi"),
        ({"noise": "ar1", "phi": -1.5}, "phi"),
        ({"noise": "ar1", "phi": float("nan")}, "phi"),
        ({"noise": "iid", "phi": 0.5}, "phi"),
        ({"noise": "heteroscedastic", "phi": 0.5}, "phi"),
    ],
)
def test_bad_noise_settings_are_input_errors_naming_the_field(options, field):
    paths = pf.simulate(ABM, n_paths=5, n_times=50, horizon=10.0, seed=0)
    with pytest.raises(InputError) as err:
        pf.make_targets(paths, ConstantLam(0.25), noise_std=0.1, **options)
    assert err.value.field == field
