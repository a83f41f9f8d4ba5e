"""A study file: a base config and the axes that vary it.

A study file is a ``pathfit run`` config (every key optional, the same schema, validated the
same way) with three more tables:

- ``[study]``: ``replicates`` per cell, the ``methods`` to fit and the ``metrics`` to record,
  the observation ``noise`` (``iid``, ``population``, ``ar1``, ``heteroscedastic``; ``phi`` for
  ``ar1``) and the target seconds per task (``chunk_seconds``);
- ``[grid]``: any dotted config key (or ``study.noise``, ``study.phi``) mapped to a list of
  values; the cells are every combination;
- ``[random]``: ``n`` points drawn from ranges, ``seed`` for the draw, and per dotted key a
  table ``{low = ..., high = ..., scale = "uniform" | "log", integer = false}``; each point is
  combined with every grid cell.

Every cell's config is checked before anything runs; a bad axis value is an InputError naming
the study file, the axis and the value's position (``grid."sampling.n_paths"[2]``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from pathfit.app.config import RunConfig, input_error, parse_config, read_toml
from pathfit.app.methods import Section
from pathfit.choices import NOISE_KINDS, NoiseKind
from pathfit.exceptions import InputError

METRICS = (
    "estimate",
    "truth",
    "error",
    "abs_error",
    "stderr",
    "ci",
    "covered",
    "interval",
    "status",
    "steps",
    "seconds",
    "bound",
    "frontier",
)
"""What a study can record per fit, besides the columns that say which fit it is."""

STUDY_KEYS = ("study.noise", "study.phi")
"""Axis keys that are the study's own settings, not config keys."""
MAX_CELLS = 100_000
"""The most cells a study may have: each is checked (about a millisecond) and planned."""
MAX_FITS = 100_000_000
"""The most fits (cells x replicates x methods) a study may plan: the plan is held in memory."""

Metric = Literal[METRICS]  # type: ignore[valid-type]


class StudySection(Section):
    """``[study]``: what each cell runs and records."""

    replicates: int = Field(20, ge=1, description="independent datasets per cell")
    methods: list[str] | None = Field(
        None, description="methods to fit; default: methods.run, or every one that applies"
    )
    metrics: list[Metric] = Field(default_factory=lambda: list(METRICS))  # type: ignore[valid-type]
    noise: NoiseKind = "iid"
    phi: float | None = Field(None, gt=-1, lt=1, description="AR(1) coefficient, noise = ar1")
    chunk_seconds: float = Field(1.0, gt=0, description="target seconds of one task")

    @field_validator("methods")
    @classmethod
    def _some(cls, methods: list[str] | None) -> list[str] | None:
        if methods is not None and not methods:
            raise InputError(
                "methods", "[]", "at least one method (leave it out for methods.run's)"
            )
        if methods is not None and len(set(methods)) != len(methods):
            raise InputError("methods", repr(methods), "distinct method names")
        return methods

    @field_validator("metrics")
    @classmethod
    def _distinct(cls, metrics: list[str]) -> list[str]:
        if len(set(metrics)) != len(metrics):
            raise InputError("metrics", repr(metrics), "distinct metric names")
        return metrics


@dataclass(frozen=True)
class RandomAxis:
    """One key drawn at random: from [low, high], uniformly or log-uniformly."""

    key: str
    low: float
    high: float
    scale: Literal["uniform", "log"]
    integer: bool


@dataclass(frozen=True)
class Cell:
    """One point of the study: the axis values, the config they make, and its identity.

    Attributes:
        index: position in the study's cells.
        values: axis key -> value (in the order of the axes).
        config: the base config with the values applied, checked.
        noise, phi: the observation noise of its replicates.
        key: a hash of the base config and the values: the cell's identity across runs.
    """

    index: int
    values: dict[str, Any]
    config: RunConfig
    noise: NoiseKind
    phi: float | None
    key: str


@dataclass(frozen=True)
class Study:
    """A parsed study file: the base config, the study settings, the axes and the cells."""

    source: str
    document: dict[str, Any]
    base: RunConfig
    settings: StudySection
    grid: dict[str, list[Any]]
    random: list[RandomAxis]
    random_n: int
    random_seed: int
    cells: list[Cell]

    @property
    def axes(self) -> list[str]:
        return [*self.grid, *(axis.key for axis in self.random)]

    @property
    def methods(self) -> tuple[str, ...]:
        from pathfit.app.build import selected_methods

        if self.settings.methods is not None:
            return tuple(self.settings.methods)
        return selected_methods(self.base)

    @property
    def key(self) -> str:
        """A hash of the whole study file's meaning (its document, canonically)."""
        return _hash(self.document)


