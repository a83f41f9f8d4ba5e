"""Guarded gradient training: the seed recipe's divergence explained, the guard, every mode and
optimizer, the training order, and the networks.

A tolerance used throughout: for a one-parameter linear model on noise-free targets,
k_j = lam* s_j, the full-batch gradient is 2 (c - lam*) mean_j s_j^2, proportional to the error.
Training starts at c = 0, so the "converged" rule (full gradient at most 1e-6 times the initial
one) guarantees |c - lam*| <= 1e-6 lam*. Methods that are exact on a 1-d quadratic (gradient
descent at 1/L, a line search) are held to 1e-10.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import warnings

import pytest
import torch

import pathfit as pf
from pathfit.models import ConstantLambda, PointwiseMLP, PolynomialLambda, SeedNetwork
from pathfit.targets import ConstantLam, PolynomialLam

LAM = 0.25
CONVERGED_RTOL = 1e-6  # guaranteed by the convergence rule, see the module docstring
EXACT_RTOL = 1e-10

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@pytest.fixture(scope="module")
def seed_data() -> tuple[pf.Paths, pf.Targets]:
    """The seed experiment: ABM x0 = 0, mu = 0.5, sigma = 1, T = 10, n = 100, m = 1000."""
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=1000, horizon=10.0, seed=0)
    return paths, pf.make_targets(paths, ConstantLam(LAM))


@pytest.fixture(scope="module")
def small_data() -> tuple[pf.Paths, pf.Targets]:
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=20, n_times=200, horizon=10.0, seed=0)
    return paths, pf.make_targets(paths, ConstantLam(LAM))


def _fit(estimator: pf.GradientFit, paths, targets) -> pf.GradientFit:
    """Fit, ignoring ConvergenceWarning (tests that care use pytest.warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        return estimator.fit(paths, targets)


def _rel_error(estimate: float | None) -> float:
    assert estimate is not None
    return abs(estimate - LAM) / LAM


def _mean_square(paths: pf.Paths) -> torch.Tensor:
    return paths.values.square().mean(dim=0)


def _numbers(text: str) -> list[float]:
    return [float(x) for x in _NUMBER.findall(text)]


def _states(text: str, value: float, rel: float = 5e-4) -> bool:
    """Whether ``text`` contains ``value`` to about 4 significant digits."""
    return any(abs(x - value) <= rel * abs(value) for x in _numbers(text))


# --- the seed experiment -----------------------------------------------------------------------


def test_guarded_full_batch_fit_recovers_lambda(seed_data):
    paths, targets = seed_data
    est = pf.GradientFit(ConstantLambda()).fit(paths, targets)

    assert est.result_.status == "converged"
    assert _rel_error(est.lam_) <= CONVERGED_RTOL
    # full-batch curvature of a one-column design: 2 |Phi|^2 / m = 2 mean_j s_j^2, step 1/L
    curvature = 2 * float(_mean_square(paths).square().mean())
    stability = est.result_.stability
    assert stability.curvature == pytest.approx(curvature, rel=1e-12)
    assert stability.bound == pytest.approx(2 / curvature, rel=1e-12)
    assert stability.step == pytest.approx(1 / curvature, rel=1e-12)
    assert stability.events == []
    # at 1/L gradient descent on a 1-d quadratic is a Newton step: exact at once
    assert _rel_error(est.lam_) <= EXACT_RTOL
    assert est.n_iter_ == est.result_.steps <= 3


def test_seed_recipe_diverges_and_says_why(seed_data):
    paths, targets = seed_data
    with pytest.warns(pf.ConvergenceWarning, match="diverged"):
        est = pf.GradientFit(ConstantLambda(), mode="per_sample", lr=0.01, guard=False).fit(
            paths, targets
        )
    result = est.result_

    assert result.status == "diverged"
    assert est.lam_ is None
    assert est.coef_ is None
    assert result.lam is None
    assert result.params is None
    # the per-sample curvature L = 2 max_j s_j^2 (about 3168 here) against 2/lr = 200
    curvature = 2 * float(_mean_square(paths).square().max())
    assert curvature > 2 / 0.01
    assert result.stability.curvature == pytest.approx(curvature, rel=1e-12)
    assert "per-sample curvature" in result.message
    assert _states(result.message, curvature), (curvature, result.message)
    assert re.search(r"2/(?:step|lr) = 200\b", result.message), result.message
    # the unguarded recipe ran as given: no halving
    assert result.stability.final_step == 0.01
    assert all(e.step_size_after is None for e in result.stability.events)


def test_guarded_fit_on_the_same_data_converges(seed_data):
    paths, targets = seed_data
    est = pf.GradientFit(ConstantLambda(), guard=True).fit(paths, targets)
    assert est.result_.status == "converged"
    assert _rel_error(est.lam_) <= CONVERGED_RTOL


def _assert_halving_chain(events, first_step: float) -> None:
    assert events, "expected guard events"
    assert events[0].step_size_before == first_step
    for event in events:
        assert event.kind in ("exploding", "non_finite")
        assert event.step_size_after == event.step_size_before / 2
    for previous, event in itertools.pairwise(events):
        assert event.step_size_before == previous.step_size_after
        assert event.step > previous.step


def test_guarded_per_sample_fit_at_the_seed_step_recovers(seed_data):
    paths, targets = seed_data
    est = pf.GradientFit(ConstantLambda(), mode="per_sample", lr=0.01, guard=True).fit(
        paths, targets
    )
    result = est.result_

    _assert_halving_chain(result.stability.events, first_step=0.01)
    assert result.stability.final_step == result.stability.events[-1].step_size_after
    assert result.status == "converged"
    assert _rel_error(est.lam_) <= CONVERGED_RTOL
    assert "guard" in result.message


@pytest.mark.parametrize("rng", ["philox", "legacy"])
def test_guarded_seed_step_recovers_on_every_dataset(rng):
    # The guard rolls back to its best parameters. It once made them views of its saved
    # vector, so the steps after a rollback moved the rollback point too, and every later
    # rollback landed where the fit had already blown up: seeds 0, 2 and 3 of "philox" (1 and 3
    # of "legacy") ended "diverged" after 40 halvings.
    for seed in range(4):
        paths = pf.simulate(
            pf.ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=1000, horizon=10.0, seed=seed, rng=rng
        )
        est = pf.GradientFit(ConstantLambda(), mode="per_sample", lr=0.01, guard=True)
        result = est.fit(paths, pf.make_targets(paths, ConstantLam(LAM))).result_
        assert result.status == "converged", (seed, result.message)
        assert len(result.stability.events) <= 4, (seed, len(result.stability.events))
        assert _rel_error(est.lam_) <= CONVERGED_RTOL


def test_guard_halves_a_huge_full_batch_step_until_it_converges(seed_data):
    paths, targets = seed_data
    est = pf.GradientFit(ConstantLambda(), mode="full", lr=100.0, guard=True).fit(paths, targets)
    stability = est.result_.stability

    _assert_halving_chain(stability.events, first_step=100.0)
    assert stability.final_step == stability.events[-1].step_size_after
    # full-batch gradient descent on a quadratic converges only below 2/L
    assert stability.final_step < stability.bound
    assert est.result_.status == "converged"
    assert _rel_error(est.lam_) <= CONVERGED_RTOL
    sizes = est.result_.history.step_size
    assert all(b <= a for a, b in itertools.pairwise(sizes))


def test_guard_gives_up_after_max_halvings(seed_data):
    paths, targets = seed_data
    with pytest.warns(pf.ConvergenceWarning):
        est = pf.GradientFit(ConstantLambda(), lr=100.0, max_halvings=0).fit(paths, targets)
    result = est.result_

    assert result.status == "diverged"
    assert est.lam_ is None
    assert result.lam is None
    assert result.stability.events
    assert "guard" in result.message
    assert "halv" in result.message
    # and it still explains the instability: L against the step
    assert _states(result.message, result.stability.curvature)


# --- modes and optimizers ----------------------------------------------------------------------

# sgd at 1/L and L-BFGS's line search are exact on a 1-d quadratic; Adam is held to what the
# convergence rule guarantees (it moves by about its step size, 1e-2, and then shrinks).
TOLERANCES = {"sgd": EXACT_RTOL, "lbfgs": EXACT_RTOL, "adam": CONVERGED_RTOL}


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("mode", ["per_sample", "minibatch", "full"])
def test_every_mode_and_optimizer_recovers_lambda(seed_data, mode, optimizer):
    paths, targets = seed_data
    est = pf.GradientFit(ConstantLambda(), mode=mode, optimizer=optimizer).fit(paths, targets)
    assert est.result_.status == "converged", est.result_.message
    assert _rel_error(est.lam_) <= TOLERANCES[optimizer]
    assert est.result_.stability.events == []


def test_adam_cut_short_reports_max_steps_not_converged(seed_data):
    paths, targets = seed_data
    with pytest.warns(pf.ConvergenceWarning, match="max_steps"):
        est = pf.GradientFit(ConstantLambda(), optimizer="adam", max_steps=100).fit(paths, targets)
    assert est.result_.status == "max_steps"
    assert est.n_iter_ == 100
    # 100 steps of at most ~1e-2 each from 0: near 0.25 (8e-5 here) but not settled
    assert abs(est.lam_ - LAM) < 1e-3


def test_per_sample_curvature_is_the_largest_sample_curvature(seed_data):
    paths, targets = seed_data
    est = pf.GradientFit(ConstantLambda(), mode="minibatch").fit(paths, targets)
    curvature = 2 * float(_mean_square(paths).square().max())
    assert est.result_.stability.curvature == pytest.approx(curvature, rel=1e-12)
    assert est.result_.stability.step == pytest.approx(1 / curvature, rel=1e-12)


# --- training order ----------------------------------------------------------------------------


def test_same_seed_same_history_other_seed_other_history(small_data):
    paths, _ = small_data
    targets = pf.make_targets(paths, ConstantLam(LAM), noise_std=0.5, seed=3)

    def history(seed: int):
        est = pf.GradientFit(ConstantLambda(), mode="per_sample", max_steps=300, tol=0.0, seed=seed)
        return _fit(est, paths, targets).result_.history

    first, again, other = history(3), history(3), history(4)
    assert first.loss == again.loss
    assert first.params == again.params
    assert first.loss != other.loss


def _visit_order(paths, targets, seed: int, n_steps: int) -> torch.Tensor:
    """The time index of each per-sample step. At a step of 1e-20 the parameter stays ~1e-16,
    so each step's loss (recorded before the step) is k_j^2 of its sample to ~1e-8 relative,
    far below the smallest relative gap between distinct k_j^2, which the caller checks."""
    est = pf.GradientFit(
        ConstantLambda(), mode="per_sample", lr=1e-20, max_steps=n_steps, seed=seed
    )
    losses = torch.tensor(_fit(est, paths, targets).result_.history.loss, dtype=torch.float64)
    k2 = targets.values.square()
    index = (losses[:, None] - k2[None, :]).abs().argmin(dim=1)
    mismatch = ((losses - k2[index]).abs() / k2[index]).max()
    assert float(mismatch) < 1e-6
    return index


def test_per_sample_order_is_a_fresh_permutation_each_epoch(small_data):
    paths, targets = small_data
    values, times, k = paths.values.clone(), paths.times.clone(), targets.values.clone()
    m = paths.n_times
    k2 = targets.values.square().sort().values
    assert float(((k2[1:] - k2[:-1]) / k2[1:]).min()) > 1e-5  # the k_j^2 are distinguishable

    order = _visit_order(paths, targets, seed=0, n_steps=2 * m)
    first, second = order[:m], order[m:]
    everything = torch.arange(m)
    assert torch.equal(first.sort().values, everything)
    assert torch.equal(second.sort().values, everything)
    assert not torch.equal(first, everything)  # shuffled, not in time order
    assert not torch.equal(first, second)  # reshuffled each epoch

    again = _visit_order(paths, targets, seed=0, n_steps=m)
    other = _visit_order(paths, targets, seed=1, n_steps=m)
    assert torch.equal(again, first)
    assert torch.equal(other.sort().values, everything)
    assert not torch.equal(other, first)

    # training shuffles indices, never the data
    assert torch.equal(paths.values, values)
    assert torch.equal(paths.times, times)
    assert torch.equal(targets.values, k)
    assert bool((paths.times[1:] >= paths.times[:-1]).all())


# --- polynomial lambda -------------------------------------------------------------------------


def test_lbfgs_polynomial_lambda_matches_least_squares():
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=100, n_times=200, horizon=2.0, seed=1)
    # noisy targets, so that the least-squares solution differs from the truth
    targets = pf.make_targets(paths, PolynomialLam((0.1, 0.02, 0.05)), noise_std=1e-2, seed=2)
    ls = pf.LeastSquares(PolynomialLambda(2)).fit(paths, targets)
    est = pf.GradientFit(PolynomialLambda(2), optimizer="lbfgs").fit(paths, targets)

    assert est.result_.status == "converged"
    torch.testing.assert_close(est.coef_, ls.coef_, rtol=1e-6, atol=0.0)
    assert est.result_.params == pytest.approx(ls.coef_.tolist(), rel=1e-6)
    assert float((ls.coef_ - torch.tensor([0.1, 0.02, 0.05], dtype=torch.float64)).abs().max()) > (
        1e-5
    )


