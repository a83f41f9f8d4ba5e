"""Running a study on Dask: nothing lost, nothing repeated.

The client plans the chunks, submits those whose shard is not on disk, and writes each result
as it arrives: ``DIR/parts/<chunk key>.parquet`` through a temporary file and a rename, so a
shard is either whole or absent. ``DIR/study.json`` holds the study file, the versions and the
plan, and one record per run (workers, chunks computed and skipped, seconds). A worker that
dies mid-study has its tasks rerun by the scheduler; a client that dies leaves the finished
shards, and ``resume=True`` computes only the rest. The shards are one Parquet dataset
(``read_results``), for pyarrow, pandas or DuckDB.

With no scheduler address an embedded ``distributed.LocalCluster`` is started: one process per
worker, one thread each (every task also pins torch to one thread).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pathfit._json import json_safe
from pathfit.app.experiment import now
from pathfit.app.outcome import versions
from pathfit.app.study.compute import Chunk, compute_chunk
from pathfit.app.study.plan import plan_chunks
from pathfit.app.study.spec import Study
from pathfit.atomic import write_bytes_atomic, write_json_atomic
from pathfit.exceptions import InputError
from pathfit.processes.tiling import available_cores

SCHEMA_VERSION = 1
"""The version of study.json's layout."""
STUDY_FILE = "study.json"
PARTS = "parts"

CONNECT_TIMEOUT = "10s"
"""How long to try to reach a scheduler given by address."""

OnChunk = Callable[[int, int], None]
"""Called with (chunks done, chunks in the study) as each chunk is written."""


@dataclass(frozen=True)
class StudyRun:
    """What one ``run_study`` did.

    Attributes:
        folder: the study's folder.
        chunks: chunks in the study.
        computed: chunks computed by this run.
        skipped: chunks already on disk (``resume``).
        rows: rows written by this run.
        seconds: wall time of the run, the cluster's start included.
        compute_seconds: from the first task submitted to the last shard written.
        workers: workers the cluster had when the run started (0: the study was complete
            and no cluster was started).
        scheduler: the scheduler's address, or None for the embedded cluster.
    """

    folder: Path
    chunks: int
    computed: int
    skipped: int
    rows: int
    seconds: float
    compute_seconds: float
    workers: int
    scheduler: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "chunks": self.chunks,
            "computed": self.computed,
            "skipped": self.skipped,
            "rows": self.rows,
            "seconds": self.seconds,
            "compute_seconds": self.compute_seconds,
            "workers": self.workers,
            "scheduler": self.scheduler,
        }


def run_study(
    study: Study,
    folder: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_chunk: OnChunk | None = None,
) -> StudyRun:
    """Compute every chunk of ``study`` not yet in ``folder``; see the module docstring.

    Raises:
        InputError: the folder holds another study, or a finished one without ``resume`` or
            ``overwrite``; the scheduler cannot be reached; ``workers`` < 1.
    """
    folder = Path(folder)
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise InputError("--workers", workers, "at least 1 worker")
    if scheduler is not None and workers is not None:
        raise InputError(
            "--workers", workers, "no --workers with --scheduler (its owner sets them)"
        )
    chunks = plan_chunks(study)
    _check_folder(folder, study, resume=resume, overwrite=overwrite)
    parts = folder / PARTS
    started, start = now(), time.perf_counter()
    rows = 0
    if resume and (folder / STUDY_FILE).exists():
        done = {path.stem for path in parts.glob("*.parquet")}
        if all(chunk.key in done for chunk in chunks):  # complete: no cluster to start
            if on_chunk is not None:
                on_chunk(len(chunks), len(chunks))
            run = StudyRun(folder, len(chunks), 0, len(chunks), 0, 0.0, 0.0, 0, scheduler)
            _record_run(folder, run, started)
            return run
    compute_start = compute_end = time.perf_counter()
    with _client(scheduler, workers) as client:  # a cluster first: nothing written without one
        _prepare(folder, study, chunks, overwrite=overwrite)
        done = {path.stem for path in parts.glob("*.parquet")}
        todo = [chunk for chunk in chunks if chunk.key not in done]
        skipped = count = len(chunks) - len(todo)
        if on_chunk is not None:
            on_chunk(count, len(chunks))
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
        if todo:
            client.run(warm_up)  # every worker imports torch and pathfit now, not in a task
        compute_start = time.perf_counter()
        if todo:
            from distributed import as_completed

            futures = [
                client.submit(compute_chunk, chunk, key=f"pathfit-chunk-{chunk.key}", pure=False)
                for chunk in todo
            ]
            keys = {future.key: chunk.key for future, chunk in zip(futures, todo, strict=True)}
            for future, table in as_completed(futures, with_results=True):
                write_shard(parts / f"{keys[future.key]}.parquet", table)
                rows += table.num_rows
                count += 1
                future.release()
                if on_chunk is not None:
                    on_chunk(count, len(chunks))
        compute_end = time.perf_counter()
    run = StudyRun(
        folder,
        len(chunks),
        len(todo),
        skipped,
        rows,
        time.perf_counter() - start,
        compute_end - compute_start,
        n_workers,
        scheduler,
    )
    _record_run(folder, run, started)
    return run