def load_study(path: str | Path) -> Study:
    """Read and check a study file."""
    try:
        document = read_toml(path)
    except InputError as err:  # read_toml speaks of --config; here it is the study file
        raise InputError("STUDY.toml", err.value, err.expected) from None
    return parse_study(document, source=str(path))


def parse_study(document: dict[str, Any], source: str = "study") -> Study:
    """Check a study document and build every cell's config; InputError names the field."""
    document = json.loads(json.dumps(document))  # a plain, canonical copy
    base_doc = {k: v for k, v in document.items() if k not in ("study", "grid", "random")}
    base = parse_config(base_doc, source=source)
    settings = _section(document.get("study", {}), source)
    grid = _grid(document.get("grid", {}), source)
    random, random_n, random_seed = _random(document.get("random"), source)
    overlap = set(grid) & {axis.key for axis in random}
    if overlap:
        key = sorted(overlap)[0]
        raise InputError(f"{source}: random.{key}", "a key also in [grid]", "each axis once")
    n_cells = math.prod(len(values) for values in grid.values()) * (random_n if random else 1)
    if n_cells > MAX_CELLS:
        raise InputError(
            f"{source}: grid and random", f"{n_cells} cells", f"at most {MAX_CELLS} cells"
        )
    n_methods = len(settings.methods) if settings.methods else 1
    n_fits = n_cells * settings.replicates * n_methods
    if n_fits > MAX_FITS:
        raise InputError(
            f"{source}: study.replicates",
            f"{settings.replicates} ({n_cells} cells x {settings.replicates} replicates x "
            f"{n_methods} methods = {n_fits} fits)",
            f"at most {MAX_FITS} fits in one study",
        )
    points = _random_points(random, random_n, random_seed)
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    cells = []
    for values in ({**combo, **point} for combo in combos for point in points):
        cells.append(_cell(len(cells), values, base_doc, settings, source))
    study = Study(source, document, base, settings, grid, random, random_n, random_seed, cells)
    _check_methods(study, source)
    return study


def _section(data: object, source: str) -> StudySection:
    import pydantic

    if not isinstance(data, dict):
        raise InputError(f"{source}: study", repr(data), "a table [study]")
    try:
        return StudySection.model_validate(data)
    except pydantic.ValidationError as err:
        inner = input_error(err, source, StudySection)
        raise InputError(
            inner.field.replace(f"{source}: ", f"{source}: study.", 1), inner.value, inner.expected
        ) from None


def _grid(data: object, source: str) -> dict[str, list[Any]]:
    if not isinstance(data, dict):
        raise InputError(f"{source}: grid", repr(data), "a table [grid] of key = [values]")
    grid = {}
    for key, values in data.items():
        _check_axis_key(key, source, "grid")
        if not isinstance(values, list) or not values:
            raise InputError(f'{source}: grid."{key}"', repr(values), "a non-empty list of values")
        for b, value in enumerate(values):
            if not isinstance(value, str | int | float | bool):
                raise InputError(
                    f'{source}: grid."{key}"[{b}]', repr(value), "a number, a string or a boolean"
                )
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise InputError(f'{source}: grid."{key}"', repr(values), "distinct values")
        grid[key] = values
    return grid