# --- networks ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_seed_network_learns_only_its_bias(seed_data):
    paths, targets = seed_data
    est = _fit(pf.GradientFit(SeedNetwork(100), optimizer="lbfgs", max_steps=100), paths, targets)
    assert est.result_.status != "diverged"
    assert _rel_error(est.lam_) <= 1e-4
    assert est.result_.lam == est.lam_
    spread, level = est.model_.weight_share(paths.values.T)
    assert spread / level < 1e-3
    assert est.result_.notes  # says that only the bias is identified
    assert est.result_.params is None


@pytest.mark.slow
def test_pointwise_mlp_learns_the_mean_lambda(seed_data):
    paths, targets = seed_data
    est = _fit(pf.GradientFit(PointwiseMLP(), max_steps=100), paths, targets)
    assert est.result_.status == "converged"
    assert _rel_error(est.lam_) <= 1e-9
    # lam_ is the mean of lambda_theta over every observed x, weighted by x^2
    with torch.no_grad():
        square = paths.values.square()
        mean_lam = float((est.model_.lam(paths.values) * square).sum() / square.sum())
    assert est.lam_ == pytest.approx(mean_lam, rel=1e-12)
    assert json.dumps(est.result_.summary(), allow_nan=False)


# --- results -----------------------------------------------------------------------------------


