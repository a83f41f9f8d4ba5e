"""Validation of the (paths, targets) pair every estimator receives."""

from __future__ import annotations

import torch

from pathfit._types import TargetValues
from pathfit._validation import check_real, check_tensor
from pathfit.datafiles.inputs import as_data
from pathfit.design import StreamedPaths
from pathfit.exceptions import InputError
from pathfit.models import AbstractLinearModel, AbstractModel
from pathfit.paths import Paths
from pathfit.targets import Targets


def check_data(
    paths: object, targets: object, n_params: int, times: object = None
) -> tuple[Paths, TargetValues]:
    """Return the paths and the (n_times,) target values, checked against each other.

    ``paths`` and ``targets`` may be any of the forms :mod:`pathfit.datafiles.inputs` reads
    (Paths, arrays or tensors with ``times``, DataFrames in the data files' layouts); float32
    stays float32. ``Paths`` and ``Targets`` share their caller's tensors, so they are
    validated again here, as at construction (shapes, dtype, finite, sorted times, detached):
    one pass over the values, no copy. What was changed in place since is an ``InputError``
    naming the field.
    """
    paths, targets = as_data(paths, targets, times)
    if not isinstance(paths, Paths):
        raise InputError("paths", type(paths).__name__, "a pathfit.Paths (not streamed)")
    paths = Paths(paths.values, paths.times)
    return paths, _check_targets(paths, targets, n_params)


def check_any_data(
    paths: object, targets: object, n_params: int, times: object = None
) -> tuple[Paths | StreamedPaths, TargetValues]:
    """``check_data`` for an estimator that needs only sums over the paths: ``StreamedPaths``
    (built by pathfit and never changed) are accepted as they are."""
    if isinstance(paths, StreamedPaths):
        paths, targets = as_data(paths, targets, times)
        return paths, _check_targets(paths, targets, n_params)
    return check_data(paths, targets, n_params, times)


def _check_targets(paths: Paths | StreamedPaths, targets: object, n_params: int) -> TargetValues:
    if isinstance(targets, Targets):
        targets = Targets(targets.values, targets.times, targets.noise_std)
        values = targets.values
        if targets.times.shape == paths.times.shape and not torch.allclose(
            targets.times.to(paths.dtype), paths.times, rtol=1e-9, atol=1e-12
        ):
            raise InputError(
                "targets.times",
                "times that differ from paths.times",
                "targets observed at the paths' times",
            )
    else:
        values = check_tensor("targets", targets, ndim=1)
    if values.shape[0] != paths.n_times:
        raise InputError(
            "targets",
            f"{values.shape[0]} values for {paths.n_times} times",
            "one target per observation time",
        )
    if paths.n_times < n_params:
        raise InputError(
            "n_times", paths.n_times, f"at least {n_params} observation times, one per parameter"
        )
    check_powers(paths, 2)  # every model weighs lambda by x^2
    return values.to(dtype=paths.dtype, device=paths.device)


def check_powers(paths: Paths | StreamedPaths, power: int) -> None:
    """Refuse path values whose ``power``-th power overflows the paths' dtype, naming the
    largest |x| (finite values such as 1e200 would otherwise end in a failed SVD)."""
    peak = paths.peak if isinstance(paths, StreamedPaths) else float(paths.values.abs().max())
    limit = torch.finfo(paths.dtype).max ** (1 / power)
    if peak > limit:
        raise InputError(
            "paths.values",
            f"|x| = {peak:.6g}, whose x^{power} overflows {_name(paths.dtype)}",
            f"values with |x| <= {limit:.3g}, so that x^{power} is finite",
        )


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def check_level(level: object) -> float:
    level = check_real("level", level)
    if not 0 < level < 1:
        raise InputError("level", level, "a confidence level in (0, 1)")
    return level


def min_times(model: AbstractModel) -> int:
    """The fewest observation times a fit of ``model`` needs: one per coefficient of a linear
    model (a network's weights are not identified by count, so one time suffices to train)."""
    return len(model.powers) if isinstance(model, AbstractLinearModel) else 1
