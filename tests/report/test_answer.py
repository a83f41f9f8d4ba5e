"""The answer block: which sentences a run's outcome produces, and the numbers in them."""

from __future__ import annotations

import dataclasses
import re

import pytest

from pathfit.app.config import parse_config
from pathfit.app.experiment import run_experiment
from pathfit.app.outcome import MethodOutcome, RunOutcome
from pathfit.estimators import FitResult
from pathfit.report.answer import MAX_SENTENCES, answer

SMALL = {"n_paths": 30, "n_times": 300}
NETWORK = {"max_steps": 20, "hidden": [4]}


@pytest.fixture(scope="module")
def exact_run() -> RunOutcome:
    """Noise-free targets, every method of a constant lambda: the seed's SGD diverges."""
    return run_experiment(parse_config({"sampling": SMALL, "methods": {"pointwise_mlp": NETWORK}}))


@pytest.fixture(scope="module")
def noisy_run() -> RunOutcome:
    return run_experiment(
        parse_config(
            {
                "sampling": SMALL,
                "target": {"noise_std": 0.01},
                "methods": {"run": ["least_squares", "gradient"]},
            }
        )
    )


def _method(out: RunOutcome, name: str) -> MethodOutcome:
    return next(m for m in out.methods if m.name == name)


def _number_after(text: str, words: str) -> float:
    found = re.search(re.escape(words) + r" ([-+0-9.e]+)", text)
    assert found is not None, (words, text)
    return float(found.group(1).rstrip("."))


def test_every_answer_is_three_to_five_full_sentences(
    exact_run: RunOutcome, noisy_run: RunOutcome
) -> None:
    for out in (exact_run, noisy_run):
        a = answer(out)
        assert 3 <= len(a.sentences) <= MAX_SENTENCES
        assert all(s[0].isupper() and s.endswith(".") for s in a.sentences), a.sentences
        assert a.as_text() == " ".join(a.sentences)
        assert a.headline and "\n" not in a.headline


def test_exact_fit_says_why_its_interval_has_zero_width(exact_run: RunOutcome) -> None:
    a = answer(exact_run)
    ls = _method(exact_run, "least_squares")
    assert a.headline == f"lambda = {ls.estimate:.6g}, exact (noise-free targets)"
    first = a.sentences[0]
    assert first.startswith("Least squares recovers lambda")
    assert "zero width" in first and "no noise" in first
    assert _number_after(first, "(error") == pytest.approx(ls.abs_error, rel=0.05, abs=1e-300)


def test_divergence_is_explained_by_the_step_and_the_curvature(exact_run: RunOutcome) -> None:
    seed = _method(exact_run, "seed_sgd")
    assert seed.status == "diverged"
    stability = seed.result.stability
    text = next(s for s in answer(exact_run).sentences if "diverged" in s)
    assert _number_after(text, "at step") == seed.result.steps
    assert _number_after(text, "2/L =") == pytest.approx(stability.bound, rel=5e-3)
    assert _number_after(text, "where L =") == pytest.approx(stability.curvature, rel=5e-3)
    ratio = float(re.search(r"is ([0-9.]+) times", text).group(1))
    assert ratio == pytest.approx(stability.step / stability.bound, rel=5e-3)
    epoch = int(re.search(r"epoch (\d+)", text).group(1))
    assert (
        (epoch - 1) * exact_run.paths.n_times < seed.result.steps <= epoch * exact_run.paths.n_times
    )


def test_agreement_and_the_verdict_name_the_networks(exact_run: RunOutcome) -> None:
    sentences = answer(exact_run).sentences
    agree = next(s for s in sentences if "same answer" in s)
    assert "guarded gradient training" in agree.lower() and "seed network" in agree
    verdict = sentences[-1]
    assert verdict.startswith("So a network can learn lambda")
    assert "the seed's step size" in verdict