def test_summaries_are_json_safe(seed_data, small_data):
    paths, targets = seed_data
    converged = pf.GradientFit(ConstantLambda()).fit(paths, targets).result_
    diverged = _fit(
        pf.GradientFit(ConstantLambda(), mode="per_sample", lr=0.01, guard=False), paths, targets
    ).result_
    guarded = pf.GradientFit(ConstantLambda(), lr=100.0).fit(paths, targets).result_

    for result in (converged, diverged, guarded):
        for history in (False, True):
            summary = result.summary(history=history)
            text = json.dumps(summary, allow_nan=False)
            assert json.loads(text) == summary
            for key in ("status", "message", "steps", "wall_s", "params", "stderr", "ci"):
                assert key in summary
            assert ("history" in summary) == history
    assert converged.summary()["params"] == pytest.approx([LAM], rel=CONVERGED_RTOL)
    assert diverged.summary()["status"] == "diverged"
    assert diverged.summary()["params"] is None
    assert diverged.summary()["steps"] == diverged.steps > 0
    assert len(guarded.summary()["stability"]["events"]) == len(guarded.stability.events)
    assert guarded.report().startswith("gradient")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "found"),
    [
        ({"mode": "batch"}, "mode", "'batch'"),
        ({"optimizer": "rmsprop"}, "optimizer", "'rmsprop'"),
        ({"lr": 0.0}, "lr", "0.0"),
        ({"lr": -0.5}, "lr", "-0.5"),
        ({"lr": math.nan}, "lr", "nan"),
        ({"level": 1.0}, "level", "1.0"),
        ({"level": 0.0}, "level", "0.0"),
        ({"batch_size": 0}, "batch_size", "0"),
        ({"max_steps": 0}, "max_steps", "0"),
    ],
)
def test_bad_hyperparameters_are_refused(small_data, kwargs, field, found):
    paths, targets = small_data
    with pytest.raises(pf.InputError) as info:
        pf.GradientFit(ConstantLambda(), **kwargs).fit(paths, targets)
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    message = str(info.value)
    assert message.startswith(f"{field}: expected ")
    assert message.endswith(f"found {found}")