def _random(data: object, source: str) -> tuple[list[RandomAxis], int, int]:
    if data is None:
        return [], 1, 0
    if not isinstance(data, dict):
        raise InputError(f"{source}: random", repr(data), "a table [random]")
    n, seed = data.get("n"), data.get("seed", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"{source}: random.n", repr(n), "a number of points >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"{source}: random.seed", repr(seed), "an integer seed in [0, 2^63)")
    axes = []
    for key, spec in data.items():
        if key in ("n", "seed"):
            continue
        _check_axis_key(key, source, "random")
        field = f'{source}: random."{key}"'
        if not isinstance(spec, dict) or not {"low", "high"} <= set(spec):
            raise InputError(field, repr(spec), "a table {low = ..., high = ...}")
        unknown = set(spec) - {"low", "high", "scale", "integer"}
        if unknown:
            raise InputError(field, f"key {sorted(unknown)[0]!r}", "low, high, scale, integer")
        low, high = spec["low"], spec["high"]
        scale, integer = spec.get("scale", "uniform"), spec.get("integer", False)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not math.isfinite(low) or not math.isfinite(high) or low > high:
            raise InputError(
                field, f"low = {low!r}, high = {high!r}", "finite numbers, low <= high"
            )
        if scale not in ("uniform", "log"):
            raise InputError(f"{field}.scale", repr(scale), "'uniform' or 'log'")
        if scale == "log" and low <= 0:
            raise InputError(f"{field}.low", repr(low), "a positive low for scale = 'log'")
        if not isinstance(integer, bool):
            raise InputError(f"{field}.integer", repr(integer), "true or false")
        axes.append(RandomAxis(key, float(low), float(high), scale, integer))
    if not axes:
        raise InputError(f"{source}: random", "no key to draw", 'at least one "key" = {...}')
    return axes, n, seed


def _random_points(axes: list[RandomAxis], n: int, seed: int) -> list[dict[str, Any]]:
    if not axes:
        return [{}]
    rng = np.random.default_rng(seed)
    draws = rng.random((n, len(axes)))
    points = []
    for row in draws:
        point: dict[str, Any] = {}
        for axis, u in zip(axes, row, strict=True):
            if axis.scale == "log":
                value = math.exp(
                    math.log(axis.low) + u * (math.log(axis.high) - math.log(axis.low))
                )
            else:
                value = axis.low + u * (axis.high - axis.low)
            point[axis.key] = round(value) if axis.integer else float(value)
        points.append(point)
    return points


def _check_axis_key(key: str, source: str, table: str) -> None:
    if key in STUDY_KEYS:
        return
    from pathfit.app.config import known_keys

    parts = key.split(".")
    try:
        known = known_keys(parts[:-1], RunConfig)
    except KeyError:
        known = []
    if parts[-1] not in known or key.startswith("study."):
        raise InputError(
            f'{source}: {table}."{key}"',
            "not a config key",
            "a dotted config key such as sampling.n_paths or methods.seed_sgd.lr, or "
            + " or ".join(STUDY_KEYS),
        )


def _cell(
    index: int,
    values: dict[str, Any],
    base: dict[str, Any],
    settings: StudySection,
    source: str,
) -> Cell:
    document = json.loads(json.dumps(base))
    noise, phi = settings.noise, settings.phi
    for key, value in values.items():
        if key == "study.noise":
            if value not in NOISE_KINDS:
                raise InputError(_where(source, key, value), repr(value), " or ".join(NOISE_KINDS))
            noise = value
            continue
        if key == "study.phi":
            if isinstance(value, bool) or not isinstance(value, int | float) or not -1 < value < 1:
                raise InputError(_where(source, key, value), repr(value), "a number in (-1, 1)")
            phi = float(value)
            continue
        *tables, last = key.split(".")
        node = document
        for table in tables:
            node = node.setdefault(table, {})
        node[last] = value
    try:
        config = parse_config(document, source=f"{source} cell {index}")
    except InputError as err:
        wrong = next(
            (k for k in values if err.field.endswith(f": {k}") or f": {k}." in err.field), None
        )
        if wrong is None:
            raise
        raise InputError(_where(source, wrong, values[wrong]), err.value, err.expected) from None
    if noise == "ar1" and phi is None:
        phi = 0.6
    if noise != "ar1":
        phi = None
    key = _hash({"base": base, "values": values, "noise": noise, "phi": phi})
    return Cell(index, values, config, noise, phi, key)


def _where(source: str, key: str, value: object) -> str:
    return f'{source}: axis "{key}" = {value!r}'


def _check_methods(study: Study, source: str) -> None:
    from pathfit.app.methods import METHODS, applicable

    for name in study.methods:
        if name not in METHODS:
            raise InputError(f"{source}: study.methods", repr(name), "one of " + ", ".join(METHODS))
    for cell in study.cells:
        allowed = applicable(cell.config.target.kind, cell.config.methods)
        for name in study.methods:
            if name not in allowed:
                raise InputError(
                    f"{source}: study.methods",
                    repr(name),
                    f"methods that apply to cell {cell.index}'s target: {', '.join(allowed)}",
                )


def _hash(data: object) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]
