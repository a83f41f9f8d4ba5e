"""How much memory a configured run will need, known before it simulates, and the limit it
must fit in.

The estimate is arithmetic on the config: the program itself, the paths when they are held
whole (they are not when every method fits the design alone: ``streams``), and the largest
working set among the selected methods. Its per-method factors were measured as peak resident
memory of ``pathfit run`` (see docs/memory.md); it is meant to be a little above the truth, so
that a run it lets through does not die in the allocator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pathfit._types import DTYPES
from pathfit.app.build import selected_methods, streams
from pathfit.exceptions import InputError
from pathfit.processes.tiling import PATH_BLOCK, TIME_TILE

if TYPE_CHECKING:
    from pathfit.app.config import RunConfig

GiB = 2**30
PROGRAM_BYTES = 350 * 2**20
"""Python, torch and the report's matplotlib: 0.32-0.34 GiB peak on a 100-path run."""
GENERATOR_BYTES = 160 * 2**20
"""numba and the compiled normal generator, which a run loads when it draws more normals on
the CPU than ``pathfit._philox.TORCH_BUDGET``: 0.12-0.13 GiB measured."""
DEFAULT_FRACTION = 0.8
"""The default limit: this share of the memory the system says is available."""

# Arrays the size of the paths that each method holds at its peak, beyond the paths themselves
# (measured at 1000 x 2000 and 2000 x 4000, float64).
_WHOLE_FACTORS = {
    "least_squares": 1.0,
    "gradient": 2.0,
    "seed_sgd": 2.0,
    "seed_network": 10.0,
    "amortized": 2.0,  # its sorted copy of the paths and their powers
}
_PER_HIDDEN_UNIT = 4.0  # a pointwise network: activations, derivatives, Jacobian terms per unit


@dataclass(frozen=True)
class MemoryEstimate:
    """The peak memory a run is expected to need.

    Attributes:
        bytes: the estimate, the program itself included.
        streamed: whether the paths are streamed (never held whole).
        what: what dominates it, in words.
    """

    bytes: int
    streamed: bool
    what: str

    def __str__(self) -> str:
        return f"{self.bytes / GiB:.3g} GiB ({self.what})"


def estimate_memory(config: RunConfig, held_whole: bool = False) -> MemoryEstimate:
    """The peak memory ``run_experiment(config)`` is expected to need (``held_whole``: with
    paths that are already whole, as ``fit_data`` has them)."""
    from pathfit.app.build import linear_model
    from pathfit.design import SAMPLE_PATHS

    n, m = config.sampling.n_paths, config.sampling.n_times
    item = DTYPES[config.dtype].itemsize
    whole = n * m * item
    methods = selected_methods(config)
    ls = config.methods.least_squares
    bootstrap = 0
    if "least_squares" in methods and ls.interval in ("auto", "path_bootstrap"):
        p = len(linear_model(config).powers)
        # multinomial counts and their picks (n_bootstrap x n), and the replicates' designs
        bootstrap = ls.n_bootstrap * n * 2 * item + 3 * ls.n_bootstrap * m * p * item
    if streams(config) and not held_whole:
        highest = 2 * max(linear_model(config).powers) + 1
        kept = min(n, SAMPLE_PATHS) * m * item * 3  # the first paths, and the figures' copies
        sums = m * (highest + 1) * item + 4 * PATH_BLOCK * TIME_TILE * item * (highest + 2)
        total = _program(config) + kept + sums + bootstrap
        what = f"streamed: per-time power sums of {n} x {m} paths and the first {SAMPLE_PATHS}"
        if bootstrap:
            what += f", {ls.n_bootstrap} path-bootstrap replicates"
        return MemoryEstimate(int(total), True, what)
    working = {name: _WHOLE_FACTORS.get(name, 0.0) * whole for name in methods}
    if "least_squares" in working:
        working["least_squares"] += bootstrap
    if "pointwise_mlp" in working:
        units = sum(config.methods.pointwise_mlp.hidden)
        working["pointwise_mlp"] = (2 + _PER_HIDDEN_UNIT * units) * whole
    if "seed_network" in working:
        # its Jacobian (n_times x weights) and the SVD's factors, with n weights per unit
        weights = n * max([1, *config.methods.seed_network.hidden[:1]]) + 1
        working["seed_network"] += 3 * m * weights * item
    if config.lambda_x.coef:
        working["lambda(x)"] = (2 + _PER_HIDDEN_UNIT * max(config.lambda_x.widths)) * whole
    largest = max(working, key=lambda name: working[name])
    total = _program(config) + whole + working[largest]
    what = f"{n} x {m} paths held whole ({whole / GiB:.3g} GiB) and {largest}'s working arrays"
    return MemoryEstimate(int(total), False, what)


def _program(config: RunConfig) -> int:
    """The program itself, with the compiled generator where the run will load it."""
    from pathfit._philox import TORCH_BUDGET

    draws = config.sampling.n_paths * config.sampling.n_times
    compiled = config.sampling.rng == "philox" and config.device == "cpu" and draws > TORCH_BUDGET
    return PROGRAM_BYTES + (GENERATOR_BYTES if compiled else 0)


def available_memory() -> int | None:
    """The memory the system says is available now (Linux: MemAvailable), else the physical
    memory; None when neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_limit(max_memory: int | None = None) -> int | None:
    """The limit a run must fit in: ``max_memory`` bytes, else DEFAULT_FRACTION of the
    available memory (None: unknown, no limit)."""
    if max_memory is not None:
        return max_memory
    available = available_memory()
    return None if available is None else int(DEFAULT_FRACTION * available)


def check_memory(
    config: RunConfig,
    max_memory: int | None = None,
    source: str = "config",
    held_whole: bool = False,
) -> MemoryEstimate:
    """Refuse a run whose estimated peak memory exceeds the limit, before anything is
    allocated; returns the estimate. The error names ``source``'s sampling section (for given
    data, ``source`` is the data file and the sizes are its own)."""
    estimate = estimate_memory(config, held_whole)
    limit = memory_limit(max_memory)
    if limit is not None and estimate.bytes > limit:
        s = config.sampling
        if max_memory is not None:
            whose = "the limit given"
        else:
            whose = f"{DEFAULT_FRACTION:.0%} of the memory available now"
        raise InputError(
            source if held_whole else f"{source}: sampling",
            f"n_paths x n_times = {s.n_paths} x {s.n_times}, which needs about {estimate}",
            f"a run that fits in {limit / GiB:.3g} GiB ({whose}; --max-memory sets it)",
        )
    return estimate