def test_non_finite_targets_are_refused(small_data):
    paths, targets = small_data
    k = targets.values.clone()
    k[17] = math.inf
    with pytest.raises(pf.InputError, match=r"^targets: .*found inf at index \(17\)"):
        pf.GradientFit(ConstantLambda()).fit(paths, k)


def test_targets_of_the_wrong_length_are_refused(small_data):
    paths, targets = small_data
    with pytest.raises(pf.InputError, match=r"^targets: .*found 201 values for 200 times"):
        pf.GradientFit(ConstantLambda()).fit(paths, torch.cat([targets.values, targets.values[:1]]))


def test_fewer_times_than_parameters_are_refused():
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=10, n_times=3, horizon=1.0, seed=0)
    targets = pf.make_targets(paths, PolynomialLam((0.1, 0.2, 0.3, 0.4)))
    with pytest.raises(pf.InputError, match=r"^n_times: .*at least 4 .*found 3$"):
        pf.GradientFit(PolynomialLambda(3)).fit(paths, targets)


def test_a_non_pathfit_model_is_refused(small_data):
    paths, targets = small_data
    with pytest.raises(pf.InputError, match=r"^model: .*found Linear$"):
        pf.GradientFit(torch.nn.Linear(1, 1)).fit(paths, targets)


def test_fit_does_not_change_the_given_model(small_data):
    paths, targets = small_data
    model = ConstantLambda()
    est = pf.GradientFit(model).fit(paths, targets)
    assert float(model.coef.detach()[0]) == 0.0
    assert est.model_ is not model
    assert float(est.model_.coef.detach()[0]) == pytest.approx(LAM, rel=CONVERGED_RTOL)


