"""Identifiability: what the aggregate targets determine, for linear models and networks."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import pathfit as pf
from pathfit.cli import app
from pathfit.diagnostics import identify, linear_identifiability, network_identifiability
from pathfit.models import (
    AbstractModel,
    ConstantLambda,
    PointwiseMLP,
    PolynomialLambda,
    SeedNetwork,
)
from pathfit.targets import ConstantLam


def _paths(n_paths: int = 100, n_times: int = 1000, mu: float = 0.5, seed: int = 0) -> pf.Paths:
    return pf.simulate(
        pf.ABM(mu=mu, sigma=1.0), n_paths=n_paths, n_times=n_times, horizon=10.0, seed=seed
    )


@pytest.fixture(scope="module")
def paths() -> pf.Paths:
    return _paths()


def test_well_posed_design_is_full_rank_without_warnings(paths):
    design = pf.power_design(paths.values, (0, 2))
    report = linear_identifiability(design, ["c0", "c2"], powers=(0, 2))
    assert report.rank == 2
    assert report.n_params == 2
    assert 1 <= report.condition_number < 1e3
    assert report.warnings == []
    cond = f"{report.condition_number:.3g}"
    assert report.diagnosis == f"rank 2 of 2 parameters, scaled condition number {cond}"


def test_duplicate_column_is_rank_deficient_and_named_collinear(paths):
    s = paths.mean_square()
    design = torch.stack([s, s], dim=1)
    report = linear_identifiability(design, ["alpha", "beta"])
    assert report.rank == 1 < report.n_params == 2
    assert math.isinf(report.condition_number)
    assert any("rank 1 < 2" in w for w in report.warnings), report.warnings
    collinear = [w for w in report.warnings if "collinear" in w]
    assert len(collinear) == 1, report.warnings
    assert "alpha" in collinear[0] and "beta" in collinear[0]
    # the undetermined combination is alpha - beta
    direction = report.weakest_direction
    assert direction["alpha"] == pytest.approx(-direction["beta"], abs=1e-12)
    assert report.summary()["condition_number"] is None  # inf is not JSON


def test_more_parameters_than_times_is_flagged(paths):
    design = pf.power_design(paths.values[:, :2], (0, 1, 2))  # 2 times, 3 parameters
    report = linear_identifiability(design, ["c0", "c1", "c2"], powers=(0, 1, 2))
    assert report.rank <= 2
    assert any("more parameters (3) than time points (2)" in w for w in report.warnings)


def test_zero_column_has_no_support(paths):
    s = paths.mean_square()
    design = torch.stack([s, torch.zeros_like(s)], dim=1)
    report = linear_identifiability(design, ["lam", "ghost"], powers=(2, 5))
    support = [w for w in report.warnings if "no support" in w]
    assert len(support) == 1, report.warnings
    assert support[0].startswith("ghost")
    assert "mean x^5" in support[0]
    assert report.rank == 1


def test_ill_conditioned_design_names_the_weak_combination(paths):
    s = paths.mean_square()
    tiny = 1e-9 * torch.from_numpy(np.random.default_rng(0).standard_normal(1000))
    design = torch.stack([s, s * (1 + tiny)], dim=1)
    report = linear_identifiability(design, ["a", "b"])
    assert report.rank == 2
    assert report.condition_number > 1e6
    assert any("digits are lost" in w and "a" in w and "b" in w for w in report.warnings)


@pytest.mark.parametrize("n_paths", [100, 4000])
def test_vanishing_odd_moment_is_flagged_when_x0_and_mu_are_zero(n_paths):
    # x0 = mu = 0: x is symmetric about 0, so mean x^3 is pure sampling noise.
    report = identify(PolynomialLambda(1), _paths(n_paths=n_paths, mu=0.0))
    odd = [w for w in report.warnings if "odd moment" in w]
    assert len(odd) == 1, report.warnings
    assert odd[0].startswith("c1: mean x^3")
    assert "indistinguishable from zero" in odd[0] and "odd moment" in odd[0]


def test_no_odd_moment_warning_when_mu_is_positive(paths):
    report = identify(PolynomialLambda(1), paths)
    assert not any("odd moment" in w for w in report.warnings), report.warnings
    assert report.warnings == []


@pytest.mark.parametrize(
    ("model", "names"),
    [
        (PolynomialLambda(2), ("c0", "c1", "c2")),
        (pf.models.PolynomialK(3), ("c0", "c1", "c2", "c3")),
        (ConstantLambda(), ("lam",)),
    ],
)
def test_weakest_direction_is_a_unit_vector_over_the_parameter_names(paths, model, names):
    report = identify(model, paths)
    direction = report.weakest_direction
    assert tuple(direction) == names
    assert math.fsum(v * v for v in direction.values()) == pytest.approx(1.0, abs=1e-12)
    # sign convention: the largest component is positive
    assert max(direction.values(), key=abs) > 0


def test_weakest_direction_is_the_smallest_singular_direction_of_the_scaled_design(paths):
    model = PolynomialLambda(2)
    design = model.prepare(paths)
    report = identify(model, paths)
    norms = torch.linalg.vector_norm(design, dim=0)
    _, s, vh = torch.linalg.svd(design / norms, full_matrices=False)
    expected = vh[-1] / norms
    expected = expected / torch.linalg.vector_norm(expected)
    got = torch.tensor(list(report.weakest_direction.values()), dtype=torch.float64)
    assert abs(float(got @ expected)) == pytest.approx(1.0, abs=1e-10)
    assert report.condition_number == pytest.approx(float(s[0] / s[-1]), rel=1e-10)


def _jacobian_rank(model: torch.nn.Module, inputs: torch.Tensor) -> int:
    """The rank of d(predictions)/d(weights), built here with reverse mode and counted by
    torch's own rank, independently of network_identifiability."""
    names = [n for n, _ in model.named_parameters()]
    params = {n: p.detach() for n, p in model.named_parameters()}

    def predict(*flat: torch.Tensor) -> torch.Tensor:
        weights = dict(zip(names, flat, strict=True))
        return torch.func.functional_call(model, weights, (inputs,))

    blocks = torch.func.jacrev(predict, argnums=tuple(range(len(names))))(*params.values())
    jacobian = torch.cat([j.reshape(inputs.shape[0], -1) for j in blocks], dim=1)
    scaled = jacobian / torch.linalg.vector_norm(jacobian, dim=0).clamp_min(1e-300)
    return int(torch.linalg.matrix_rank(scaled))


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


