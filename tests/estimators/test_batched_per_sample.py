"""The batched seed recipe equals R single GradientFit seed-recipe fits, and its frontier is
where noise-free per-sample SGD starts to diverge."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import pathfit as pf
from pathfit.design import power_design
from pathfit.estimators.batched import batched_per_sample_sgd
from pathfit.exceptions import InputError
from pathfit.models import ConstantLambda

PROCESS = pf.ABM(mu=0.5, sigma=1.0)
SEEDS = [3, 4, 5, 6]


def _data(noise: float):
    paths = [pf.simulate(PROCESS, n_paths=20, n_times=50, horizon=2.0, seed=s) for s in SEEDS]
    designs = torch.stack([power_design(p.values, (2,)) for p in paths])
    generator = torch.Generator().manual_seed(1)
    targets = 0.25 * designs[..., 0]
    targets = targets + noise * torch.randn(targets.shape, generator=generator, dtype=targets.dtype)
    return paths, designs, targets


def _single(
    paths, targets, lr: float, max_steps: int, seed: int, tol: float = 1e-10
) -> pf.GradientFit:
    fit = pf.GradientFit(
        ConstantLambda(),
        mode="per_sample",
        optimizer="sgd",
        guard=False,
        lr=lr,
        max_steps=max_steps,
        tol=tol,
        seed=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        return fit.fit(paths, targets)


def _log_factor(designs: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """S(lr) = sum_j log|1 - 2 lr Phi_j^2| per dataset: the log of an epoch's error factor."""
    squares = designs[..., 0].square()
    return torch.log(torch.abs(1 - 2 * lr.unsqueeze(1) * squares)).sum(dim=1)


# (noise, step as a multiple of the bound 2/L, max_steps, the statuses this must produce)
CASES = [
    (0.0, 0.5, 3000, {"converged"}),  # noise-free, stable by the bound
    (0.0, 2.0, 3000, {"converged"}),  # above the bound, below the frontier: still converges
    (0.05, 1.0, 2000, {"max_steps"}),  # noisy: SGD at a constant step never comes to rest
    (0.05, 8.0, 3000, {"diverged"}),  # beyond every frontier
]


@pytest.mark.parametrize(("noise", "factor", "max_steps", "expected"), CASES)
def test_equals_single_seed_recipe_fits(
    noise: float, factor: float, max_steps: int, expected: set[str]
) -> None:
    paths, designs, targets = _data(noise)
    first = batched_per_sample_sgd(designs, targets, lr=1.0, max_steps=1, seeds=SEEDS)
    lr = first.bound * factor  # each dataset its own step
    batch = batched_per_sample_sgd(designs, targets, lr=lr, max_steps=max_steps, seeds=SEEDS)
    assert set(batch.status) == expected
    for r, seed in enumerate(SEEDS):
        single = _single(paths[r], targets[r], float(lr[r]), max_steps, seed)
        assert batch.status[r] == single.status_
        assert int(batch.steps[r]) == single.n_iter_
        assert float(batch.bound[r]) == single.result_.stability.bound
        if single.status_ == "diverged":
            assert math.isnan(float(batch.coef[r]))
        else:
            # The same floating-point operations in the same order (torch's fused update
            # included), so the bits agree here; 1e-12 relative leaves room for a torch that
            # does not fuse the update, whose rounding of each step differs by an ulp.
            assert float(batch.coef[r]) == pytest.approx(float(single.coef_[0]), rel=1e-12)


def test_a_shared_step_and_a_stalled_run_agree_too() -> None:
    # noisy data at a small step: the coefficient stops moving over an epoch (relative change
    # below tol) before the gradient has fallen 1e6-fold, which GradientFit calls "stalled";
    # a small step and a loose tol make it happen within a few hundred steps (at 0.5 times the
    # bound and tol 1e-10 it took 12350 steps for one of these seeds)
    paths, designs, targets = _data(0.05)
    first = batched_per_sample_sgd(designs, targets, lr=1.0, max_steps=1, seeds=SEEDS)
    lr = 0.05 * float(first.bound.min())
    batch = batched_per_sample_sgd(designs, targets, lr=lr, max_steps=3_000, tol=1e-3, seeds=SEEDS)
    assert set(batch.status) == {"stalled"}
    for r, seed in enumerate(SEEDS):
        single = _single(paths[r], targets[r], lr, 3_000, seed, tol=1e-3)
        assert (batch.status[r], int(batch.steps[r])) == (single.status_, single.n_iter_)
        assert float(batch.coef[r]) == pytest.approx(float(single.coef_[0]), rel=1e-12)


