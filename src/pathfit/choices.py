"""The closed sets of names pathfit accepts, in one torch-free module (the command line lists
them in its help).

Each set is a ``Literal`` type for signatures and a tuple of its values for checks; the
estimators, the config file and the command line all read them from here, so a name is added
or removed in one place.
"""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["per_sample", "minibatch", "full"]
"""How GradientFit batches the time indices: one per step, shuffled batches, or all."""
OptimizerName = Literal["auto", "sgd", "adam", "lbfgs", "gauss_newton"]
"""GradientFit's optimiser; "auto" is SGD at 1/L for one linear parameter, Gauss-Newton
(Levenberg-Marquardt) for a network trained on the full batch, else L-BFGS."""
IntervalMethod = Literal["auto", "classical", "path_bootstrap", "hac", "block_bootstrap"]
"""How an interval is obtained; "auto" reads the residuals and says why it chose."""
IntervalFound = Literal[
    "classical", "path_bootstrap", "path_cluster", "hac", "block_bootstrap", "posterior"
]
"""How an interval was obtained: the methods above, "path_cluster", what "path_bootstrap"
becomes for a network (the path-clustered sandwich of its linearization), and "posterior",
the central interval of the amortized estimator's posterior."""
BiasCorrection = Literal["auto", "none", "jackknife"]
"""Whether least squares corrects its finite-n bias: when it is a sizeable part of the
standard error, never (only reported), or always."""
Activation = Literal["tanh", "sigmoid", "softplus", "silu"]
"""The hidden layers' activation of pathfit's networks."""
DTypeName = Literal["float32", "float64"]
Status = Literal["converged", "early_stopped", "max_steps", "stalled", "diverged"]
"""How a fit ended."""

ProcessKind = Literal["abm", "gbm", "ou"]
TargetKind = Literal["constant", "poly_lambda", "poly_k"]
ObservationNoise = Literal["iid", "ar1", "heteroscedastic"]
"""Noise added to each k_j: independent, AR(1) along the sorted times, or with its sd
proportional to |k_j|."""
NoiseKind = Literal["iid", "population", "ar1", "heteroscedastic"]
"""Coverage replicates: an observation noise on each k_j, or k a population quantity and x a
sample of paths."""

Layout = Literal["long", "wide"]
"""Data files: one row per (path, time), or one row per time with a column per path."""
MissingPolicy = Literal["raise", "omit"]
"""Data files: stop at a missing value, or drop the times that have one."""

MODES: tuple[Mode, ...] = get_args(Mode)
OPTIMIZERS: tuple[OptimizerName, ...] = get_args(OptimizerName)
INTERVAL_METHODS: tuple[IntervalMethod, ...] = get_args(IntervalMethod)
INTERVALS_FOUND: tuple[IntervalFound, ...] = get_args(IntervalFound)
BIAS_CORRECTIONS: tuple[BiasCorrection, ...] = get_args(BiasCorrection)
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)
DTYPE_NAMES: tuple[DTypeName, ...] = get_args(DTypeName)
STATUSES: tuple[Status, ...] = get_args(Status)
PROCESS_KINDS: tuple[ProcessKind, ...] = get_args(ProcessKind)
TARGET_KINDS: tuple[TargetKind, ...] = get_args(TargetKind)
OBSERVATION_NOISES: tuple[ObservationNoise, ...] = get_args(ObservationNoise)
NOISE_KINDS: tuple[NoiseKind, ...] = get_args(NoiseKind)
LAYOUTS: tuple[Layout, ...] = get_args(Layout)
MISSING_POLICIES: tuple[MissingPolicy, ...] = get_args(MissingPolicy)
