"""``make bench``: the benchmark harness of ``pathfit bench``, from a script.

It runs ``pathfit.app.bench.run_bench`` (the one harness: see its docstring and
``benchmarks/README.md``), prints its table and, with ``--json``, writes the same JSON as
``pathfit bench`` writes to bench.json. It measures nothing of its own.

Usage:
    .venv/bin/python benchmarks/bench_core.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pathfit.app.bench import BENCH_STEPS, run_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure as JSON")
    args = parser.parse_args(argv)
    done = iter(range(1, BENCH_STEPS + 1))

    def progress(step: str) -> None:
        print(f"[{next(done)}/{BENCH_STEPS}] {step}", file=sys.stderr, flush=True)

    report = run_bench(args.quick, progress=progress)
    width = max(len(measure) for measure, _ in report.rows)
    print(report.title)
    for measure, value in report.rows:
        print(f"{measure:<{width}}  {value}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n"
        args.json.write_text(text, encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
