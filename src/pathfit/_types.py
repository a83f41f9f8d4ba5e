"""Shape aliases used in signatures and docstrings.

They are documentation only: a ``Tensor`` at run time. Shapes use the problem's own names:
``n_paths`` paths observed at ``n_times`` times, ``n_params`` model parameters.
"""

from __future__ import annotations

from typing import TypeAlias

import torch

PathValues: TypeAlias = torch.Tensor
"""(n_paths, n_times) tensor of x_ij."""
Times: TypeAlias = torch.Tensor
"""(n_times,) tensor of observation times, sorted."""
TargetValues: TypeAlias = torch.Tensor
"""(n_times,) tensor of aggregate targets k_j."""
Design: TypeAlias = torch.Tensor
"""(n_times, n_params) tensor: the aggregated design Phi."""
Params: TypeAlias = torch.Tensor
"""(n_params,) tensor of coefficients."""


DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
