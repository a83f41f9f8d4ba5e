"""The amortized estimator: order invariance, saving without pickle, refusals, and
calibration of a small trained model."""

from __future__ import annotations

import json

import pytest
import torch

import pathfit as pf
from pathfit.amortized._prior import Prior, simulate_batch
from pathfit.amortized.estimator import AmortizedEstimator
from pathfit.exceptions import InputError
from pathfit.targets import ConstantLam, make_targets

TINY = Prior(processes=("abm",), n_paths=(10, 40), n_times=(20, 80))


@pytest.fixture(scope="module")
def tiny() -> AmortizedEstimator:
    # a few hundred simulations and two epochs: untrained in spirit, but a real network
    est = AmortizedEstimator(TINY, hidden=16, context=8, transforms=2, threads=1, n_draws=200)
    return est.train(256, batch_size=32, max_epochs=2, validation=64)


def _data(n=30, m=50, seed=0, noise=0.01):
    paths = pf.simulate(pf.ABM(x0=0.3, mu=0.5), n_paths=n, n_times=m, horizon=5.0, seed=seed)
    return paths, make_targets(paths, ConstantLam(0.25), noise_std=noise, seed=seed)


def test_permuting_paths_or_times_changes_nothing_not_even_rounding(tiny):
    paths, targets = _data()
    base = tiny.posterior(paths, targets)
    g = torch.Generator().manual_seed(5)
    by_path = torch.randperm(paths.n_paths, generator=g)
    by_time = torch.randperm(paths.n_times, generator=g)
    shuffled_paths = pf.Paths(paths.values[by_path], paths.times)
    # a time permutation must keep paths and targets together; Paths need sorted times, so
    # permuting times is sorting them back: the summaries sort by time themselves
    assert torch.equal(
        tiny.posterior(shuffled_paths, targets).log_prob(torch.tensor([[0.25], [0.3]])),
        base.log_prob(torch.tensor([[0.25], [0.3]])),
    )
    assert torch.equal(tiny.posterior(shuffled_paths, targets).sample(50), base.sample(50))
    # times: the summaries are computed on time-sorted data, so any order of the same
    # (time, k, column) triples gives the same tokens; the network pools them by a mean
    tokens = tiny.summaries_of(paths, targets).tokens
    pooled = tiny.net_.embedding.phi(tokens).mean(dim=1)
    pooled_shuffled = tiny.net_.embedding.phi(tokens[:, by_time]).mean(dim=1)
    assert torch.allclose(pooled, pooled_shuffled, rtol=1e-6)


def test_save_and_load_give_identical_outputs(tiny, tmp_path):
    written = tiny.save(tmp_path / "est")
    assert sorted(p.name for p in written.values()) == ["estimator.json", "estimator.safetensors"]
    loaded = AmortizedEstimator.load(tmp_path / "est")
    paths, targets = _data(seed=3)
    tiny.fit(paths, targets)
    coef, ci = tiny.coef_.clone(), tiny.ci_.clone()
    b = loaded.fit(paths, targets)
    assert torch.equal(b.coef_, coef) and torch.equal(b.ci_, ci)
    assert loaded.prior_ == tiny.prior_
    meta = json.loads((tmp_path / "est" / "estimator.json").read_text())
    assert meta["format"] == "pathfit.amortized/1" and meta["versions"]["pathfit"] == pf.__version__


def _corrupt(tmp_path, tiny, change):
    folder = tmp_path / "est"
    tiny.save(folder)
    change(folder)
    with pytest.raises(InputError) as info:
        AmortizedEstimator.load(folder)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_missing_file_is_named(tmp_path, tiny):
    message = _corrupt(tmp_path, tiny, lambda f: (f / "estimator.safetensors").unlink())
    assert "estimator.safetensors" in message and "no such file" in message


