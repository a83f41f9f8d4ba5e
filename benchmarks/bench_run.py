"""`pathfit run` on its defaults as a whole process from the shell, quiet and with the cores busy.

Each measured run is what a user waits for: a new process runs the venv's ``pathfit`` entry
point (``pathfit run -o DIR --quiet`` plus any arguments given after ``--``), so Python's
start, every import (torch included), the simulation, the fits and the report are all in it.
Quiet runs alternate with loaded runs, during which this script keeps ``--busy`` processes
(default 2, one per core of a 2-core machine) spinning in pure Python; it starts them just
before each loaded run and kills them by pid just after, and on any error or interrupt. The
quiet and loaded runs are so measured in the same stretch of time, and the ratio of their
medians says how the run degrades when it has to share the cores.

Threads: the command is given no ``--threads`` (unless passed after ``--``) and the
environment's OMP_NUM_THREADS and MKL_NUM_THREADS are removed, so that the library's own
policy sets torch's threads (one for the default run's small fits).

Usage:
    .venv/bin/python benchmarks/bench_run.py [--repeat N] [--busy K] [--json PATH] [-- ARGS]

Prints each run as it finishes and then a table: median and min wall time, median CPU time
(user + sys of the pathfit process alone) for quiet and loaded runs, and loaded / quiet.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BUSY_LOOP = "while True: pass"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Run:
    """One finished ``pathfit run`` process: wall seconds and its own CPU seconds."""

    loaded: bool
    wall_s: float
    cpu_s: float


def pathfit_command() -> list[str]:
    """The ``pathfit`` entry point beside this interpreter (the venv's), else the same app
    through ``python -c``."""
    script = Path(sys.executable).with_name("pathfit")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from pathfit.cli import app; app()"]


def child_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}


def time_process(command: list[str], *, loaded: bool) -> Run:
    """Run ``command`` to its end; its wall time and the CPU time of that process alone
    (``os.wait4``, so the busy processes' time is never counted)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_environment(),
    )
    assert proc.stderr is not None
    stderr = proc.stderr.read()  # the run is quiet: its stderr is small
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: " + " | ".join(tail))
    return Run(loaded, wall, usage.ru_utime + usage.ru_stime)


class BusyProcesses:
    """``count`` processes spinning in pure Python while the block runs; killed by pid when it
    ends, however it ends."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyProcesses:
        try:
            for _ in range(self.count):
                self.procs.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP]))
        except BaseException:
            self.stop()
            raise
        time.sleep(0.2)  # let them reach the loop before the measured run starts
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            proc.wait()
        self.procs.clear()


def measure(repeat: int, busy: int, warmup: int, extra: list[str]) -> list[Run]:
    """``warmup`` uncounted quiet runs, then ``repeat`` quiet and ``repeat`` loaded runs, in
    pairs whose order alternates (Q L, L Q, ...) so that drift falls on both."""
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench_run_") as scratch:
        n = 0

        def command() -> list[str]:
            nonlocal n
            n += 1
            return [*pathfit_command(), "run", "-o", f"{scratch}/run{n}", "--quiet", *extra]

        for _ in range(warmup):
            time_process(command(), loaded=False)
        for i in range(repeat):
            for loaded in (False, True) if i % 2 == 0 else (True, False):
                if loaded:
                    with BusyProcesses(busy):
                        run = time_process(command(), loaded=True)
                else:
                    run = time_process(command(), loaded=False)
                runs.append(run)
                what = f"loaded ({busy} busy)" if loaded else "quiet"
                print(
                    f"  {what:<16} wall {run.wall_s:6.2f} s  cpu {run.cpu_s:6.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return runs


def summary(runs: list[Run], loaded: bool) -> dict[str, object]:
    chosen = [r for r in runs if r.loaded == loaded]
    walls = [r.wall_s for r in chosen]
    cpus = [r.cpu_s for r in chosen]
    return {
        "n": len(chosen),
        "wall_s": walls,
        "cpu_s": cpus,
        "wall_median_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "cpu_median_s": statistics.median(cpus),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each kind (default 5)")
    parser.add_argument(
        "--busy", type=int, default=2, help="busy processes during loaded runs (default 2)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="uncounted first runs (default 1)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    parser.add_argument("pathfit_args", nargs="*", help="after --: more `pathfit run` arguments")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.busy < 0 or args.warmup < 0:
        parser.error("--repeat must be at least 1, --busy and --warmup at least 0")
    base = [*pathfit_command(), "run", "-o", "DIR", "--quiet", *args.pathfit_args]
    print(f"measuring: {' '.join(base)}", file=sys.stderr)
    try:
        runs = measure(args.repeat, args.busy, args.warmup, args.pathfit_args)
    except RuntimeError as err:  # a run failed: say which, the busy processes are gone
        print(f"error: {err}", file=sys.stderr)
        return 1
    quiet, loaded = summary(runs, False), summary(runs, True)
    ratio = float(loaded["wall_median_s"]) / float(quiet["wall_median_s"])  # type: ignore[arg-type]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"pathfit run, whole process ({cores} cores, {args.repeat} runs of each kind)")
    print(f"{'':<18}{'median wall s':>14}{'min wall s':>12}{'median cpu s':>14}")
    for name, row in (("quiet", quiet), (f"loaded ({args.busy} busy)", loaded)):
        print(
            f"{name:<18}{row['wall_median_s']:>14.2f}{row['wall_min_s']:>12.2f}"
            f"{row['cpu_median_s']:>14.2f}"
        )
    print(f"loaded / quiet (median wall): {ratio:.2f}")
    if args.json is not None:
        report = {
            "command": base,
            "threads": "as pathfit run sets them"
            + ("" if "--threads" not in args.pathfit_args else " (--threads given)"),
            "repeat": args.repeat,
            "busy": args.busy,
            "warmup": args.warmup,
            "cores": cores,
            "machine": platform.platform(),
            "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "quiet": quiet,
            "loaded": loaded,
            "loaded_over_quiet": ratio,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
