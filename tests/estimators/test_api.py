"""The Python API of issue 14: inputs as arrays, tensors and DataFrames, float32 kept, the
one-line ``pathfit.fit``, and fitted attributes of one type on every estimator."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import pathfit as pf
from pathfit.models import ConstantLambda, PointwiseMLP, PolynomialLambda, SeedNetwork


def _abm(n_paths: int = 30, n_times: int = 120, seed: int = 0) -> tuple[np.ndarray, ...]:
    """ABM paths simulated with NumPy, as a user would, and exact targets k = 0.25 mean x^2."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 10.0, n_times))
    dt = np.diff(t, prepend=0.0)
    steps = 0.5 * dt + np.sqrt(dt) * rng.standard_normal((n_paths, n_times))
    x = np.cumsum(steps, axis=1)
    return x, t, 0.25 * (x**2).mean(axis=0)


# --- inputs -----------------------------------------------------------------------------------


def test_numpy_paths_with_times_fit_as_paths_do():
    x, t, k = _abm()
    reference = pf.LeastSquares().fit(pf.Paths(torch.from_numpy(x), torch.from_numpy(t)), k)
    est = pf.LeastSquares().fit(x, k, times=t)
    assert est.coef_.dtype == torch.float64
    assert torch.equal(est.coef_, reference.coef_)
    assert est.lam_ == pytest.approx(0.25, rel=1e-12)


def test_reversed_and_strided_views_fit_as_copies_do():
    # views with negative strides (x[:, ::-1]) are refused by torch.as_tensor: they are copied
    x, t, k = _abm()

    def reversed_view(values: np.ndarray) -> np.ndarray:
        """The same values, held backwards: a view with negative strides."""
        view = np.flip(np.flip(values).copy())
        assert all(step < 0 for step in view.strides)
        return view

    reference = pf.LeastSquares().fit(x, k, times=t)
    est = pf.LeastSquares().fit(reversed_view(x), reversed_view(k), times=reversed_view(t))
    assert torch.equal(est.coef_, reference.coef_)
    with pytest.raises(pf.InputError) as info:  # reversed times: unsorted, named, not a crash
        pf.LeastSquares().fit(x[:, ::-1], k[::-1], times=t[::-1])
    assert info.value.field.endswith("times")


def test_numpy_paths_without_times_are_refused_naming_times():
    x, _, k = _abm()
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares().fit(x, k)
    assert info.value.field == "times"
    assert info.value.value == "None"


def test_times_come_from_targets_that_carry_them():
    x, t, k = _abm()
    targets = pf.Targets(torch.from_numpy(k), torch.from_numpy(t))
    est = pf.LeastSquares().fit(x, targets)
    assert est.lam_ == pytest.approx(0.25, rel=1e-12)


def test_times_besides_paths_are_refused():
    x, t, k = _abm()
    paths = pf.Paths(torch.from_numpy(x), torch.from_numpy(t))
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares().fit(paths, k, times=t)
    assert info.value.field == "times"


def test_torch_tensors_are_accepted():
    x, t, k = _abm()
    est = pf.GradientFit(ConstantLambda()).fit(
        torch.from_numpy(x), torch.from_numpy(k), times=torch.from_numpy(t)
    )
    assert est.lam_ == pytest.approx(0.25, rel=1e-9)


@pytest.mark.parametrize("source", ["numpy", "torch"])
def test_float32_stays_float32_end_to_end(source):
    # NumPy float32 was upcast to float64 by the shared validator before issue 14
    x, t, k = _abm()
    x32, k32 = x.astype(np.float32), k.astype(np.float32)
    if source == "torch":
        x32, k32 = torch.from_numpy(x32), torch.from_numpy(k32)
    for est in (pf.LeastSquares(), pf.GradientFit(PolynomialLambda(1))):
        est.fit(x32, k32, times=t)
        for name in ("coef_", "stderr_", "ci_", "cov_"):
            assert getattr(est, name).dtype == torch.float32, name
        assert est.model_.coef.dtype == torch.float32
        assert est.predict(x32, times=t).dtype == torch.float32


def test_float32_numpy_arrays_make_float32_paths():
    x, t, _ = _abm()
    paths = pf.Paths(x.astype(np.float32), t)
    assert paths.dtype == torch.float32
    assert pf.as_paths(x.astype(np.float32), times=t).dtype == torch.float32


def test_as_targets_needs_times_for_bare_values():
    _, t, k = _abm()
    with pytest.raises(pf.InputError) as info:
        pf.as_targets(k)
    assert info.value.field == "times"
    assert pf.as_targets(k, times=t).n_times == t.size


# --- pandas -------------------------------------------------------------------------------------