# --- convergence judged on what the model predicts ----------------------------------------------


# On these small data, float32 L-BFGS stops dead at sqrt(loss / mean k^2) ~ 2.7e-5 (about 230
# eps) before the answer has settled, which the rule calls stalled: a known gap (issue 9, item 2).
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("network", ["seed_network", "pointwise_mlp"])
def test_networks_converge_on_what_they_predict(network, dtype):
    """Small versions of the run defaults (optimizer "auto": Gauss-Newton): the weights are
    not identified, but the answer settles in both dtypes, and the message says which test
    fired, with its value and threshold."""
    paths = pf.simulate(
        pf.ABM(mu=0.5, sigma=1.0), n_paths=20, n_times=200, horizon=10.0, seed=0, dtype=dtype
    )
    targets = pf.make_targets(paths, ConstantLam(LAM))
    model = SeedNetwork(20) if network == "seed_network" else PointwiseMLP((8,))
    est = _fit(pf.GradientFit(model, max_steps=200), paths, targets)
    result = est.result_

    assert est.optimizer_ == "gauss_newton"
    assert result.status == "converged", result.message
    assert result.steps < 50
    assert result.evaluations >= result.steps
    assert result.step.startswith("one Levenberg-Marquardt iteration")
    # on 20 paths the mean of lambda_theta over all x is pinned down to about 3e-4 only
    assert _rel_error(est.lam_) <= 1e-3
    tests = ("noise-free floor", "gradient small against the loss", "answer stopped moving")
    assert sum(test in result.message for test in tests) == 1
    assert "<=" in result.message
    assert f"converged at step {result.steps}" in result.message


@pytest.mark.parametrize("network", ["seed_network", "pointwise_mlp"])
def test_lbfgs_networks_converge_in_float64(network):
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=20, n_times=200, horizon=10.0, seed=0)
    targets = pf.make_targets(paths, ConstantLam(LAM))
    model = SeedNetwork(20) if network == "seed_network" else PointwiseMLP((8,))
    est = _fit(pf.GradientFit(model, optimizer="lbfgs", max_steps=200), paths, targets)
    assert est.result_.status == "converged", est.result_.message
    assert est.result_.step == "one L-BFGS call of up to 20 iterations"
    assert _rel_error(est.lam_) <= 1e-3


def test_gauss_newton_needs_the_full_batch():
    paths = pf.simulate(pf.ABM(), n_paths=5, n_times=20, horizon=1.0, seed=0)
    targets = pf.make_targets(paths, ConstantLam(LAM))
    fit = pf.GradientFit(PointwiseMLP(), optimizer="gauss_newton", mode="minibatch")
    with pytest.raises(pf.InputError, match=r"^optimizer: .*mode = \"full\""):
        fit.fit(paths, targets)


def test_linear_fit_on_noise_free_targets_still_converges_exactly(seed_data):
    paths, targets = seed_data
    est = pf.GradientFit(ConstantLambda()).fit(paths, targets)
    assert est.result_.status == "converged"
    assert est.lam_ == LAM
    assert est.result_.steps == 2
    assert "relative parameter change <= tol" in est.result_.message
    assert est.result_.step == "one full batch"
    assert est.result_.evaluations >= est.result_.steps


def test_step_says_what_a_step_is(small_data):
    paths, targets = small_data
    per_sample = _fit(pf.GradientFit(ConstantLambda(), mode="per_sample", max_steps=5), *small_data)
    minibatch = _fit(pf.GradientFit(ConstantLambda(), mode="minibatch", max_steps=5), *small_data)
    least_squares = pf.LeastSquares(ConstantLambda()).fit(paths, targets)
    assert per_sample.result_.step == "one sample"
    assert minibatch.result_.step == "one minibatch of 32 times"
    assert least_squares.result_.step == "one closed-form solve"
    assert least_squares.result_.evaluations == 0


def test_network_weights_stuck_short_of_the_answer_is_stalled(small_data):
    """A step too small to move the answer: the weights stop (change <= tol) first."""
    paths, targets = small_data
    with pytest.warns(pf.ConvergenceWarning, match="stalled"):
        est = pf.GradientFit(
            PointwiseMLP((4,)), optimizer="sgd", lr=1e-30, tol=1e-10, max_steps=50
        ).fit(paths, targets)
    assert est.result_.status == "stalled"
    assert "the weights stopped moving" in est.result_.message
    assert "before the answer settled" in est.result_.message
