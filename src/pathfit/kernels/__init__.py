"""Fused GPU kernels (Triton) and the host reference they are checked against.

``pathfit.kernels.triton_design`` imports Triton: import it only where CUDA is used (as
``pathfit.design`` does, lazily). The reference below needs NumPy and torch only.
"""

from pathfit.kernels._reference import philox4x32 as philox4x32
from pathfit.kernels._reference import reference_design as reference_design
from pathfit.kernels._reference import reference_normals as reference_normals
from pathfit.kernels._reference import reference_paths as reference_paths

__all__ = ["philox4x32", "reference_design", "reference_normals", "reference_paths"]