def _frames(x: np.ndarray, t: np.ndarray, k: np.ndarray):
    pd = pytest.importorskip("pandas")
    n_paths, n_times = x.shape
    order = np.random.default_rng(1).permutation(n_paths * n_times)  # rows in any order
    long = pd.DataFrame(
        {
            "path": np.repeat([f"p{i}" for i in range(n_paths)], n_times)[order],
            "time": np.tile(t, n_paths)[order],
            "value": x.reshape(-1)[order],
        }
    )
    targets = pd.DataFrame({"time": t[::-1], "k": k[::-1]})
    wide = pd.DataFrame(x.T, columns=[f"p{i}" for i in range(n_paths)])
    wide.insert(0, "time", t)
    wide["k"] = k
    return pd, long, targets, wide


def test_long_and_wide_dataframes_fit_as_the_arrays_do():
    x, t, k = _abm()
    pd, long, targets, wide = _frames(x, t, k)
    reference = pf.LeastSquares().fit(x, k, times=t).coef_
    assert torch.equal(pf.LeastSquares().fit(long, targets).coef_, reference)
    assert torch.equal(pf.LeastSquares().fit(wide).coef_, reference)  # k from the frame
    shuffled = wide.sample(frac=1.0, random_state=0)  # rows need not be sorted by time
    assert torch.equal(pf.LeastSquares().fit(shuffled).coef_, reference)
    no_k = wide.drop(columns="k").set_index("time")  # time as the index
    series = pd.Series(k, index=pd.Index(t, name="time"))
    assert torch.equal(pf.LeastSquares().fit(no_k, series).coef_, reference)
    # an array's columns take the times of the targets' rows, in their order
    assert torch.equal(pf.LeastSquares().fit(x, targets.iloc[::-1]).coef_, reference)
    with pytest.raises(pf.InputError, match=r"^paths\.times: .*sorted ascending"):
        pf.LeastSquares().fit(x, targets)


def test_fit_one_liner_reads_a_dataframe():
    x, t, k = _abm()
    _, long, targets, wide = _frames(x, t, k)
    assert pf.fit(long, targets).lam_ == pytest.approx(0.25, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        network = pf.fit(wide, method="seed_network", max_steps=2)
    assert network.model_.n_inputs == x.shape[0]  # paths, not the frame's rows


def test_dataframe_float32_columns_stay_float32():
    x, t, k = _abm()
    _, long, targets, wide = _frames(x.astype(np.float32), t, k.astype(np.float32))
    for data in ((long, targets), (wide, None)):
        est = pf.LeastSquares().fit(*data)
        assert est.coef_.dtype == torch.float32


def test_dataframe_problems_name_the_row_and_column():
    x, t, k = _abm()
    _, long, targets, wide = _frames(x, t, k)
    holed = long.copy()
    holed.loc[holed.index[5], "value"] = np.nan
    with pytest.raises(pf.InputError, match=r"^paths row 5, column 'value': .*missing value"):
        pf.LeastSquares().fit(holed, targets)
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares().fit(long.rename(columns={"value": "x"}), targets)
    assert info.value.field == "paths"
    assert "'x'" in str(info.value)
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares().fit(long, targets.iloc[:-1])  # a time without a target
    assert "no target" in str(info.value)
    with pytest.raises(pf.InputError) as info:
        pf.LeastSquares().fit(wide, k)  # k twice
    assert info.value.field == "targets"


def test_pandas_is_never_imported_by_pathfit():
    code = (
        "import sys, numpy as np, pathfit as pf\n"
        "x = np.ones((3, 4)) * np.arange(1, 5); t = np.arange(1.0, 5.0)\n"
        "pf.LeastSquares().fit(x, 0.25 * (x**2).mean(0), times=t)\n"
        "assert 'pandas' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- pathfit.fit --------------------------------------------------------------------------------


def test_fit_one_liner_defaults_to_least_squares_on_a_constant_lambda():
    x, t, k = _abm()
    est = pf.fit(x, k, times=t)
    assert isinstance(est, pf.LeastSquares)
    assert isinstance(est.model_, ConstantLambda)
    assert est.lam_ == pytest.approx(0.25, rel=1e-12)


def test_fit_one_liner_builds_each_method():
    x, t, k = _abm()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        poly = pf.fit(x, k, times=t, model="poly_lambda", degree=1, level=0.9)
        gradient = pf.fit(x, k, times=t, method="gradient")
        seed_sgd = pf.fit(x, k, times=t, method="seed_sgd", max_steps=50)
        network = pf.fit(x, k, times=t, method="seed_network", max_steps=5)
        mlp = pf.fit(x, k, times=t, method="pointwise_mlp", hidden=[4], max_steps=5)
    assert isinstance(poly.model_, PolynomialLambda) and poly.level == 0.9
    assert poly.coef_.shape == (2,)
    assert isinstance(gradient, pf.GradientFit) and gradient.result_.method == "gradient"
    assert (seed_sgd.mode, seed_sgd.optimizer, seed_sgd.guard, seed_sgd.lr) == (
        "per_sample",
        "sgd",
        False,
        0.01,
    )
    assert isinstance(network.model_, SeedNetwork) and network.model_.n_inputs == x.shape[0]
    assert isinstance(mlp.model_, PointwiseMLP) and mlp.model_.hidden == (4,)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "newton"}, "method"),
        ({"model": "quadratic"}, "model"),
        ({"model": "poly_lambda"}, "degree"),
        ({"model": "poly_lambda", "degree": -1}, "degree"),
        ({"model": PointwiseMLP()}, "model"),  # not linear: least squares cannot fit it
        ({"method": "seed_network", "model": "constant"}, "model"),
        ({"levels": 0.9}, "levels"),
        ({"level": 2.0}, "level"),
        ({"hidden": [4]}, "hidden"),
    ],
)
def test_fit_one_liner_names_a_bad_argument(kwargs, field):
    x, t, k = _abm()
    with pytest.raises(pf.InputError) as info:
        pf.fit(x, k, times=t, **kwargs)
    assert info.value.field == field


