"""One chunk of a study, computed where Dask puts it: cells x replicates in, one table out.

A chunk is a list of units, each one cell and the seeds of some of its replicates. A unit's
replicates are simulated together (``simulate_designs``: dataset r is exactly what
``simulate(..., seed=seeds[r])`` gives) and fitted together where a method has a batched form:

- ``seed_sgd``, the seed's per-sample SGD: ``batched_per_sample_sgd``, the replicates of all
  the chunk's cells (each with its own step size) in one vectorized loop over steps;
- ``least_squares`` with ``interval = "classical"``: one batched SVD;
- ``gradient`` in full-batch SGD at its curvature step (``mode = "full"``, ``optimizer``
  "sgd", or "auto" for one parameter; no fixed ``lr``, no hold-out) with the classical
  interval: ``batched_gradient``.

Every other method (the automatic and bootstrap intervals, which need the paths; the
networks) fits replicate by replicate on the same simulated data, as ``pathfit coverage``
does. Everything here is a plain function of its arguments: a rerun on another worker gives
the same rows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from pathfit.app.build import build_process, build_spec, linear_model
from pathfit.app.config import RunConfig
from pathfit.app.coverage import fit_replicate
from pathfit.choices import NoiseKind
from pathfit.processes.tiling import torch_threads
from pathfit.targets import ConstantLam


@dataclass(frozen=True)
class Unit:
    """One cell and the seeds of some of its replicates."""

    cell: int
    cell_key: str
    values: dict[str, Any]
    config: dict[str, Any]  # RunConfig.model_dump(): plain data travels cheaply
    noise: NoiseKind
    phi: float | None
    replicates: tuple[int, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Chunk:
    """The units of one task and its key (a hash of the base config, cells and seeds)."""

    key: str
    units: tuple[Unit, ...]
    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    axes: tuple[str, ...]
    axis_types: tuple[str, ...]


@dataclass(frozen=True)
class _Simulated:
    """A unit's replicates reduced to their designs, with their targets."""

    designs: torch.Tensor  # (R, n_times, n_params)
    targets: torch.Tensor  # (R, n_times)
    truth: float
    seconds: float


@dataclass(frozen=True)
class _SeedFits:
    """The seed recipe's outcome on one unit's replicates."""

    coef: torch.Tensor
    status: tuple[str, ...]
    steps: torch.Tensor
    bound: torch.Tensor
    frontier: torch.Tensor
    seconds: float  # per replicate


def compute_chunk(chunk: Chunk) -> pa.Table:
    """Fit every replicate of every unit with every method; one row per fit. The seed recipe
    runs once for all units of the chunk that share a number of times and of steps."""
    rows: list[dict[str, Any]] = []
    with torch_threads(1):
        configs = [RunConfig.model_validate(unit.config) for unit in chunk.units]
        simulated = {
            b: _simulate(unit, config)
            for b, (unit, config) in enumerate(zip(chunk.units, configs, strict=True))
            if any(batchable(name, config) for name in chunk.methods)
        }
        seed_fits = _seed_recipe(chunk, configs, simulated) if "seed_sgd" in chunk.methods else {}
        for b, (unit, config) in enumerate(zip(chunk.units, configs, strict=True)):
            rows.extend(_unit_rows(unit, config, chunk.methods, simulated.get(b), seed_fits.get(b)))
    return rows_table(rows, chunk)


def _seed_recipe(
    chunk: Chunk, configs: list[RunConfig], simulated: dict[int, _Simulated]
) -> dict[int, _SeedFits]:
    """``batched_per_sample_sgd`` over all the chunk's units at once (each its own step)."""
    from pathfit.estimators.batched import batched_per_sample_sgd

    groups: dict[tuple[int, int], list[int]] = {}
    for b, config in enumerate(configs):
        if batchable("seed_sgd", config):
            key = (config.sampling.n_times, config.methods.seed_sgd.max_steps)
            groups.setdefault(key, []).append(b)
    fits = {}
    for (_, max_steps), members in groups.items():
        start = time.perf_counter()
        designs = torch.cat([simulated[b].designs[..., 0] for b in members])
        targets = torch.cat([simulated[b].targets for b in members])
        lr = torch.cat(
            [
                torch.full((len(chunk.units[b].seeds),), configs[b].methods.seed_sgd.lr)
                for b in members
            ]
        ).to(designs)
        seeds = [seed for b in members for seed in chunk.units[b].seeds]
        fit = batched_per_sample_sgd(designs, targets, lr=lr, max_steps=max_steps, seeds=seeds)
        each = (time.perf_counter() - start) / len(seeds)
        first = 0
        for b in members:
            part = slice(first, first + len(chunk.units[b].seeds))
            first = part.stop
            fits[b] = _SeedFits(
                fit.coef[part],
                tuple(fit.status[part]),
                fit.steps[part],
                fit.bound[part],
                fit.frontier[part],
                each,
            )
    return fits


