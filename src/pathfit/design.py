"""The aggregated design: the sufficient statistic of every model linear in its parameters.

A model linear in its parameters predicts k_j = sum_b c_b Phi_jb with
Phi_jb = (1/n) sum_i f_b(x_ij). pathfit's linear models use monomial features f_b(x) = x^q_b:
constant lambda is q = (2,), a polynomial lambda(x) of degree d is q = (2, ..., d + 2), and a
polynomial k of degree p is q = (0, ..., p). Phi is a sum over paths, so it can be accumulated
block by block without ever holding all of x.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from pathfit._types import Design, PathValues, Times
from pathfit.exceptions import InputError
from pathfit.processes import AbstractProcess


def _check_powers(powers: Sequence[int]) -> tuple[int, ...]:
    powers = tuple(powers)
    if not powers or any(isinstance(q, bool) or not isinstance(q, int) or q < 0 for q in powers):
        raise InputError("powers", repr(powers), "a non-empty sequence of integers >= 0")
    return powers


def power_sums(values: PathValues, powers: Sequence[int]) -> Design:
    """(n_times, len(powers)) tensor of sum_i x_ij^q for each power q, over the paths given."""
    powers = _check_powers(powers)
    out = values.new_empty((values.shape[1], len(powers)))
    power = values  # x^q for the current q, built up by products; x^0 is never formed
    for q in range(max(powers) + 1):
        if q >= 2:
            power = power * values
        for b in (b for b, wanted in enumerate(powers) if wanted == q):
            out[:, b] = values.shape[0] if q == 0 else power.sum(dim=0)
    return out


def power_design(values: PathValues, powers: Sequence[int]) -> Design:
    """Phi_jb = (1/n) sum_i x_ij^q_b: (n_times, len(powers)) design from (n_paths, n_times) x."""
    return power_sums(values, powers) / values.shape[0]


class DesignAccumulator:
    """Accumulates the power design over blocks of paths.

    Example:
        >>> acc = DesignAccumulator(powers=(2,))
        >>> for block in process.iter_blocks(n_paths, times, seed=0):
        ...     acc.update(block)
        >>> design = acc.design  # equals power_design(all_values, (2,))
    """

    def __init__(self, powers: Sequence[int]) -> None:
        self.powers = _check_powers(powers)
        self._sums: torch.Tensor | None = None
        self.n_paths = 0

    def update(self, block: PathValues) -> None:
        """Add a (block_paths, n_times) block of path values."""
        sums = power_sums(block, self.powers)
        if self._sums is None:
            self._sums = sums
        elif sums.shape != self._sums.shape:
            raise InputError(
                "block",
                f"shape {tuple(block.shape)}",
                f"{self._sums.shape[0]} times, as in earlier blocks",
            )
        else:
            self._sums += sums
        self.n_paths += block.shape[0]

    @property
    def design(self) -> Design:
        if self._sums is None:
            raise InputError("design", "no blocks", "at least one update() before reading")
        return self._sums / self.n_paths


def accumulate_design(blocks: Iterable[PathValues], powers: Sequence[int]) -> Design:
    """The power design of all blocks together, holding one block at a time."""
    acc = DesignAccumulator(powers)
    for block in blocks:
        acc.update(block)
    return acc.design


def streamed_design(
    process: AbstractProcess,
    n_paths: int,
    times: Times,
    powers: Sequence[int],
    *,
    seed: int,
) -> Design:
    """Simulate ``n_paths`` paths of ``process`` block by block and return their power design.

    Equal (to rounding) to ``power_design(process.sample_paths(n_paths, times, seed=seed).values,
    powers)`` but holds only one block of paths at a time.
    """
    return accumulate_design(process.iter_blocks(n_paths, times, seed=seed), powers)
