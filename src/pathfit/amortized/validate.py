"""Validation of a trained amortized estimator that a skeptic would accept: simulation-based
calibration, the coverage of its intervals, and a comparison with the exact posterior.

With iid Gaussian noise of known level and the prior's independent Gaussian coefficients, the
posterior given the aggregated design is Gaussian in closed form
(:func:`~pathfit.amortized._calibration.gaussian_posterior`), so the amortized posterior can be
checked against the right answer itself, not only against its own calibration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from pathfit._threads import torch_threads
from pathfit.amortized._calibration import (
    c2st,
    central_coverage,
    gaussian_posterior,
    rank_histogram,
    sbc_ks_pvalue,
    sbc_ranks,
)
from pathfit.amortized._network import Summaries, from_z
from pathfit.amortized._prior import Simulated, simulate_batch
from pathfit.amortized.estimator import AmortizedEstimator
from pathfit.exceptions import InputError

LEVELS = (0.5, 0.8, 0.9, 0.95)
OUTSIDE = ((500, 5000), (10, 50))
"""Sizes (n_paths, n_times) outside the default prior's ranges, for generalization."""


@dataclass(frozen=True)
class Validation:
    """What ``validate`` measured; ``to_json`` is validation.json."""

    sbc: dict[str, Any]
    coverage: dict[str, Any]
    rmse: dict[str, float]
    c2st: float
    generalization: list[dict[str, Any]]
    inference_ms_per_dataset: float
    batch_1000_s: float
    timing_batch: int
    train_s: float
    simulations: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "sbc": self.sbc,
            "coverage": self.coverage,
            "rmse": self.rmse,
            "c2st": self.c2st,
            "generalization": self.generalization,
            "inference_ms_per_dataset": self.inference_ms_per_dataset,
            "batch_1000_s": self.batch_1000_s,
            "timing_batch": self.timing_batch,
            "train_s": self.train_s,
            "simulations": self.simulations,
            **self.details,
        }


def _draws(estimator: AmortizedEstimator, summaries: Summaries, n: int, seed: int) -> torch.Tensor:
    """(B, n, p) posterior draws of the coefficients for a batch of summaries."""
    torch.manual_seed(seed)
    with torch.no_grad():
        z = estimator.net_.distribution(summaries).sample((n,))  # (n, B, p)
    return from_z(z, summaries).transpose(0, 1)


