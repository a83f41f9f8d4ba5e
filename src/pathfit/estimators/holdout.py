"""The hold-out split of the observation times, shared by gradient training and model choice."""

from __future__ import annotations

import torch

from pathfit import _random
from pathfit.exceptions import InputError


def split_times(
    n_times: int, fraction: float, n_params: int, seed: int
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Sorted training and hold-out time indices, or (None, None) without a hold-out.

    ``round(fraction * n_times)`` times (at least one) are held out, drawn from the seed's
    hold-out stream: the same seed holds out the same times in every fit that uses it.

    Args:
        n_times: number of observation times.
        fraction: share of the times held out, in [0, 1); 0 for none.
        n_params: the fewest times the training needs.
        seed: integer seed.

    Returns:
        (training indices, hold-out indices), each sorted, or (None, None) if ``fraction`` is 0.
    """
    if fraction == 0:
        return None, None
    n_held = max(1, round(fraction * n_times))
    if n_times - n_held < n_params:
        raise InputError(
            "holdout",
            f"{fraction} of {n_times} times",
            f"a hold-out that leaves at least {n_params} times to train on",
        )
    order = torch.randperm(n_times, generator=_random.stream(seed, _random.HOLDOUT))
    return order[n_held:].sort().values, order[:n_held].sort().values