def test_noisy_estimate_gives_its_distance_from_the_truth(noisy_run: RunOutcome) -> None:
    ls = _method(noisy_run, "least_squares")
    first = answer(noisy_run).sentences[0]
    assert f"standard error {ls.stderr:.2g}" in first
    z = abs(ls.estimate - ls.truth) / ls.stderr
    assert f"{z:.2g} standard errors from the truth" in first
    assert ("misses" in first) == (not ls.ci[0] <= ls.truth <= ls.ci[1])
    # no network ran: no verdict on networks, no divergence; what the data determine instead
    sentences = answer(noisy_run).sentences
    assert not any("network" in s for s in sentences)
    ident = ls.identifiability
    assert sentences[-1] == f"The data determine lambda: {ident.diagnosis}."


def test_unknown_truth_is_never_compared(noisy_run: RunOutcome) -> None:
    blind = dataclasses.replace(
        noisy_run,
        truth=None,
        methods=tuple(dataclasses.replace(m, truth=None) for m in noisy_run.methods),
    )
    text = answer(blind).as_text()
    assert "truth" not in text and "standard errors from" not in text
    assert "Least squares estimates lambda" in text


def _result(**fields: object) -> FitResult:
    base = {"method": "x", "model": "ConstantLambda", "message": "", "steps": 7, "wall_s": 0.1}
    return FitResult(**{**base, **fields})  # type: ignore[arg-type]


def test_a_method_that_differs_is_named_with_its_gap(noisy_run: RunOutcome) -> None:
    ls = _method(noisy_run, "least_squares")
    half = (ls.ci[1] - ls.ci[0]) / 2
    off = _result(status="converged", lam=ls.estimate + 3 * half, lam_stderr=ls.stderr)
    gradient = dataclasses.replace(_method(noisy_run, "gradient"), result=off)
    out = dataclasses.replace(noisy_run, methods=(ls, gradient))
    text = next(s for s in answer(out).sentences if "differs" in s)
    assert _number_after(text, "differs from it by") == pytest.approx(3.0, rel=1e-6)


def test_failed_and_unfinished_fits_are_said_so(noisy_run: RunOutcome) -> None:
    ls = _method(noisy_run, "least_squares")
    template = _method(noisy_run, "gradient")
    unfinished = dataclasses.replace(
        template,
        name="pointwise_mlp",
        result=_result(status="max_steps", lam=ls.estimate, lam_stderr=ls.stderr, steps=100),
    )
    failed = dataclasses.replace(
        template, name="seed_network", result=None, error=ValueError("out of memory")
    )
    out = dataclasses.replace(noisy_run, methods=(ls, unfinished, failed))
    sentences = answer(out).sentences
    assert any(
        "stopped at its step limit (100 steps)" in s and "provisional" in s for s in sentences
    )
    assert any(s.startswith("The seed network failed: out of memory") for s in sentences)
    # neither network converged: the answer does not claim that one can learn lambda
    assert any(s.startswith("No network converged here") for s in sentences)
    assert not any(s.startswith("So a network") for s in sentences)


def test_no_estimate_at_all() -> None:
    out = run_experiment(parse_config({"sampling": SMALL, "methods": {"run": ["seed_sgd"]}}))
    a = answer(out)
    assert a.headline == "no estimate"
    assert a.sentences[0] == "No method produced an estimate."
    assert any("diverged" in s for s in a.sentences)


def test_a_learned_lambda_x_is_compared_with_the_truth() -> None:
    out = run_experiment(
        parse_config(
            {
                "sampling": {**SMALL, "horizon": 2.0},
                "target": {"kind": "poly_lambda", "coef": [0.1, 0.0, 0.05], "noise_std": 0.001},
                "methods": {"run": ["least_squares", "pointwise_mlp"], "pointwise_mlp": NETWORK},
            }
        )
    )
    mlp = _method(out, "pointwise_mlp")
    curve, truth = mlp.lam_curve.curve, mlp.lam_curve.truth
    sentences = answer(out).sentences
    assert sentences[0].startswith("Least squares estimates the 3 coefficients of lambda(x)")
    text = next(s for s in sentences if "learns lambda(x)" in s)
    worst = float((curve.lam - truth).abs().max())
    assert _number_after(text, "to within") == pytest.approx(worst, rel=0.05)
    if curve.lower is not None:
        held = float(((curve.lower <= truth) & (truth <= curve.upper)).double().mean())
        assert f"holds the truth at {held:.0%} of x" in text
