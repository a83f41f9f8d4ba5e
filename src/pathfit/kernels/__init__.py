"""Fused GPU kernels (Triton). Import ``pathfit.kernels.triton_design`` only where CUDA is used."""
