"""The one timer: candidates timed in turn, repeat after repeat, each on a stated number of
torch threads.

Ratios between candidates timed side by side in one run hold on a noisy machine: a burst of
load from elsewhere falls on all of them alike. The best repeat is the least disturbed; the
median says how much the disturbance mattered.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch

DeviceKind = Literal["cpu", "cuda"]


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One thing to time.

    Attributes:
        run: function of an integer seed; one call does the whole job being measured.
        threads: torch intra-op threads while it runs.
        device: "cuda" waits for the device before the clock is read.
    """

    run: Callable[[int], object]
    threads: int
    device: DeviceKind = "cpu"

    def sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Seconds per call of one candidate.

    Attributes:
        samples_s: seconds per call in each repeat (the mean over that repeat's calls).
        calls: calls per repeat.
        threads: torch intra-op threads it ran on.
    """

    samples_s: tuple[float, ...]
    calls: int
    threads: int

    @property
    def best_s(self) -> float:
        return min(self.samples_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s)


def time_interleaved(
    candidates: Mapping[str, Candidate], *, repeats: int, min_time_s: float
) -> dict[str, Timing]:
    """Time several candidates in turn, repeat after repeat.

    Args:
        candidates: name -> Candidate.
        repeats: within each repeat every candidate is timed once, in an order that rotates
            from repeat to repeat.
        min_time_s: a candidate is called ``ceil(min_time_s / first call)`` times per repeat
            (at least once), so that short calls are not lost in timer and scheduler noise.

    Returns:
        name -> Timing, in seconds per call. torch's thread count is restored afterwards.
    """
    names = list(candidates)
    current: int | None = None  # the thread count set last

    def prepare(candidate: Candidate) -> None:
        nonlocal current
        if candidate.threads != current:
            torch.set_num_threads(candidate.threads)
            current = candidate.threads
            # one untimed call: the timed ones do not pay for resizing torch's thread pool
            candidate.run(0)
            candidate.sync()

    before = torch.get_num_threads()
    try:
        calls: dict[str, int] = {}
        for name in names:  # the first call warms up and sizes the repeats
            candidate = candidates[name]
            prepare(candidate)
            candidate.sync()
            start = time.perf_counter()
            candidate.run(0)
            candidate.sync()
            once = time.perf_counter() - start
            calls[name] = max(1, math.ceil(min_time_s / max(once, 1e-9)))
        samples: dict[str, list[float]] = {name: [] for name in names}
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                candidate = candidates[name]
                prepare(candidate)
                candidate.sync()
                start = time.perf_counter()
                for k in range(calls[name]):
                    candidate.run(1 + k)
                candidate.sync()
                samples[name].append((time.perf_counter() - start) / calls[name])
    finally:
        torch.set_num_threads(before)
    return {
        name: Timing(
            samples_s=tuple(samples[name]), calls=calls[name], threads=candidates[name].threads
        )
        for name in names
    }
