"""Coverage of pathfit's default intervals over R independent replicates of an experiment.

Issue 3's claim: with their default intervals, least squares and the guarded gradient fit
cover the truth in 93% to 97% of R = 1000 replicates, under iid observation noise and under
population noise; the classical interval's coverage under population noise is shown beside
them. This script measures it (the test suite checks the same with a small R). Its one timing,
the seconds of each noise kind, is taken with torch's intra-op threads set to ``--threads``
(default: the benchmark harness's, one per core), and the count is printed and written.

    .venv/bin/python benchmarks/bench_coverage.py [--replicates 1000] [--threads N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pathfit.app.bench import machine_cores
from pathfit.app.config import RunConfig
from pathfit.app.coverage import NOISE_KINDS, run_coverage
from pathfit.processes.tiling import torch_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=machine_cores(), help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    config = RunConfig(seed=args.seed)
    figures: dict[str, object] = {"torch_threads": args.threads}
    print(f"torch intra-op threads: {args.threads}")
    header = f"{'noise':<11} {'method':<24} {'interval':<15} {'coverage':>8}  95% CI of coverage"
    print(header)
    print("-" * len(header))
    for noise in NOISE_KINDS:
        with torch_threads(args.threads):
            start = time.perf_counter()
            report = run_coverage(config, replicates=args.replicates, noise=noise)
            seconds = time.perf_counter() - start
        figures[noise] = report.to_json()
        for row in report.methods:
            lo, hi = row.coverage_ci95
            print(
                f"{noise:<11} {row.name:<24} {row.interval:<15} {row.coverage:>8.3f}  "
                f"[{lo:.3f}, {hi:.3f}]  mean width {row.mean_ci_width:.3g}, "
                f"{1e3 * row.seconds_per_fit:.2f} ms per fit"
            )
        print(f"{noise:<11} ({args.replicates} replicates in {seconds:.1f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
