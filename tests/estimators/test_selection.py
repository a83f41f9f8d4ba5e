"""Model choice on held-out times: the polynomial degree of lambda(x), the one-SE rule."""

from __future__ import annotations

import math

import pytest
import torch

import pathfit as pf
from pathfit.estimators.holdout import split_times
from pathfit.estimators.selection import select_by_holdout
from pathfit.exceptions import InputError
from pathfit.models import ConstantLambda, PolynomialLambda
from pathfit.targets import ConstantLam, PolynomialLam

TRUE = PolynomialLam((0.1, 0.0, 0.05))  # lambda(x) = 0.1 + 0.05 x^2: degree 2
DEGREES = range(5)


def _paths(seed: int) -> pf.Paths:
    return pf.simulate(
        pf.ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=1000, horizon=10.0, seed=seed
    )


def _noisy(paths: pf.Paths, seed: int, fraction: float = 0.01) -> pf.Targets:
    exact = pf.make_targets(paths, TRUE)
    std = fraction * float(exact.values.abs().mean())
    return pf.make_targets(paths, TRUE, noise_std=std, seed=seed)


def _candidates() -> dict[str, pf.LeastSquares]:
    return {
        f"degree {d}": pf.LeastSquares(PolynomialLambda(d), interval="classical") for d in DEGREES
    }


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_one_se_rule_picks_the_true_degree(seed):
    # Degrees 3 and 4 fit the noise of the training times: on these seeds their hold-out losses
    # differ from degree 2's by < 1%, against a standard error of ~9% of the loss.
    paths = _paths(seed)
    selection = select_by_holdout(_candidates(), paths, _noisy(paths, seed), seed=seed)
    assert selection.best == "degree 2", selection.summary()
    assert selection.rule == "one_se"
    losses = {c.name: c.holdout_loss for c in selection.candidates}
    # the misspecified degrees are far worse than the noise level
    assert losses["degree 0"] > 100 * losses["degree 2"]
    assert losses["degree 1"] > 5 * losses["degree 2"]
    # the chosen fit holds the truth within 6 of its (classical, iid-noise) standard errors:
    # P(|z| > 6) = 2e-9 per coefficient
    chosen = selection.estimators["degree 2"]
    errors = (chosen.coef_ - torch.tensor(TRUE.coef, dtype=torch.float64)).abs()
    assert bool((errors < 6 * chosen.stderr_).all()), (chosen.coef_, chosen.stderr_)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_min_rule_returns_the_argmin(seed):
    paths = _paths(seed)
    selection = select_by_holdout(_candidates(), paths, _noisy(paths, seed), seed=seed, rule="min")
    assert selection.rule == "min"
    lowest = min(selection.candidates, key=lambda c: c.holdout_loss)
    assert selection.best == lowest.name


def test_table_holds_the_hold_out_losses_and_their_standard_errors():
    seed = 0
    paths = _paths(seed)
    targets = _noisy(paths, seed)
    selection = select_by_holdout(_candidates(), paths, targets, holdout=0.2, seed=seed)
    assert selection.holdout == 0.2
    assert selection.n_holdout == 200
    assert [c.name for c in selection.candidates] == [f"degree {d}" for d in DEGREES]
    assert [c.n_params for c in selection.candidates] == [d + 1 for d in DEGREES]
    # recompute from the documented split: the hold-out a GradientFit with this seed makes
    train, held = split_times(1000, 0.2, 1, seed)
    assert held.numel() == 200 and train.numel() == 800
    k = targets.values
    for row in selection.candidates:
        model = selection.estimators[row.name].model_
        with torch.no_grad():
            predictions = model(model.prepare(paths))
        errors = (predictions[held] - k[held]).square()
        assert row.holdout_loss == pytest.approx(float(errors.mean()), rel=1e-10)
        assert row.holdout_loss_se == pytest.approx(float(errors.std()) / math.sqrt(200), rel=1e-10)
        train_errors = (predictions[train] - k[train]).square()
        assert row.train_loss == pytest.approx(float(train_errors.mean()), rel=1e-10)
        assert row.status == "converged"
        # fitted on the training times only: refitting there gives the same coefficients
        refit = pf.LeastSquares(PolynomialLambda(model.n_params - 1), interval="classical")
        refit.fit(pf.Paths(paths.values[:, train], paths.times[train]), k[train])
        assert torch.allclose(refit.coef_, selection.estimators[row.name].coef_, rtol=1e-12)
    summary = selection.summary()
    assert set(summary) == {"holdout", "n_holdout", "rule", "best", "candidates"}
    for row in summary["candidates"]:
        assert {"name", "n_params", "train_loss", "holdout_loss", "holdout_loss_se"} <= set(row)


def test_exact_targets_choose_the_true_degree():
    """Noise-free targets: degrees 2, 3 and 4 all fit to rounding (hold-out losses ~1e-28), so
    the simplest of them, degree 2, is the one-SE choice."""
    paths = _paths(0)
    selection = select_by_holdout(_candidates(), paths, pf.make_targets(paths, TRUE), seed=0)
    assert selection.best == "degree 2", selection.summary()


def test_gradient_candidates_hold_out_the_same_times():
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=50, n_times=400, horizon=10.0, seed=1)
    targets = pf.make_targets(paths, ConstantLam(0.25), noise_std=0.05, seed=1)
    gradient = pf.GradientFit(ConstantLambda())
    selection = select_by_holdout(
        {"ls": pf.LeastSquares(ConstantLambda()), "gd": gradient}, paths, targets, seed=3
    )
    assert gradient.holdout == 0.2 and gradient.seed == 3
    rows = {c.name: c for c in selection.candidates}
    # both fitted on the same 80% of times, to the same (closed-form) answer
    assert rows["gd"].holdout_loss == pytest.approx(rows["ls"].holdout_loss, rel=1e-6)
    assert rows["gd"].train_loss == pytest.approx(rows["ls"].train_loss, rel=1e-6)


@pytest.mark.parametrize("holdout", [0, 1, -0.1, 1.5])
def test_bad_holdout_is_an_input_error(holdout):
    paths = _paths(0)
    with pytest.raises(InputError, match="holdout") as info:
        select_by_holdout(_candidates(), paths, _noisy(paths, 0), holdout=holdout)
    assert info.value.field == "holdout"


def test_no_candidates_and_bad_rule_are_input_errors():
    paths = _paths(0)
    targets = _noisy(paths, 0)
    with pytest.raises(InputError, match="candidates"):
        select_by_holdout({}, paths, targets)
    with pytest.raises(InputError, match="rule"):
        select_by_holdout(_candidates(), paths, targets, rule="best")  # type: ignore[arg-type]
