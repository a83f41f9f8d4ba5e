"""Hold-out times and early stopping in GradientFit, and the lambda(x) experiment built on them."""

from __future__ import annotations

import re
import warnings

import pytest
import torch

import pathfit as pf
from pathfit.estimators.holdout import split_times
from pathfit.models import ConstantLambda, PointwiseMLP
from pathfit.targets import ConstantLam


class RecordingLambda(ConstantLambda):
    """Constant lambda that records, for every forward pass, whether autograd was on and which
    design rows (s_j values, distinct for distinct times) it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[bool, torch.Tensor]] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.calls.append((torch.is_grad_enabled(), inputs[:, 0].detach().clone()))
        return super().forward(inputs)


def _paths(n_paths: int = 100, n_times: int = 1000, seed: int = 0) -> pf.Paths:
    return pf.simulate(
        pf.ABM(mu=0.5, sigma=1.0), n_paths=n_paths, n_times=n_times, horizon=10.0, seed=seed
    )


def _noisy(paths: pf.Paths, fraction: float, seed: int = 0) -> pf.Targets:
    exact = pf.make_targets(paths, ConstantLam(0.25))
    std = fraction * float(exact.values.abs().mean())
    return pf.make_targets(paths, ConstantLam(0.25), noise_std=std, seed=seed)


def _rows(values: torch.Tensor) -> frozenset[float]:
    return frozenset(values.tolist())


# --- what is trained on, what is held out -------------------------------------------------------


def test_training_never_sees_the_held_out_times():
    paths = _paths()
    targets = _noisy(paths, 0.01)
    fit = pf.GradientFit(RecordingLambda(), holdout=0.2, seed=4).fit(paths, targets)
    train, held = split_times(1000, 0.2, 1, 4)
    design = paths.mean_square()
    train_rows, held_rows = _rows(design[train]), _rows(design[held])
    assert len(train_rows) == 800 and len(held_rows) == 200
    assert not train_rows & held_rows

    calls = fit.model_.calls
    assert calls
    seen = [_rows(rows) for _, rows in calls]
    # every forward pass sees exactly the training times or exactly the held-out times
    assert all(rows in (train_rows, held_rows) for rows in seen)
    # every pass that builds a gradient is on the training times
    assert all(_rows(rows) == train_rows for grad, rows in calls if grad)
    assert any(grad for grad, _ in calls)
    # and the held-out times are only ever evaluated, once per step in full-batch mode
    held_passes = [grad for (grad, _), rows in zip(calls, seen, strict=True) if rows == held_rows]
    assert not any(held_passes)
    assert len(held_passes) == fit.n_iter_


def test_changing_held_out_targets_does_not_change_the_training_path():
    paths = _paths(seed=1)
    targets = _noisy(paths, 0.01, seed=1).values
    _, held = split_times(1000, 0.2, 1, 0)
    moved = targets.clone()
    moved[held] += 50.0 * torch.linspace(-1, 1, held.numel(), dtype=torch.float64)
    a = pf.GradientFit(ConstantLambda(), holdout=0.2).fit(paths, targets).result_.history
    b = pf.GradientFit(ConstantLambda(), holdout=0.2).fit(paths, moved).result_.history
    assert a.loss == b.loss
    assert a.params == b.params
    assert a.train_loss == b.train_loss
    assert all(hb > 10 * ha for ha, hb in zip(a.holdout_loss, b.holdout_loss, strict=True))


def test_history_records_train_and_holdout_loss_on_their_own_times():
    paths = _paths()
    k = _noisy(paths, 0.01).values
    fit = pf.GradientFit(ConstantLambda(), holdout=0.2).fit(paths, k)
    history = fit.result_.history
    train, held = split_times(1000, 0.2, 1, 0)
    design = paths.mean_square()
    n = len(history.step)
    assert n == fit.n_iter_ >= 1
    assert len(history.holdout_loss) == len(history.train_loss) == n
    # full batch: the hold-out loss at every step, the training loss at every step but the
    # last (it is known one step later); both at the parameters after the step
    assert all(v is not None for v in history.holdout_loss)
    assert all(v is not None for v in history.train_loss[:-1]) and history.train_loss[-1] is None
    for (lam,), loss, train_loss in zip(
        history.params, history.holdout_loss, history.train_loss, strict=True
    ):
        # the MSE on the 200 held-out times, and on the 800 training times (not all 1000)
        expected = float((lam * design[held] - k[held]).square().mean())
        assert loss == pytest.approx(expected, rel=1e-12)
        if train_loss is not None:
            on_train = float((lam * design[train] - k[train]).square().mean())
            assert train_loss == pytest.approx(on_train, rel=1e-12)
            everywhere = float((lam * design - k).square().mean())
            assert train_loss != pytest.approx(everywhere, rel=1e-9)


def test_minibatch_measures_holdout_loss_at_epoch_ends_only():
    paths = _paths()
    k = _noisy(paths, 0.01).values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        fit = pf.GradientFit(
            ConstantLambda(), mode="minibatch", batch_size=200, holdout=0.2, max_steps=12
        ).fit(paths, k)
    history = fit.result_.history
    # 800 training times in batches of 200: an epoch ends every 4th step
    measured = [s for s, v in zip(history.step, history.holdout_loss, strict=True) if v is not None]
    assert measured == [4, 8, 12]
    trained = [s for s, v in zip(history.step, history.train_loss, strict=True) if v is not None]
    assert trained == measured


def test_holdout_without_training_times_is_an_input_error():
    paths = _paths(n_paths=5, n_times=3)
    k = pf.make_targets(paths, ConstantLam(0.25)).values
    with pytest.raises(pf.InputError, match="holdout"):
        pf.GradientFit(ConstantLambda(), holdout=0.9).fit(paths, k)  # 3 held, 0 left
    with pytest.raises(pf.InputError, match="holdout"):
        pf.GradientFit(ConstantLambda(), holdout=1.0).fit(paths, k)


# --- early stopping -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def early_stopped():
    paths = _paths(n_paths=20, n_times=200)
    targets = _noisy(paths, 0.2)
    fit = pf.GradientFit(
        PointwiseMLP((64, 64)), optimizer="lbfgs", holdout=0.2, patience=2, max_steps=100
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit.fit(paths, targets)
    return paths, targets, fit, caught


@pytest.mark.slow
def test_an_over_wide_network_stops_early(early_stopped):
    _, _, fit, caught = early_stopped
    result = fit.result_
    assert result.status == fit.status_ == "early_stopped", result.message
    assert not [w for w in caught if issubclass(w.category, pf.ConvergenceWarning)]
    losses = result.history.holdout_loss
    assert all(v is not None for v in losses)  # full batch: checked every step
    best_step = result.history.step[min(range(len(losses)), key=losses.__getitem__)]
    assert result.message.startswith(f"early stopped at step {result.steps}")
    assert f"at step {best_step})" in result.message
    found = re.search(r"best (\S+) at step", result.message)
    assert found is not None and float(found.group(1)) == pytest.approx(min(losses), rel=1e-3)
    # it stopped after `patience` checks without improvement
    assert result.steps - best_step == 2
    assert result.steps < 100


@pytest.mark.slow
def test_early_stopping_keeps_the_best_hold_out_parameters(early_stopped):
    paths, targets, fit, _ = early_stopped
    _, held = split_times(200, 0.2, 1, 0)
    model = fit.model_
    with torch.no_grad():
        final = float((model(model.prepare(paths))[held] - targets.values[held]).square().mean())
    losses = fit.result_.history.holdout_loss
    assert final == pytest.approx(min(losses), rel=1e-12)
    # the parameters of the last step predict the held-out times worse than those kept
    assert losses[-1] > min(losses)