# --- fitted attributes ------------------------------------------------------------------------


def _check_types(est, n_params: int | None, has_lam: bool) -> None:
    for name in ("coef_", "stderr_"):
        value = getattr(est, name)
        if n_params is None:
            assert value is None, name
        else:
            assert isinstance(value, torch.Tensor) and value.shape == (n_params,), name
    if n_params is None:
        assert est.ci_ is None
    else:
        assert isinstance(est.ci_, torch.Tensor) and est.ci_.shape == (n_params, 2)
        assert bool((est.ci_[:, 0] <= est.coef_).all() and (est.coef_ <= est.ci_[:, 1]).all())
    if has_lam:
        assert type(est.lam_) is float and type(est.lam_stderr_) is float
        assert type(est.lam_ci_) is tuple and all(type(v) is float for v in est.lam_ci_)
        assert est.lam_ci_[0] <= est.lam_ <= est.lam_ci_[1]
    else:
        assert est.lam_ is None and est.lam_stderr_ is None and est.lam_ci_ is None


def test_fitted_attributes_have_one_type_on_every_estimator():
    x, t, k = _abm()
    noisy = k + 0.01 * np.random.default_rng(2).standard_normal(k.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        _check_types(pf.LeastSquares().fit(x, noisy, times=t), 1, True)
        _check_types(pf.LeastSquares(PolynomialLambda(1)).fit(x, noisy, times=t), 2, False)
        _check_types(pf.GradientFit(ConstantLambda()).fit(x, noisy, times=t), 1, True)
        _check_types(pf.GradientFit(PolynomialLambda(1)).fit(x, noisy, times=t), 2, False)
        network = pf.GradientFit(SeedNetwork(x.shape[0]), max_steps=20)
        _check_types(network.fit(x, noisy, times=t), None, True)
    for est in (pf.LeastSquares().fit(x, noisy, times=t),):
        assert (est.n_paths_, est.n_times_) == x.shape


def test_diverged_fit_has_no_estimate_of_any_type():
    x, t, k = _abm()
    with pytest.warns(pf.ConvergenceWarning):
        est = pf.GradientFit(
            ConstantLambda(), mode="per_sample", optimizer="sgd", lr=10.0, guard=False
        ).fit(x, k, times=t)
    assert est.status_ == "diverged"
    assert est.coef_ is None and est.stderr_ is None and est.ci_ is None
    assert est.lam_ is None and est.lam_stderr_ is None and est.lam_ci_ is None


def test_amortized_estimator_takes_arrays_and_has_the_same_types(tmp_path):
    from pathfit.amortized import AmortizedEstimator, Prior

    prior = Prior(processes=("abm",), n_paths=(10, 40), n_times=(20, 80))
    est = AmortizedEstimator(prior, hidden=16, context=8, transforms=2, threads=1, n_draws=200)
    est.train(128, batch_size=32, max_epochs=1, validation=32)
    x, t, k = _abm(n_paths=20, n_times=50)
    est.fit(x.astype(np.float32), k, times=t)  # computed in float64 (documented)
    _check_types(est, 1, True)
    assert (est.n_paths_, est.n_times_) == (20, 50)
    (row,) = est.summary().rows
    assert row.name == "lam" and row.estimate == est.lam_
    est.save(tmp_path / "amortized")
    back = pf.load(tmp_path / "amortized")  # pathfit.load reads its folder too
    assert torch.equal(back.fit(x.astype(np.float32), k, times=t).coef_, est.coef_)