@pytest.fixture(scope="module")
def fitted_seed_network() -> tuple[pf.GradientFit, pf.Paths]:
    paths = _paths(n_paths=20, n_times=100)
    targets = pf.make_targets(paths, ConstantLam(0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        fit = pf.GradientFit(SeedNetwork(20), optimizer="lbfgs", max_steps=30).fit(paths, targets)
    return fit, paths


@pytest.mark.slow
def test_identify_on_a_fitted_seed_network_counts_in_function_space(fitted_seed_network):
    # Changed with issue 9, item 5: this test used to require "only the bias is identified"
    # beside a full Jacobian rank (the contradiction). Now every weight direction changes the
    # predictions, so the data determine every weight (as zero), and the bias alone carries
    # lambda_j; the diagnosis says both, with the numbers computed.
    fit, paths = fitted_seed_network
    model = fit.model_
    inputs = model.prepare(paths)
    report = identify(model, paths)
    assert report.n_params == 21  # 20 weights and the bias
    assert report.rank == _jacobian_rank(model, inputs) == 21  # 100 times > 21 weights
    assert report.weakest_direction is None

    line = report.diagnosis
    assert report.warnings == [line]  # said once, as the one warning
    assert line.startswith("all 21 weight directions change the predictions")
    assert "rank 21 of 21" not in line and "only the bias is identified" not in line
    assert "not identified" not in line  # nothing claims the weights are not determined
    assert "only the bias carries it" in line
    assert "the weights carry no information" in line

    lam = model.lam_per_time(inputs).detach()
    spread = float(lam.std() / lam.mean().abs())
    assert report.lam_spread == pytest.approx(spread, rel=1e-12)
    assert spread < 1e-3  # trained on a constant lambda, the output no longer moves with x_j
    numbers = _numbers(line)
    assert numbers[0] == report.n_params
    assert float(f"{spread:.1e}") in numbers
    assert float(f"{report.condition_number:.3g}") in numbers
    assert float(f"{float(lam.mean()):.6g}") in numbers

    summary = report.summary()
    assert summary["diagnosis"] == line
    assert summary["lam_spread"] == report.lam_spread
    assert summary["rank"] == report.rank


@pytest.mark.slow
def test_seed_network_note_appears_once_in_the_outcome_and_the_report(fitted_seed_network):
    from pathfit.app.outcome import MethodOutcome
    from pathfit.report import content

    fit, paths = fitted_seed_network
    note = fit.model_.identification_note(fit.model_.prepare(paths))
    assert fit.result_.notes == [note]  # the fit carries the model's note ...
    report = identify(fit.model_, paths)
    assert report.diagnosis.endswith(note)  # ... and the diagnosis ends with it

    method = MethodOutcome("seed_network", fit, fit.result_, report)
    assert method.warnings == (report.diagnosis,)
    assert method.notes == ()  # the fit's note is the end of the diagnosis: not said twice
    card = content._notes(method)
    assert card.warnings == [report.diagnosis]
    assert card.identifiability == []  # no second line with a bare rank
    shown = [*card.warnings, *card.notes, *card.identifiability]
    assert sum(note in line for line in shown) == 1


def test_seed_network_note_on_a_lambda_that_moves_with_x_does_not_claim_identification():
    paths = _paths(n_paths=20, n_times=100)
    model = SeedNetwork(20)  # random weights: lambda_j moves with x_j
    model.adapt(paths)
    report = identify(model, paths)
    lam = model.lam_per_time(model.prepare(paths)).detach()
    assert report.lam_spread == pytest.approx(float(lam.std() / lam.mean().abs()), rel=1e-12)
    assert report.lam_spread > 1e-3
    assert report.diagnosis.startswith(f"all {report.n_params} weight directions")
    assert "the bias alone does not explain it" in report.diagnosis
    assert "only the bias" not in report.diagnosis


def test_identify_on_a_pointwise_mlp_reports_rank_at_most_n_params():
    paths = _paths(n_paths=20, n_times=200)
    model = PointwiseMLP((8,))
    model.adapt(paths)
    report = identify(model, paths)
    assert report.n_params == model.n_params == 8 + 8 + 8 + 1
    assert 1 <= report.rank <= report.n_params
    if report.rank < report.n_params:
        assert any("weights themselves are not identified" in w for w in report.warnings)
        assert math.isinf(report.condition_number)
        assert report.warnings == [report.diagnosis]
        assert report.diagnosis.startswith(
            f"only {report.rank} of {report.n_params} weight directions change the predictions"
        )
    else:
        assert report.diagnosis.startswith(f"all {report.n_params} weight directions")
    assert report.rank == _jacobian_rank(model, model.prepare(paths))
    assert report.lam_spread is None


def test_network_identifiability_of_a_linear_network_is_its_design_rank():
    # A bias-free linear layer on 3 inputs whose third column is the sum of the first two:
    # the Jacobian in the weights is the input matrix itself, of rank 2.
    inputs = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    inputs = torch.cat([inputs, inputs.sum(dim=1, keepdim=True)], dim=1)

    class Linear(AbstractModel):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))

        def prepare(self, paths: pf.Paths) -> torch.Tensor:
            return paths.values.T

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.w

        def lam_estimate(self, inputs: torch.Tensor) -> float | None:
            return None

        def jacobian(self, inputs: torch.Tensor) -> torch.Tensor:
            # the model's own derivative, checked here against autograd's
            (column,) = torch.autograd.grad(self(inputs[:1]).sum(), [self.w])
            assert torch.equal(column, inputs[0])
            return inputs

    report = network_identifiability(Linear(), inputs)
    assert report.rank == 2
    assert report.n_params == 3
    assert any("only 2 of 3" in w for w in report.warnings)
    assert report.diagnosis.startswith("only 2 of 3 weight directions change the predictions")


SMALL_RUN = """\
[sampling]
n_paths = 20
n_times = 200

[methods]
run = ["least_squares", "gradient"]
"""


def test_run_results_carry_identifiability_and_interval(tmp_path: Path):
    config = tmp_path / "small.toml"
    config.write_text(SMALL_RUN, encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--config", str(config), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "o" / "results.json").read_text(encoding="utf-8"))
    rows = {row["name"]: row for row in data["methods"]}
    assert list(rows) == ["least_squares", "gradient"]
    for name, row in rows.items():
        ident = row["identifiability"]
        assert {"rank", "condition_number", "warnings"} <= set(ident), name
        assert ident["rank"] == 1
        assert ident["condition_number"] == pytest.approx(1.0)  # one column, scaled to unit norm
        assert ident["warnings"] == []
        assert ident["diagnosis"] == "rank 1 of 1 parameters, scaled condition number 1"
        assert ident["lam_spread"] is None
        # noise-free targets: exact to rounding, classical
        assert row["interval"] == "classical", name
        assert "rounding" in row["uncertainty"]
