"""Check the networks' linearized intervals against resampling the network itself.

Two cases, each on the default ABM (mu = 0.5, sigma = 1, horizon 10) with lambda = 0.25:

- iid noise on k (sd 0.2, 20 paths, 200 times): the classical linearized standard error of
  lambda_hat against the spread of lambda_hat over fresh noise draws on the same paths
  (a Monte Carlo of the network refitted from scratch each time);
- population noise (k = lambda E[x_t^2], 20 paths, 100 times): the pointwise MLP's
  path-clustered standard error against a path bootstrap of the network (paths resampled with
  replacement, k kept, the network refitted from scratch).

A ratio near 1 means the linearization describes the refitted network's spread; the
bootstrap's own sampling error is about 1 / sqrt(2 B) relative (B replicates).

Usage: .venv/bin/python benchmarks/network_intervals.py [--replicates B] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch

import pathfit as pf
from pathfit.models import PointwiseMLP, SeedNetwork
from pathfit.targets import ConstantLam, population_targets

LAM = 0.25
ABM = pf.ABM(mu=0.5, sigma=1.0)


def _fit(model: torch.nn.Module, paths: pf.Paths, targets, **options) -> pf.GradientFit:
    return pf.GradientFit(model, seed=0, **options).fit(paths, targets)


def iid_case(name: str, make, replicates: int) -> dict[str, float]:
    paths = pf.simulate(ABM, n_paths=20, n_times=200, horizon=10.0, seed=0)
    first = _fit(make(), paths, pf.make_targets(paths, ConstantLam(LAM), noise_std=0.2, seed=1))
    draws = []
    for r in range(replicates):
        targets = pf.make_targets(paths, ConstantLam(LAM), noise_std=0.2, seed=100 + r)
        draws.append(_fit(make(), paths, targets).lam_)
    return {
        "case": f"{name}, iid noise",
        "linearized_stderr": first.result_.lam_stderr,
        "resampled_sd": statistics.stdev(draws),
        "interval": first.result_.interval,
    }


def population_case(replicates: int) -> dict[str, float]:
    paths = pf.simulate(ABM, n_paths=20, n_times=100, horizon=10.0, seed=3)
    targets = population_targets(ABM, ConstantLam(LAM), paths.times)
    options = {"interval": "path_bootstrap", "max_steps": 30}
    first = _fit(PointwiseMLP((8,)), paths, targets, **options)
    generator = torch.Generator().manual_seed(7)
    draws = []
    for _ in range(replicates):
        pick = torch.randint(paths.n_paths, (paths.n_paths,), generator=generator)
        resampled = pf.Paths(paths.values[pick], paths.times)
        draws.append(_fit(PointwiseMLP((8,)), resampled, targets, **options).lam_)
    return {
        "case": "pointwise_mlp (8), population noise",
        "linearized_stderr": first.result_.lam_stderr,
        "resampled_sd": statistics.stdev(draws),
        "interval": first.result_.interval,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=60)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", pf.ConvergenceWarning)
    start = time.perf_counter()
    rows = [
        iid_case("seed_network", lambda: SeedNetwork(20), args.replicates),
        iid_case("pointwise_mlp (8)", lambda: PointwiseMLP((8,)), args.replicates),
        population_case(args.replicates),
    ]
    print(f"{'case':40s} {'interval':>12s} {'linearized':>11s} {'resampled':>10s} {'ratio':>6s}")
    for row in rows:
        row["ratio"] = row["linearized_stderr"] / row["resampled_sd"]
        print(
            f"{row['case']:40s} {row['interval']:>12s} {row['linearized_stderr']:11.3g} "
            f"{row['resampled_sd']:10.3g} {row['ratio']:6.2f}"
        )
    print(f"{args.replicates} replicates per case, {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"replicates": args.replicates, "rows": rows}, out, indent=2)


if __name__ == "__main__":
    main()