def rows_table(rows: list[dict[str, Any]], chunk: Chunk) -> pa.Table:
    """The rows as a table of the study's fixed schema (axes, identity, chosen metrics)."""
    columns: dict[str, list[Any]] = {"chunk": [chunk.key] * len(rows)}
    for name in ("cell", "cell_key", "replicate", "seed", "method", "noise", "phi"):
        columns[name] = [row[name] for row in rows]
    for axis in chunk.axes:
        columns[axis] = [row["values"][axis] for row in rows]
    kinds = dict(zip(chunk.axes, chunk.axis_types, strict=True))
    for metric in chunk.metrics:
        if metric == "ci":
            columns["ci_lo"] = [row["ci_lo"] for row in rows]
            columns["ci_hi"] = [row["ci_hi"] for row in rows]
        else:
            columns[metric] = [row.get(metric) for row in rows]
    return pa.table(
        {name: _array(name, values, kinds.get(name)) for name, values in columns.items()}
    )


COLUMN_TYPES = {
    "chunk": pa.string(),
    "cell": pa.int64(),
    "cell_key": pa.string(),
    "replicate": pa.int64(),
    "seed": pa.uint64(),
    "method": pa.string(),
    "noise": pa.string(),
    "phi": pa.float64(),
    "estimate": pa.float64(),
    "truth": pa.float64(),
    "error": pa.float64(),
    "abs_error": pa.float64(),
    "stderr": pa.float64(),
    "ci_lo": pa.float64(),
    "ci_hi": pa.float64(),
    "covered": pa.bool_(),
    "interval": pa.string(),
    "status": pa.string(),
    "steps": pa.int64(),
    "seconds": pa.float64(),
    "bound": pa.float64(),
    "frontier": pa.float64(),
}
"""Every column's type but the axes' (``axis_type``): the same in every shard."""


