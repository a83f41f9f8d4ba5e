"""The measures of whole runs: ``pathfit run`` on its defaults in process and cold, and the
environment every figure depends on."""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from pathfit.app.bench._figures import (
    ColdCommand,
    DefaultRuns,
    Environment,
    ExperimentRun,
    GitState,
    MethodRun,
)
from pathfit.app.bench._pipelines import torchsde_available
from pathfit.app.bench._plan import Plan, machine_cores
from pathfit.app.config import RunConfig, parse_config
from pathfit.app.experiment import run_experiment
from pathfit.app.outcome import versions as run_versions
from pathfit.processes.tiling import torch_threads

_REPO = Path(__file__).resolve().parents[4]
"""The checkout pathfit is installed from, when it is one (for the git state)."""


def _experiment(threads: int) -> ExperimentRun:
    with torch_threads(threads):
        wall, cpu = time.perf_counter(), time.process_time()
        out = run_experiment(RunConfig())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return ExperimentRun(
        threads=threads,
        wall_s=wall,
        cpu_s=cpu,
        simulate_s=out.simulate_s,
        methods=tuple(
            MethodRun(
                name=method.name,
                wall_s=math.nan if method.result is None else method.result.wall_s,
                status=method.status,
            )
            for method in out.methods
        ),
    )


def bench_default_run(plan: Plan) -> DefaultRuns | None:
    """``run_experiment(RunConfig())`` in process: plan.run_repeats runs on plan.threads and
    plan.run_repeats_1thread on one thread, alternated (None when the plan asks for none)."""
    if plan.run_repeats + plan.run_repeats_1thread == 0:
        return None
    tiny = parse_config({"sampling": {"n_paths": 8, "n_times": 16}})
    with torch_threads(plan.threads):
        start = time.perf_counter()
        run_experiment(tiny)  # torch's one-off start-up (autograd, optimizers) is paid here
        warmup_s = time.perf_counter() - start
    order = [plan.threads] * plan.run_repeats
    for k in range(plan.run_repeats_1thread):  # alternate: default, 1, default, 1, ...
        order.insert(min(2 * k + 1, len(order)), 1)
    return DefaultRuns(warmup_s=warmup_s, runs=tuple(_experiment(threads) for threads in order))


def bench_cold_start(plan: Plan) -> tuple[ColdCommand, ...]:
    """Wall time of cold subprocesses, in turn in each repeat: a bare interpreter, one that
    only imports pathfit's CLI and experiment modules (torch included), and the whole
    ``pathfit run -o TMP``. Each runs with OMP_NUM_THREADS = plan.threads. A failed subprocess
    is reported, not timed. Empty when the plan asks for none."""
    if plan.cold_repeats == 0:
        return ()
    cli = Path(sys.executable).parent / "pathfit"
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import pathfit.cli, pathfit.app.experiment'": [
            sys.executable,
            "-c",
            "import pathfit.cli, pathfit.app.experiment",
        ],
        "pathfit run -o TMP": [str(cli), "run", "-o"],
    }
    env = {**os.environ, "OMP_NUM_THREADS": str(plan.threads)}
    samples: dict[str, list[float]] = {label: [] for label in commands}
    errors: dict[str, list[str]] = {label: [] for label in commands}
    for _ in range(plan.cold_repeats):
        for label, command in commands.items():
            with tempfile.TemporaryDirectory() as folder:
                argv = [*command, folder] if command[-1] == "-o" else command
                start = time.perf_counter()
                done = subprocess.run(
                    argv, capture_output=True, text=True, cwd=folder, env=env, check=False
                )
                seconds = time.perf_counter() - start
                error = None
                if done.returncode != 0:
                    lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
                    error = lines[-1]
                elif command[-1] == "-o" and not (Path(folder) / "results.json").is_file():
                    error = "no results.json written"
            if error is None:
                samples[label].append(seconds)
            else:
                errors[label].append(error)
    return tuple(
        ColdCommand(label=label, samples_s=tuple(samples[label]), errors=tuple(errors[label]))
        for label in commands
    )


def git_state() -> GitState | None:
    """The commit measured, and a hash of any uncommitted change to src/ (None outside git)."""

    def git(*args: str) -> bytes:
        return subprocess.run(
            ["git", "-C", str(_REPO), *args], capture_output=True, check=True
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").decode().strip()
        dirty = git("status", "--porcelain", "--", "src").strip()
        diff = git("diff", "HEAD", "--", "src")
    except (OSError, subprocess.CalledProcessError):
        return None
    return GitState(
        commit=commit,
        src_modified=bool(dirty),
        src_diff_sha256=hashlib.sha256(diff).hexdigest()[:16] if diff else None,
    )


def versions() -> dict[str, str]:
    found = run_versions()
    if torchsde_available():
        import torchsde

        found["torchsde"] = torchsde.__version__
    if torch.cuda.is_available():
        try:
            import triton

            found["triton"] = triton.__version__
        except ImportError:
            pass
    return found


def device_name() -> str:
    if torch.cuda.is_available():
        return f"cpu + {torch.cuda.get_device_name()}"
    return "cpu"


def _loadavg() -> tuple[float, ...]:
    return tuple(os.getloadavg()) if hasattr(os, "getloadavg") else ()


class EnvironmentProbe:
    """Records the environment at the start of a run and completes it at the end."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._date_utc = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self._threads_at_start = torch.get_num_threads()
        self._loadavg_start = _loadavg()

    def finish(self) -> Environment:
        return Environment(
            date_utc=self._date_utc,
            versions=versions(),
            platform=platform.platform(),
            processor=platform.processor() or platform.machine(),
            cpu_count=os.cpu_count(),
            cores=machine_cores(),
            threads=self._plan.threads,
            torch_threads_at_start=self._threads_at_start,
            openblas_coretype=os.environ.get("OPENBLAS_CORETYPE"),
            omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
            device=device_name(),
            loadavg_start=self._loadavg_start,
            loadavg_end=_loadavg(),
            git=git_state(),
        )