def warm_up() -> None:
    """Import what a chunk needs (torch, the estimators: seconds) on a worker before its first
    task, so the run's computing time is computing."""
    import pathfit.app.study.compute
    import pathfit.estimators.batched  # noqa: F401


def write_shard(path: Path, table: pa.Table) -> None:
    """One chunk's rows as a Parquet file, written whole or not at all."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def read_results(folder: str | Path) -> pa.Table:
    """Every row of a study's shards, as one table (missing metrics of a chunk are nulls)."""
    import pyarrow.dataset as ds

    parts = Path(folder) / PARTS
    files = sorted(str(p) for p in parts.glob("*.parquet"))
    if not files:
        raise InputError(str(folder), "no shard in parts/", "a study folder with results")
    return ds.dataset(files, format="parquet").to_table()


def read_study(folder: str | Path) -> dict[str, Any]:
    """The study.json of a study folder."""
    path = Path(folder) / STUDY_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            str(folder), f"no {STUDY_FILE}", "a folder made by pathfit study run"
        ) from None
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(str(path), str(err), f"a readable {STUDY_FILE}") from None


def _check_folder(folder: Path, study: Study, *, resume: bool, overwrite: bool) -> None:
    """Refuse a folder the run may not use, before anything is written or started."""
    if resume and overwrite:
        raise InputError("--overwrite", "with --resume", "one of them: complete, or start again")
    if folder.exists() and not folder.is_dir():
        raise InputError(str(folder), "a file", "a folder for the study")
    existing = folder / STUDY_FILE
    if existing.exists():
        recorded = read_study(folder)
        if overwrite:
            return
        if not resume:
            raise InputError(
                "-o",
                f"{folder} (holds a study already)",
                "a new folder, --resume to complete that study, or --overwrite to start again",
            )
        if recorded.get("key") != study.key:
            raise InputError(
                "--resume",
                f"{folder} (holds a different study: {recorded.get('source')})",
                "the same study file that started it",
            )
    elif folder.exists() and any(folder.iterdir()) and not overwrite:
        raise InputError("-o", f"{folder} (not empty, no {STUDY_FILE})", "a new or empty folder")


def _prepare(folder: Path, study: Study, chunks: list[Chunk], *, overwrite: bool) -> None:
    """Make the checked folder ready and write study.json: kept when resuming; written anew
    when new or overwritten. Overwriting the same study keeps the records of its earlier runs
    (a study run again on another number of workers adds a point to the scaling map); its
    shards are computed anew."""
    existing = folder / STUDY_FILE
    earlier_runs: list[dict[str, Any]] = []
    if existing.exists() and overwrite:
        recorded = read_study(folder)
        if recorded.get("key") == study.key:
            earlier_runs = list(recorded.get("runs", []))
        if (folder / PARTS).exists():
            shutil.rmtree(folder / PARTS)
        existing.unlink()
    (folder / PARTS).mkdir(parents=True, exist_ok=True)
    for leftover in (folder / PARTS).glob(".*"):  # temporary files of an interrupted write
        leftover.unlink(missing_ok=True)
    if not existing.exists():
        write_json_atomic(existing, {**_study_json(study, chunks), "runs": earlier_runs})


def _study_json(study: Study, chunks: list[Chunk]) -> dict[str, Any]:
    return json_safe(
        {
            "schema_version": SCHEMA_VERSION,
            "key": study.key,
            "source": study.source,
            "study": study.document,
            "axes": study.axes,
            "methods": list(study.methods),
            "metrics": list(study.settings.metrics),
            "replicates": study.settings.replicates,
            "cells": [
                {"index": c.index, "key": c.key, "values": c.values, "noise": c.noise, "phi": c.phi}
                for c in study.cells
            ],
            "plan": [
                {
                    "key": chunk.key,
                    "units": [[u.cell, len(u.replicates)] for u in chunk.units],
                }
                for chunk in chunks
            ],
            "versions": versions(),
            "created": now(),
            "runs": [],
        }
    )


def _record_run(folder: Path, run: StudyRun, started: str) -> None:
    data = read_study(folder)
    data["runs"].append({**run.to_json(), "started": started, "finished": now()})
    write_json_atomic(folder / STUDY_FILE, json_safe(data))


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A Dask client: connected to ``scheduler``, or to an embedded local cluster."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise InputError(
                "--scheduler", scheduler, f"a reachable Dask scheduler ({err})"
            ) from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=workers or available_cores(),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        yield client
