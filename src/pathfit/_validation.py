"""Shared validators. Each raises :class:`InputError` naming the field and the value found."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

from pathfit._types import DTYPES
from pathfit.exceptions import InputError


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    return repr(value)


def check_int(field: str, value: object, *, minimum: int) -> int:
    """Return ``value`` as an int >= minimum; NumPy integers are accepted, bools are not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(field, _describe(value), f"an integer >= {minimum}")
    if value < minimum:
        raise InputError(field, value, f"an integer >= {minimum}")
    return int(value)


def check_real(
    field: str,
    value: object,
    *,
    positive: bool = False,
    nonnegative: bool = False,
) -> float:
    """Return ``value`` as a finite float, optionally > 0 or >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(field, _describe(value), "a real number")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(field, value, "a finite number")
    if positive and value <= 0:
        raise InputError(field, value, "a number > 0")
    if nonnegative and value < 0:
        raise InputError(field, value, "a number >= 0")
    return value


def check_choice(field: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(field, repr(value), "one of " + ", ".join(map(repr, choices)))
    return value  # type: ignore[return-value]


def check_dtype(field: str, value: object) -> torch.dtype:
    """Accept a torch floating dtype or its name ('float32', 'float64')."""
    if isinstance(value, torch.dtype) and value in DTYPES.values():
        return value
    if isinstance(value, str) and value in DTYPES:
        return DTYPES[value]
    raise InputError(field, repr(value), "float32 or float64")


# Upcasts that lose nothing: half precisions to float32 (every value is exact there; torch's
# linear algebra has no half kernels), integers and bools to float64 (exact up to 2^53).
_UPCAST = {torch.float16: torch.float32, torch.bfloat16: torch.float32}
_FINITE_BLOCK = 1 << 22  # elements checked at a time: no (n_paths, n_times) mask is made


def _first_nonfinite(value: torch.Tensor) -> tuple[int, ...] | None:
    """The index of the first NaN or inf in ``value``, or None; checked block by block."""
    if value.ndim == 0:
        return None if bool(torch.isfinite(value)) else ()
    row = max(1, value[0].numel()) if value.shape[0] else 1
    rows = max(1, _FINITE_BLOCK // row)
    for start in range(0, value.shape[0], rows):
        block = value[start : start + rows]
        if not bool(torch.isfinite(block).all()):
            bad = (~torch.isfinite(block)).nonzero()[0].tolist()
            return (bad[0] + start, *bad[1:])
    return None


def check_tensor(
    field: str,
    value: object,
    *,
    ndim: int,
    finite: bool = True,
) -> torch.Tensor:
    """Return ``value`` as a real floating tensor with ``ndim`` dimensions and, by default,
    finite.

    float32 and float64 are kept as they are, in tensors and NumPy arrays alike; float16 and
    bfloat16 are upcast to float32, and integers and bools to float64; other arrays (lists,
    say) become float64. Complex values are refused. The result never requires grad: a tensor
    that does is detached (a view, not a copy), so a fit never backpropagates into the
    caller's graph.
    """
    if not isinstance(value, torch.Tensor):
        try:
            array = np.asarray(value)
        except (TypeError, ValueError, RuntimeError) as err:
            raise InputError(field, type(value).__name__, "an array of numbers") from err
        if array.dtype.kind == "c":
            raise InputError(field, f"array of dtype {array.dtype}", "real numbers")
        if array.dtype.kind not in "biuf":
            raise InputError(field, type(value).__name__, "an array of numbers")
        # float32 stays float32 (it was upcast to float64 here before, silently)
        dtype = torch.float32 if array.dtype in (np.float16, np.float32) else torch.float64
        if not array.flags.writeable or any(step < 0 for step in array.strides):
            # torch warns on read-only memory (pandas' columns) and refuses negative strides
            # (a reversed view, x[:, ::-1])
            array = array.copy()
        value = torch.as_tensor(array, dtype=dtype)
    if value.is_complex():
        raise InputError(field, f"{_describe(value)} of dtype {value.dtype}", "real numbers")
    value = value.detach()
    if value.dtype in _UPCAST:
        value = value.to(_UPCAST[value.dtype])
    elif not value.is_floating_point():
        value = value.to(torch.float64)
    if value.ndim != ndim:
        raise InputError(field, _describe(value), f"a {ndim}-d array")
    if finite:
        bad = _first_nonfinite(value)
        if bad is not None:
            where = ", ".join(map(str, bad))
            found = value[bad].item()
            raise InputError(field, f"{found} at index ({where})", "finite values (no NaN or inf)")
    return value


def check_device(field: str, value: object) -> torch.device:
    """The torch device ``value`` names ('cpu', 'cuda', 'cuda:1'), if this machine has it."""
    try:
        device = torch.device(value)  # type: ignore[arg-type]
    except (RuntimeError, ValueError, TypeError):
        raise InputError(field, repr(value), "a torch device such as 'cpu' or 'cuda'") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(field, repr(value), "'cpu' or 'cuda'")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(field, repr(value), "an available device (no CUDA here)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise InputError(field, repr(value), f"a CUDA device index below {count}")
    return device