def test_frontier_is_where_the_epoch_factor_crosses_one() -> None:
    _, designs, _ = _data(0.0)
    targets = 0.25 * designs[..., 0]
    batch = batched_per_sample_sgd(designs, targets, lr=1.0, max_steps=1, seeds=SEEDS)
    assert bool((batch.frontier > batch.bound).all())
    below = _log_factor(designs, batch.frontier * (1 - 1e-9))
    above = _log_factor(designs, batch.frontier * (1 + 1e-9))
    assert bool((below < 0).all()) and bool((above > 0).all())
    # negative all the way from the bound to the frontier, on a fine grid
    grid = torch.linspace(0, 1, 2001, dtype=torch.float64)[:-1]
    for r in range(len(SEEDS)):
        lr = batch.bound[r] + grid * (batch.frontier[r] - batch.bound[r])
        assert bool((_log_factor(designs[r : r + 1].expand(len(lr), -1, -1), lr) < 0).all())


def test_noise_free_runs_diverge_above_the_frontier_only() -> None:
    _, designs, targets = _data(0.0)
    first = batched_per_sample_sgd(designs, targets, lr=1.0, max_steps=1, seeds=SEEDS)
    # just above: further up, dips of S reopen narrow stable windows (see divergence_frontier)
    for factor, diverges in [(0.8, False), (1.05, True)]:
        lr = first.frontier * factor
        # the epoch factor's sign at the steps chosen: S < 0 contracts, S > 0 expands
        assert bool(((_log_factor(designs, lr) > 0) == diverges).all())
        batch = batched_per_sample_sgd(designs, targets, lr=lr, max_steps=50_000, seeds=SEEDS)
        if diverges:
            assert set(batch.status) == {"diverged"}
        else:
            assert set(batch.status) == {"converged"}
            torch.testing.assert_close(batch.coef, torch.full((4,), 0.25, dtype=torch.float64))


def test_two_dimensional_designs_and_shapes() -> None:
    _, designs, targets = _data(0.05)
    three = batched_per_sample_sgd(designs, targets, lr=0.01, max_steps=500, seeds=SEEDS)
    two = batched_per_sample_sgd(designs[..., 0], targets, lr=0.01, max_steps=500, seeds=SEEDS)
    assert torch.equal(three.coef, two.coef) and three.status == two.status
    assert three.coef.shape == three.steps.shape == three.frontier.shape == (len(SEEDS),)
    assert three.steps.dtype == torch.int64


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"lr": True}, "lr"),
        ({"lr": torch.tensor([0.1, 0.1])}, "lr"),
        ({"lr": torch.tensor([0.1, 0.1, -0.1, 0.1])}, "lr[2]"),
        ({"lr": torch.tensor([0.1, math.nan, 0.1, 0.1])}, "lr"),
        ({"seeds": [1, 2, 3]}, "seeds"),
        ({"seeds": 3}, "seeds"),
        ({"seeds": [1, 2, -3, 4]}, "seeds[2]"),
        ({"seeds": [1, 2, 3.5, 4]}, "seeds[2]"),
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": 2.5}, "max_steps"),
        ({"tol": -1.0}, "tol"),
        ({"targets": torch.ones(4, 49)}, "targets"),
        ({"designs": torch.ones(4, 50, 2)}, "designs"),
        ({"designs": torch.ones(4)}, "designs"),
    ],
)
def test_bad_inputs_name_the_field(change: dict, field: str) -> None:
    _, designs, targets = _data(0.0)
    kwargs = {"designs": designs, "targets": targets, "lr": 0.1, "seeds": SEEDS} | change
    with pytest.raises(InputError) as info:
        batched_per_sample_sgd(**kwargs)
    assert info.value.field == field