def test_corrupted_weights_are_refused(tmp_path, tiny):
    def truncate(folder):
        data = (folder / "estimator.safetensors").read_bytes()
        (folder / "estimator.safetensors").write_bytes(data[: len(data) // 2])

    assert "unreadable weights" in _corrupt(tmp_path, tiny, truncate)


def test_weights_of_another_architecture_are_refused(tmp_path, tiny):
    def widen(folder):
        meta = json.loads((folder / "estimator.json").read_text())
        meta["architecture"]["hidden"] = 17
        (folder / "estimator.json").write_text(json.dumps(meta))

    message = _corrupt(tmp_path, tiny, widen)
    assert "estimator.safetensors" in message and "of shape" in message


def test_another_format_and_bad_json_are_refused(tmp_path, tiny):
    def other_format(folder):
        meta = json.loads((folder / "estimator.json").read_text())
        meta["format"] = "pathfit.amortized/0"
        (folder / "estimator.json").write_text(json.dumps(meta))

    assert "format" in _corrupt(tmp_path, tiny, other_format)
    message = _corrupt(tmp_path, tiny, lambda f: (f / "estimator.json").write_text("{"))
    assert "invalid JSON" in message


def test_a_prior_that_does_not_load_is_named_with_its_key(tmp_path, tiny):
    def bad_prior(folder):
        meta = json.loads((folder / "estimator.json").read_text())
        meta["prior"]["n_paths"] = [50, 10]
        (folder / "estimator.json").write_text(json.dumps(meta))

    assert "prior.n_paths" in _corrupt(tmp_path, tiny, bad_prior)


def test_fit_before_train_and_bad_priors_are_input_errors():
    paths, targets = _data()
    with pytest.raises(InputError, match="untrained"):
        AmortizedEstimator().fit(paths, targets)
    for bad in (
        dict(processes=("bm",)),
        dict(sigma=(0.0, 1.0)),
        dict(n_times=(1, 10)),
        dict(degree=1),  # coef_mean and coef_sd still have one entry
        dict(coef_sd=(-1.0,)),
    ):
        with pytest.raises(InputError, match="prior"):
            Prior(**bad)


def test_the_result_is_like_any_other_methods(tiny):
    paths, targets = _data(seed=4)
    est = tiny.fit(paths, targets)
    r = est.result_
    assert r.method == "amortized" and r.interval == "posterior" and r.status == "converged"
    assert (r.lam == est.lam_ and r.lam_ci == tuple(est.ci_[0].tolist())) or r.lam_ci == list(
        est.ci_[0].tolist()
    )
    lo, hi = r.lam_ci
    assert lo < est.lam_ < hi


def test_simulated_batches_follow_the_prior_and_their_sizes():
    g = torch.Generator().manual_seed(0)
    batch = simulate_batch(
        Prior(degree=1, coef_mean=(0.25, 0.1), coef_sd=(0.1, 0.05)), 40, g, n_paths=12, n_times=30
    )
    assert batch.moments.shape == (40, 30, 6) and batch.n_paths == 12
    assert batch.coef.shape == (40, 2)
    design = batch.moments[..., [1, 2]]
    clean = (design @ batch.coef.unsqueeze(-1)).squeeze(-1)
    resid = (batch.targets - clean) / batch.noise_std.unsqueeze(1)
    # standardized noise: mean 0, variance 1 over 1200 values (5-sigma bands)
    assert abs(float(resid.mean())) < 5 / 1200**0.5
    assert abs(float(resid.var()) - 1) < 5 * (2 / 1200) ** 0.5


@pytest.mark.slow
def test_a_small_trained_model_is_calibrated():
    # Small data (10-40 paths, 20-80 times) where the prior still pulls: 1000 simulations,
    # then 400 fresh datasets. A calibrated posterior's coverage at each level is binomial:
    # the 99.9% Clopper-Pearson band around the empirical coverage misses the nominal level
    # with probability 1e-3 per level, and the KS test of the SBC ranks fails with probability
    # 1e-3: at most 5e-3 for the whole test (union bound).
    from pathfit.amortized._calibration import coverage_interval
    from pathfit.amortized.validate import validate

    est = AmortizedEstimator(TINY, hidden=32, context=16, transforms=2, threads=1, seed=5)
    est.train(1000, batch_size=50, max_epochs=5, validation=200)
    v = validate(
        est,
        n_simulations=400,
        n_draws=199,
        c2st_datasets=2,
        outside_simulations=4,
        timing_batch=4,
    )
    assert v.sbc["ks_pvalue"] > 1e-3, v.sbc
    for level, empirical in zip(v.coverage["levels"], v.coverage["empirical"], strict=True):
        lo, hi = coverage_interval(round(empirical * 400), 400, level=0.999)
        assert lo <= level <= hi, (level, empirical)
    assert v.rmse["ratio_vs_exact"] < 1.2


def test_an_estimator_saved_by_a_newer_pathfit_is_refused(tmp_path, tiny):
    def newer(folder):
        meta = json.loads((folder / "estimator.json").read_text())
        meta["versions"]["pathfit"] = "999.0.0"
        (folder / "estimator.json").write_text(json.dumps(meta))

    message = _corrupt(tmp_path, tiny, newer)
    assert "versions.pathfit" in message and "'999.0.0'" in message
