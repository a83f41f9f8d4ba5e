"""save / load of fitted estimators: one safetensors file, no pickle, everything back."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import pathfit as pf
from pathfit.estimators._persist import FORMAT, FORMAT_VERSION
from pathfit.models import ConstantLambda, PointwiseMLP, PolynomialLambda, SeedNetwork


@pytest.fixture(scope="module")
def data():
    paths = pf.simulate(pf.ABM(mu=0.5, sigma=1.0), n_paths=20, n_times=150, horizon=10.0, seed=0)
    targets = pf.make_targets(paths, pf.targets.ConstantLam(0.25), noise_std=0.01, seed=0)
    return paths, targets


ESTIMATORS = {
    "least_squares": lambda: pf.LeastSquares(),
    "least_squares_poly_bootstrap": lambda: pf.LeastSquares(
        PolynomialLambda(1), interval="path_bootstrap", n_bootstrap=50
    ),
    "gradient_linear": lambda: pf.GradientFit(PolynomialLambda(1)),
    "gradient_diverged": lambda: pf.GradientFit(
        ConstantLambda(), mode="per_sample", lr=0.01, guard=False, max_steps=2000
    ),
    "seed_network": lambda: pf.GradientFit(SeedNetwork(20, (3,)), max_steps=20),
    "pointwise_mlp": lambda: pf.GradientFit(PointwiseMLP((4,)), max_steps=20),
}


def _same(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return (
            isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a.nan_to_num(), b.nan_to_num())
        )
    return a == b or (a != a and b != b)  # NaN == NaN here


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_round_trip_gives_the_same_estimator(kind, data, tmp_path: Path):
    paths, targets = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        est = ESTIMATORS[kind]().fit(paths, targets)
    file = est.save(tmp_path / "fit.safetensors")
    back = type(est).load(file)
    assert type(back) is type(est)
    assert repr(back) == repr(est)
    for name in ("coef_", "stderr_", "ci_", "cov_", "lam_", "lam_stderr_", "lam_ci_"):
        assert _same(getattr(back, name), getattr(est, name)), name
    assert str(back.summary()) == str(est.summary())
    assert back.summary().to_dict() == est.summary().to_dict()
    assert back.result_.summary(history=True) == est.result_.summary(history=True)
    assert torch.equal(back.predict(paths).nan_to_num(), est.predict(paths).nan_to_num())
    state, saved = est.model_.state_dict(), back.model_.state_dict()
    assert state.keys() == saved.keys()
    assert all(_same(state[key], saved[key]) for key in state)  # a network's weights too
    assert pf.load(file).summary().to_dict() == est.summary().to_dict()


def test_loaded_estimator_refits_as_the_original(data, tmp_path: Path):
    paths, targets = data
    est = pf.GradientFit(SeedNetwork(20, (3,)), max_steps=10).fit(paths, targets)
    back = pf.GradientFit.load(est.save(tmp_path / "net.safetensors"))
    refit = back.fit(paths, targets)  # from the saved initial network
    assert torch.equal(refit.predict(paths), est.predict(paths))


def test_lam_curve_after_load(data, tmp_path: Path):
    paths, targets = data
    est = pf.LeastSquares(PolynomialLambda(2)).fit(paths, targets)
    back = pf.load(est.save(tmp_path / "poly.safetensors"))
    x = torch.linspace(-1.0, 3.0, 7, dtype=torch.float64)
    assert torch.equal(back.lam_curve(x).upper, est.lam_curve(x).upper)


def test_float32_round_trips_as_float32(data, tmp_path: Path):
    paths, targets = data
    paths32 = pf.Paths(paths.values.float(), paths.times.float())
    est = pf.LeastSquares().fit(paths32, targets.values.float())
    back = pf.load(est.save(tmp_path / "f32.safetensors"))
    assert back.coef_.dtype == back.stderr_.dtype == back.model_.coef.dtype == torch.float32
    assert back.predict(paths32).dtype == torch.float32


def test_the_file_is_safetensors_with_json_metadata(data, tmp_path: Path):
    paths, targets = data
    file = pf.LeastSquares().fit(paths, targets).save(tmp_path / "fit.safetensors")
    with safe_open(str(file), framework="pt") as handle:
        metadata = handle.metadata()
        names = set(handle.keys())
    assert metadata["format"] == FORMAT
    document = json.loads(metadata["pathfit"])
    assert document["format_version"] == FORMAT_VERSION
    assert document["estimator"] == "LeastSquares"
    assert document["versions"]["pathfit"] == pf.__version__
    assert document["hyperparameters"]["level"] == 0.95
    assert "fitted.coef_" in names


def test_an_existing_file_is_kept_unless_overwrite(data, tmp_path: Path):
    paths, targets = data
    est = pf.LeastSquares().fit(paths, targets)
    file = tmp_path / "fit.safetensors"
    file.write_bytes(b"precious")
    with pytest.raises(pf.InputError) as info:
        est.save(file)
    assert "overwrite=True" in str(info.value)
    assert file.read_bytes() == b"precious"
    est.save(file, overwrite=True)
    assert pf.load(file).lam_ == est.lam_
    assert [p.name for p in tmp_path.iterdir()] == ["fit.safetensors"]  # no temporary left


def test_other_files_are_refused_with_a_clear_error(data, tmp_path: Path):
    paths, targets = data
    est = pf.LeastSquares().fit(paths, targets)
    text = tmp_path / "notes.txt"
    text.write_text("not an estimator")
    with pytest.raises(pf.InputError, match="not a safetensors file"):
        pf.load(text)
    foreign = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"format": "pathfit.amortized/1"})
    with pytest.raises(pf.InputError, match="amortized"):
        pf.load(foreign)
    with pytest.raises(pf.InputError, match="no such file"):
        pf.load(tmp_path / "missing.safetensors")
    gradient = pf.GradientFit(ConstantLambda()).fit(paths, targets)
    file = gradient.save(tmp_path / "gradient.safetensors")
    with pytest.raises(pf.InputError, match="a saved GradientFit"):
        pf.LeastSquares.load(file)
    assert isinstance(pf.load(file), pf.GradientFit)
    assert isinstance(pf.LeastSquares.load(est.save(tmp_path / "ls.safetensors")), pf.LeastSquares)


def test_a_newer_format_version_is_refused(data, tmp_path: Path):
    paths, targets = data
    file = pf.LeastSquares().fit(paths, targets).save(tmp_path / "fit.safetensors")
    with safe_open(str(file), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    document = json.loads(metadata["pathfit"])
    document["format_version"] = FORMAT_VERSION + 1
    metadata["pathfit"] = json.dumps(document)
    newer = tmp_path / "newer.safetensors"
    save_file(tensors, str(newer), metadata=metadata)
    with pytest.raises(pf.InputError) as info:
        pf.load(newer)
    assert info.value.field.endswith("format_version")
    assert "upgrade pathfit" in str(info.value)
