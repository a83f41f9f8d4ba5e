"""Coverage of pathfit's intervals over R independent replicates, for every kind of noise.

Issue 12's claim: for least squares and the guarded gradient fit with their automatic
interval, and for least squares with each interval method where that method applies, 95%
intervals cover the truth in 93% to 97% of R = 1000 replicates under iid noise, population
noise (n = 20, 100, 1000 paths), AR(1) noise along time (phi = 0.3, 0.6, 0.8) and
heteroscedastic noise (sd proportional to |k_j|). The classical interval is the reference
column everywhere, also where it is not meant to hold. Every scenario is the default experiment
(ABM mu = 0.5, sigma = 1, 100 paths, m = 1000 times on (0, 10]) with the noise the
harness adds when ``target.noise_std`` is 0 (1% of each replicate's mean |k_j|), and
``pathfit coverage`` run on it would give the same rows.

    .venv/bin/python benchmarks/bench_coverage.py [--replicates 1000] [--threads N] [--json PATH]
        [--only SCENARIO ...] [--methods least_squares gradient] [--auto-only]

``--methods seed_network pointwise_mlp --auto-only`` tests the networks (their linearized
intervals, on their one lambda) without the explicit least-squares interval runs.

Each scenario's coverage.json-style record goes into the JSON (without the per-replicate
fits), with the seconds it took at ``--threads`` torch threads (default: one per core).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pathfit.app.bench import machine_cores
from pathfit.app.config import RunConfig
from pathfit.app.coverage import run_coverage
from pathfit.processes.tiling import torch_threads

# name: (noise, phi, n_paths, the interval methods that apply besides "auto")
SCENARIOS: dict[str, tuple[str, float | None, int, tuple[str, ...]]] = {
    "iid": ("iid", None, 100, ("hac", "block_bootstrap")),
    "population n=20": ("population", None, 20, ("path_bootstrap",)),
    "population n=100": ("population", None, 100, ("path_bootstrap",)),
    "population n=1000": ("population", None, 1000, ("path_bootstrap",)),
    "ar1 phi=0.3": ("ar1", 0.3, 100, ("hac", "block_bootstrap")),
    "ar1 phi=0.6": ("ar1", 0.6, 100, ("hac", "block_bootstrap")),
    "ar1 phi=0.8": ("ar1", 0.8, 100, ("hac", "block_bootstrap")),
    "heteroscedastic": ("heteroscedastic", None, 100, ("hac", "block_bootstrap")),
}


def scenario_rows(
    name: str, replicates: int, seed: int, threads: int, methods: list[str], auto_only: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The table rows of one scenario and its records (one per harness run)."""
    noise, phi, n_paths, intervals = SCENARIOS[name]
    base = RunConfig(seed=seed).model_dump()
    base["sampling"]["n_paths"] = n_paths
    runs: list[tuple[str, dict[str, Any]]] = [
        ("auto", {**base, "methods": {**base["methods"], "run": methods}})
    ]
    for interval in () if auto_only else intervals:
        methods = {**base["methods"], "run": ["least_squares"]}
        methods["least_squares"] = {**methods["least_squares"], "interval": interval}
        runs.append((interval, {**base, "methods": methods}))
    rows, records = [], {}
    for label, data in runs:
        config = RunConfig.model_validate(data)
        with torch_threads(threads):
            start = time.perf_counter()
            report = run_coverage(config, replicates=replicates, noise=noise, phi=phi)
            seconds = time.perf_counter() - start
        record = report.to_json()
        for row in record["methods"]:
            row.pop("fits")
        records[label] = {**record, "seconds": seconds}
        for row in report.methods:
            if label != "auto" and row.name != "least_squares":
                continue  # the classical reference is in the auto run
            name_shown = row.name if label == "auto" else f"least_squares ({label})"
            if row.name == "least_squares_classical":
                name_shown = "least_squares (classical)"
            rows.append(
                {
                    "scenario": name,
                    "method": name_shown,
                    "interval": row.interval,
                    "coverage": row.coverage,
                    "ci": row.coverage_ci95,
                    "width_ratio": row.width_ratio,
                    "bias": next(iter(row.bias.values())),
                    "bias_corrected": sum(fit["bias_corrected"] for fit in row.fits),
                }
            )
    return rows, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=machine_cores(), help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--methods", nargs="*", default=["least_squares", "gradient"])
    parser.add_argument("--auto-only", action="store_true", help="no explicit interval runs")
    args = parser.parse_args()
    figures: dict[str, Any] = {"torch_threads": args.threads, "replicates": args.replicates}
    print(f"R = {args.replicates}, torch intra-op threads: {args.threads}")
    print(
        "| scenario | method | interval used | coverage | 95% CI | width / exact | bias | "
        "bias corrected |"
    )
    print("|---|---|---|---:|---|---:|---:|---:|")
    for name in args.only:
        start = time.perf_counter()
        rows, records = scenario_rows(
            name, args.replicates, args.seed, args.threads, args.methods, args.auto_only
        )
        figures[name] = {"rows": rows, "records": records, "seconds": time.perf_counter() - start}
        for row in rows:
            lo, hi = row["ci"]
            print(
                f"| {name} | {row['method']} | {row['interval']} | {row['coverage']:.3f} | "
                f"[{lo:.3f}, {hi:.3f}] | {row['width_ratio']:.2f} | {row['bias']:.2g} | "
                f"{row['bias_corrected']} |",
                flush=True,
            )
        if args.json is not None:  # after every scenario: a long run keeps what it measured
            args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