def _exact(estimator: AmortizedEstimator, batch: Simulated) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact posterior means (B, p) and covariances (B, p, p) of a batch."""
    prior = estimator.prior_
    mean = torch.tensor(prior.coef_mean, dtype=torch.float64)
    cov = torch.diag(torch.tensor(prior.coef_sd, dtype=torch.float64).square())
    design = batch.moments[..., [q - 1 for q in prior.powers]]
    out = [
        gaussian_posterior(design[b], batch.targets[b], float(batch.noise_std[b]), mean, cov)
        for b in range(design.shape[0])
    ]
    return torch.stack([m for m, _ in out]), torch.stack([c for _, c in out])


def validate(
    estimator: AmortizedEstimator,
    *,
    n_simulations: int = 300,
    n_draws: int = 999,
    batch_size: int = 50,
    c2st_datasets: int = 5,
    outside: Sequence[tuple[int, int]] = OUTSIDE,
    outside_simulations: int = 100,
    timing_batch: int = 1000,
    seed: int = 1,
    on_step: Callable[[str], None] | None = None,
) -> Validation:
    """Calibrate ``estimator`` on ``n_simulations`` fresh datasets from its prior (a seed of
    their own) and compare it with the exact posterior.

    - SBC: the rank of each true coefficient among ``n_draws`` posterior draws, the KS p-value
      of the ranks against uniform, and their histogram;
    - coverage of the central intervals at 0.5, 0.8, 0.9, 0.95;
    - RMSE of the posterior mean against the truth, beside the exact posterior mean's and
      least squares', and a C2ST of amortized against exact draws on ``c2st_datasets``;
    - the same at sizes ``outside`` the prior's ranges;
    - inference time of ``fit`` on one 100 x 1000 dataset and of a batch of
      ``timing_batch`` such datasets.
    """
    net = getattr(estimator, "net_", None)
    if net is None:
        raise InputError("estimator", "an untrained estimator", "train() or load() first")
    say = on_step or (lambda _: None)
    g = torch.Generator().manual_seed(10_000 + seed)
    torch.manual_seed(20_000 + seed)  # the exact posterior's draws come from torch's own
    with torch_threads(estimator.threads_for(batch_size * estimator.prior_.n_times[1])):
        say("calibration")
        truths, draws, exact_mean, exact_draws, ls = [], [], [], [], []
        c2st_pairs = []
        by_size = []
        for start in range(0, n_simulations, batch_size):
            size = min(batch_size, n_simulations - start)
            batch = simulate_batch(estimator.prior_, size, g)
            summaries = estimator._summaries(batch)
            d = _draws(estimator, summaries, n_draws, seed + start)
            mean, cov = _exact(estimator, batch)
            truths.append(batch.coef)
            draws.append(d)
            exact_mean.append(mean)
            exact_draws.append(
                torch.distributions.MultivariateNormal(mean, cov).sample((n_draws,)).transpose(0, 1)
            )
            ls.append(summaries.shift)  # the least-squares estimates
            by_size.append(
                {
                    "n": batch.n_paths,
                    "m": int(batch.times.shape[1]),
                    "datasets": size,
                    "rmse_amortized": _rmse(d.mean(dim=1), batch.coef),
                    "rmse_exact": _rmse(mean, batch.coef),
                }
            )
            for b in range(min(size, c2st_datasets - len(c2st_pairs))):
                c2st_pairs.append((summaries, b, mean[b], cov[b]))
        truth_t, draws_t = torch.cat(truths), torch.cat(draws)
        ranks = sbc_ranks(truth_t, draws_t, generator=g)
        pvalues = [sbc_ks_pvalue(ranks[:, j], n_draws, generator=g) for j in range(ranks.shape[1])]
        counts, _ = rank_histogram(ranks[:, 0], n_draws)
        coverage = central_coverage(truth_t, draws_t, LEVELS)
        # the exact posterior on the same datasets: what a perfect estimator would show
        exact_coverage = central_coverage(truth_t, torch.cat(exact_draws), LEVELS)
        post_mean = draws_t.mean(dim=1)
        rmse = {
            "amortized": _rmse(post_mean, truth_t),
            "exact_posterior": _rmse(torch.cat(exact_mean), truth_t),
            "least_squares": _rmse(torch.cat(ls), truth_t),
        }
        say("two-sample test against the exact posterior")
        accuracies, examples = [], []
        for i, (summaries, b, mean, cov) in enumerate(c2st_pairs):
            amortized = _draws(estimator, _one(summaries, b), 1000, 77 + i)[0]
            exact = torch.distributions.MultivariateNormal(mean, cov).sample((1000,))
            accuracies.append(c2st(amortized, exact, generator=torch.Generator().manual_seed(i)))
            examples.append(
                {
                    "exact_mean": float(mean[0]),
                    "exact_sd": float(cov[0, 0].sqrt()),
                    "amortized_draws": amortized[:400, 0].tolist(),
                }
            )
        say("sizes outside the training ranges")
        generalization = []
        for n, m in outside:
            gen_truth, gen_draws, gen_exact = [], [], []
            for start in range(0, outside_simulations, batch_size):
                size = min(batch_size, outside_simulations - start)
                batch = simulate_batch(estimator.prior_, size, g, n_paths=n, n_times=m)
                summaries = estimator._summaries(batch)
                gen_draws.append(_draws(estimator, summaries, n_draws, seed + 500 + start))
                gen_truth.append(batch.coef)
                gen_exact.append(_exact(estimator, batch)[0])
            t, d = torch.cat(gen_truth), torch.cat(gen_draws)
            rmse_amortized = _rmse(d.mean(dim=1), t)
            rmse_exact = _rmse(torch.cat(gen_exact), t)
            generalization.append(
                {
                    "n": n,
                    "m": m,
                    "rmse_amortized": rmse_amortized,
                    "rmse_exact": rmse_exact,
                    "rmse_ratio_vs_exact": rmse_amortized / rmse_exact,
                    "coverage_90": float(central_coverage(t, d, (0.9,))[0, 0]),
                }
            )
        say("inference time")
        single_ms, batch_s = _timings(estimator, g, timing_batch)
    training = getattr(estimator, "training_", None)
    return Validation(
        sbc={
            "n": n_simulations,
            "draws": n_draws,
            "ks_pvalue": min(pvalues),
            "ks_pvalues": pvalues,
            "ranks": ranks[:, 0].tolist(),
            "histogram": counts.tolist(),
        },
        coverage={
            "levels": list(LEVELS),
            "empirical": coverage[:, 0].tolist(),
            "exact_posterior": exact_coverage[:, 0].tolist(),
        },
        rmse={**rmse, "ratio_vs_exact": rmse["amortized"] / rmse["exact_posterior"]},
        c2st=sum(accuracies) / len(accuracies) if accuracies else float("nan"),
        generalization=generalization,
        inference_ms_per_dataset=single_ms,
        batch_1000_s=batch_s,
        timing_batch=timing_batch,
        train_s=training.seconds if training is not None else float("nan"),
        simulations=training.simulations if training is not None else 0,
        details={"c2st_per_dataset": accuracies, "examples": examples, "by_size": by_size},
    )


def _one(summaries: Summaries, b: int) -> Summaries:
    return Summaries(
        summaries.tokens[b : b + 1],
        summaries.globals[b : b + 1],
        summaries.shift[b : b + 1],
        summaries.scale[b : b + 1],
    )


def _rmse(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    return float((estimate - truth).square().mean().sqrt())


def _timings(estimator: AmortizedEstimator, g: torch.Generator, batch: int) -> tuple[float, float]:
    """Median ms of ``fit`` on one 100 x 1000 dataset; seconds for a batch of ``batch`` such
    datasets (their summaries and 1000 draws each), simulation excluded."""
    import pathfit as pf
    from pathfit.targets import ConstantLam, make_targets

    paths = pf.simulate(pf.ABM(mu=0.5), n_paths=100, n_times=1000, horizon=10.0, seed=3)
    targets = make_targets(paths, ConstantLam(0.25), noise_std=0.01, seed=3)
    if estimator.prior_.degree:
        from pathfit.targets import PolynomialLam

        targets = make_targets(paths, PolynomialLam(estimator.prior_.coef_mean), noise_std=0.01)
    times = []
    for _ in range(11):
        start = time.perf_counter()
        estimator.fit(paths, targets)
        times.append(time.perf_counter() - start)
    single_ms = sorted(times)[len(times) // 2] * 1e3
    datasets = simulate_batch(estimator.prior_, batch, g, n_paths=100, n_times=1000)
    start = time.perf_counter()
    summaries = estimator._summaries(datasets)
    _draws(estimator, summaries, 1000, 0)
    return single_ms, time.perf_counter() - start