def axis_type(values: list[Any]) -> str:
    """The column type of an axis from all its values in the study (so every shard agrees):
    "string" if any is a string, "bool" if all are booleans, "int64" if all are integers,
    else "float64"."""
    if any(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int64"
    return "float64"


def _array(name: str, values: list[Any], kind: str | None = None) -> pa.Array:
    if kind is not None:
        return pa.array(values, type=pa.type_for_alias(kind))
    return pa.array(values, type=COLUMN_TYPES[name])


def _unit_rows(
    unit: Unit,
    config: RunConfig,
    methods: tuple[str, ...],
    simulated: _Simulated | None,
    seed_fits: _SeedFits | None,
) -> list[dict[str, Any]]:
    batched = [name for name in methods if batchable(name, config)]
    rows = []
    if batched and simulated is not None:
        rows.extend(_batched_rows(unit, config, batched, simulated, seed_fits))
    single = [name for name in methods if name not in batched]
    if single:
        for replicate, seed in zip(unit.replicates, unit.seeds, strict=True):
            _, records = fit_replicate(
                config, single, seed, noise=unit.noise, phi=unit.phi, fallback=False
            )
            for name, record in zip(single, records, strict=True):
                result = record.result
                truth = _truth(config, record.one_lam)
                estimate = result.lam if result.params is None else result.params[0]
                ci = result.lam_ci if result.params is None else (result.ci or [None])[0]
                stderr = result.lam_stderr if result.params is None else _first(result.stderr)
                bound = None if result.stability is None else result.stability.bound
                rows.append(
                    _row(unit, replicate, seed, name, estimate, truth, stderr, ci)
                    | {
                        "interval": result.interval,
                        "status": result.status,
                        "steps": result.steps,
                        "seconds": record.seconds,
                        "bound": bound,
                        "frontier": None,
                    }
                )
    order = {name: b for b, name in enumerate(methods)}
    rows.sort(key=lambda row: (row["replicate"], order[row["method"]]))
    return rows


def batchable(name: str, config: RunConfig) -> bool:
    """Whether method ``name`` of ``config`` has a batched form in studies (see the module
    docstring)."""
    methods = config.methods
    if name == "seed_sgd":
        return config.target.kind == "constant"
    if name == "least_squares":
        return methods.least_squares.interval == "classical" and (
            methods.least_squares.bias_correction != "jackknife"
        )
    if name == "gradient":
        g = methods.gradient
        one = config.target.kind == "constant"
        return (
            g.mode == "full"
            and (g.optimizer == "sgd" or (g.optimizer == "auto" and one))
            and g.lr is None
            and g.holdout == 0
            and g.interval == "classical"
            and g.bias_correction != "jackknife"
        )
    return False


def _simulate(unit: Unit, config: RunConfig) -> _Simulated:
    """The unit's replicates as designs (``simulate_designs``) and their targets: exact, with
    the noise ``make_targets`` adds for each seed, or the population's expectation."""
    from pathfit.design import simulate_designs
    from pathfit.targets import population_targets

    process, spec, model = build_process(config), build_spec(config), linear_model(config)
    s = config.sampling
    start = time.perf_counter()
    times, designs = simulate_designs(
        process,
        n_paths=s.n_paths,
        n_times=s.n_times,
        horizon=s.horizon,
        seeds=unit.seeds,
        powers=model.powers,
        dtype=config.dtype,
        workers=1,
    )
    coef = torch.tensor(spec.coef, dtype=designs.dtype)
    if unit.noise == "population":
        targets = torch.stack([population_targets(process, spec, t).values for t in times])
    else:
        targets = designs @ coef
        std = config.target.noise_std
        if std > 0:
            targets = torch.stack(
                [
                    _noisy(targets[r], std, unit.noise, unit.phi, seed)
                    for r, seed in enumerate(unit.seeds)
                ]
            )
    return _Simulated(designs, targets, float(spec.coef[0]), time.perf_counter() - start)


def _batched_rows(
    unit: Unit,
    config: RunConfig,
    methods: list[str],
    simulated: _Simulated,
    seed_fits: _SeedFits | None,
) -> list[dict[str, Any]]:
    from pathfit.estimators import batched

    designs, targets, truth = simulated.designs, simulated.targets, simulated.truth
    rows = []
    for name in methods:
        start = time.perf_counter()
        fit: Any
        if name == "seed_sgd":
            assert seed_fits is not None
            estimates, stderr, ci = seed_fits.coef, None, None
            statuses, steps = list(seed_fits.status), seed_fits.steps
            bound, frontier = seed_fits.bound, seed_fits.frontier
            interval = None
        else:
            if name == "least_squares":
                fit = batched.batched_least_squares(designs, targets, level=config.methods.level)
            else:
                g = config.methods.gradient
                fit = batched.batched_gradient(
                    designs, targets, max_steps=g.max_steps, tol=g.tol, level=config.methods.level
                )
            estimates, stderr, ci = fit.coef[:, 0], fit.stderr[:, 0], fit.ci[:, 0]
            statuses = ["converged" if bool(c) else "max_steps" for c in fit.converged]
            steps = fit.steps
            bound = _full_batch_bound(designs) if name == "gradient" else None
            frontier, interval = None, "classical"
        seconds = (time.perf_counter() - start + simulated.seconds / len(methods)) / len(unit.seeds)
        if name == "seed_sgd" and seed_fits is not None:
            seconds += seed_fits.seconds
        for r, (replicate, seed) in enumerate(zip(unit.replicates, unit.seeds, strict=True)):
            interval_r = None if ci is None else (float(ci[r, 0]), float(ci[r, 1]))
            rows.append(
                _row(
                    unit,
                    replicate,
                    seed,
                    name,
                    float(estimates[r]),
                    truth,
                    None if stderr is None else float(stderr[r]),
                    interval_r,
                )
                | {
                    "interval": interval,
                    "status": statuses[r],
                    "steps": int(steps[r]),
                    "seconds": seconds,
                    "bound": None if bound is None else float(bound[r]),
                    "frontier": None if frontier is None else float(frontier[r]),
                }
            )
    return rows


def _noisy(
    values: torch.Tensor, std: float, noise: NoiseKind, phi: float | None, seed: int
) -> torch.Tensor:
    """The targets plus the noise ``make_targets`` would add for this seed."""
    from pathfit.targets import observation_noise

    return values + std * observation_noise(values, noise, phi or 0.0, seed)


def _full_batch_bound(designs: torch.Tensor) -> torch.Tensor:
    """2 / L for full-batch gradient descent, L = 2 |Phi|_2^2 / m."""
    m = designs.shape[1]
    return m / torch.linalg.matrix_norm(designs, ord=2).square()


def _truth(config: RunConfig, one_lam: float | None) -> float:
    spec = build_spec(config)
    return float(spec.coef[0]) if isinstance(spec, ConstantLam) or one_lam is None else one_lam


def _first(values: list[float] | None) -> float | None:
    return None if not values else values[0]


def _row(
    unit: Unit,
    replicate: int,
    seed: int,
    method: str,
    estimate: float | None,
    truth: float,
    stderr: float | None,
    ci: tuple[float, float] | None,
) -> dict[str, Any]:
    finite = estimate is not None and math.isfinite(estimate)
    error = estimate - truth if finite and estimate is not None else None
    return {
        "cell": unit.cell,
        "cell_key": unit.cell_key,
        "replicate": replicate,
        "seed": seed,
        "method": method,
        "noise": unit.noise,
        "phi": unit.phi,
        "values": unit.values,
        "estimate": estimate if finite else None,
        "truth": truth,
        "error": error,
        "abs_error": None if error is None else abs(error),
        "stderr": stderr,
        "ci_lo": None if ci is None else ci[0],
        "ci_hi": None if ci is None else ci[1],
        "covered": None if ci is None else bool(ci[0] <= truth <= ci[1]),
    }


def seeds_for(study_seed: int, cell_key: str, replicates: range) -> list[int]:
    """Replicate seeds of a cell: from the study's seed and the cell's key, so that a cell keeps
    its seeds when other cells are added to or removed from the study."""
    words = [int(cell_key[i : i + 8], 16) for i in range(0, 24, 8)]
    sequence = np.random.SeedSequence(study_seed, spawn_key=tuple(words))
    state = sequence.generate_state(2 * replicates.stop, np.uint32).astype(np.uint64)
    seeds = (state[0::2] << np.uint64(31)) ^ state[1::2]
    return [int(s) for s in seeds[replicates.start : replicates.stop]]
