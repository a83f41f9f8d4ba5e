"""Studies on a real Dask cluster: a scheduler and two workers started here as processes.

A worker killed mid-study: the scheduler reruns its tasks and every row is there exactly once.
The client killed mid-study: ``--resume`` completes it, every row once, and the chunks already
on disk are not computed again (study.json counts them). Every process started here is
stopped by its process id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from pathfit.app.study import parse_study, read_results, read_study, run_study
from pathfit.app.study.plan import plan_chunks

DASK = str(Path(sys.executable).with_name("dask"))
PATHFIT = str(Path(sys.executable).with_name("pathfit"))

# 12 cells x 8 replicates of a small experiment, least squares fitted replicate by replicate
# (the automatic interval): chunks of one cell, each a fraction of a second
STUDY = {
    "seed": 3,
    "sampling": {"n_paths": 40, "n_times": 400},
    "target": {"noise_std": 0.05},
    "study": {
        "replicates": 8,
        "methods": ["least_squares"],
        "metrics": ["estimate", "covered", "interval", "seconds"],
        "chunk_seconds": 0.05,
    },
    "grid": {"sampling.horizon": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "study.noise": ["iid", "ar1"]},
}


def _toml(data: dict) -> str:
    lines = ["seed = 3"]
    for table in ("sampling", "target", "study", "grid"):
        lines.append(f"[{table}]")
        for key, value in data[table].items():
            name = f'"{key}"' if "." in key else key
            lines.append(f"{name} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _wait_for(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path: Path):
    """A `dask scheduler` and two `dask worker` processes (no nanny: a killed worker stays
    dead); yields (address, [worker processes])."""
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen(
        [
            DASK,
            "scheduler",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        ],
        **quiet,
    )
    started = [scheduler]
    try:
        _wait_for(scheduler_file.exists, 60, "the scheduler file")
        address = json.loads(scheduler_file.read_text())["address"]
        workers = [
            subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                **quiet,
            )
            for _ in range(2)
        ]
        started += workers
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for process in reversed(started):
            _stop(process)


def _check_every_row_once(folder: Path) -> None:
    study = parse_study(STUDY)
    table = read_results(folder).to_pydict()
    keys = Counter(zip(table["cell"], table["replicate"], table["method"], strict=True))
    assert len(keys) == len(study.cells) * 8
    assert set(keys.values()) == {1}
    chunks = {chunk.key for chunk in plan_chunks(study)}
    assert {p.stem for p in (folder / "parts").glob("*.parquet")} == chunks
    assert not list((folder / "parts").glob(".*"))  # no temporary file left


def test_a_worker_killed_mid_study_loses_and_repeats_nothing(cluster, tmp_path: Path):
    address, workers = cluster
    folder = tmp_path / "study"
    study = parse_study(STUDY)
    total = len(plan_chunks(study))
    assert total >= 12
    killer = threading.Thread(
        target=lambda: (
            _wait_for(lambda: len(list((folder / "parts").glob("*.parquet"))) >= 2, 120, "shards"),
            os.kill(workers[0].pid, signal.SIGKILL),
        )
    )
    killer.start()
    run = run_study(study, folder, scheduler=address)
    killer.join()
    assert workers[0].wait(timeout=30) == -signal.SIGKILL
    assert run.computed == total and run.skipped == 0
    _check_every_row_once(folder)


def test_a_killed_client_resumes_without_recomputing_finished_chunks(cluster, tmp_path: Path):
    address, _ = cluster
    folder = tmp_path / "study"
    study_file = tmp_path / "study.toml"
    study_file.write_text(_toml(STUDY), encoding="utf-8")
    command = [PATHFIT, "study", "run", str(study_file), "-o", str(folder), "-q"]
    client = subprocess.Popen(
        [*command, "--scheduler", address], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        parts = folder / "parts"
        _wait_for(lambda: len(list(parts.glob("*.parquet"))) >= 3, 120, "three shards")
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=30)
    finally:
        _stop(client)
    done_before = len(list((folder / "parts").glob("*.parquet")))
    total = len(plan_chunks(parse_study(STUDY)))
    assert 3 <= done_before < total, "the client finished before it was killed"
    resumed = subprocess.run(
        [*command, "--scheduler", address, "--resume"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    runs = read_study(folder)["runs"]
    assert len(runs) == 1  # the killed run never finished, so it recorded nothing
    assert runs[0]["skipped"] == done_before
    assert runs[0]["computed"] == total - done_before
    _check_every_row_once(folder)
