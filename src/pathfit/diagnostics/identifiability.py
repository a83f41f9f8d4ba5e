"""Identifiability: which parameters (or combinations) the aggregate targets determine.

For a model linear in its parameters everything follows from the aggregated design Phi: its
rank, the condition number of Phi with columns scaled to unit norm, and its weakest direction.
For a network, the same is asked of the Jacobian of the predictions with respect to the weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from pathfit._types import Design, PathValues
from pathfit.design import StreamedPaths
from pathfit.exceptions import InputError
from pathfit.linalg import ScaledSVD
from pathfit.models import AbstractLinearModel, AbstractModel, SeedNetwork
from pathfit.paths import Paths

CONDITION_WARNING = 1e6
"""Scaled condition numbers above this get a warning: about six digits are lost."""
COLLINEAR_COSINE = 0.9999
ODD_MOMENT_T2 = 4.0


@dataclass(frozen=True)
class Identifiability:
    """What the data determine.

    For a network the count is made in function space: ``rank`` is the number of weight
    directions that change the predictions at all (the numerical rank of the Jacobian of the
    predictions in the weights), and ``diagnosis`` says it together with what the fitted output
    does, in one line that the CLI, the report and results.json all show.

    Attributes:
        rank: numerical rank of the (column-scaled) design or Jacobian.
        n_params: number of parameters (for networks, of weights, biases included).
        condition_number: largest over smallest singular value, columns scaled to unit norm
            (inf when rank deficient).
        weakest_direction: the parameter combination the data determine least, as a unit
            vector over the parameter names (linear models; None for networks).
        warnings: plain-word warnings, empty when all is well.
        diagnosis: the one-line verdict, counted as above ("rank 2 of 2 parameters, ...",
            "only 27 of 49 weight directions change the predictions: ..."); for the seed network
            it goes on to say how much of the fitted lambda_j the bias alone explains, and it is
            also its warning.
        lam_spread: the seed network only (else None): std over times of the fitted lambda_j
            divided by |its mean|, the part of lambda_j that the weights move; 0 when the bias
            alone (a constant lambda_j) explains all of it.
    """

    rank: int
    n_params: int
    condition_number: float
    weakest_direction: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)
    diagnosis: str = ""
    lam_spread: float | None = None

    def __post_init__(self) -> None:
        if not self.diagnosis:
            object.__setattr__(
                self, "diagnosis", _count_line(self.rank, self.n_params, self.condition_number)
            )

    def summary(self) -> dict[str, Any]:
        cond = self.condition_number
        return {
            "rank": self.rank,
            "n_params": self.n_params,
            "condition_number": cond if math.isfinite(cond) else None,
            "weakest_direction": self.weakest_direction,
            "warnings": list(self.warnings),
            "diagnosis": self.diagnosis,
            "lam_spread": self.lam_spread,
        }


def _count_line(rank: int, n_params: int, cond: float) -> str:
    line = f"rank {rank} of {n_params} parameters"
    if math.isfinite(cond):
        line += f", scaled condition number {cond:.3g}"
    return line


def _weight_line(rank: int, n_params: int, cond: float) -> str:
    """How many weight directions change the predictions: the network's count, in words."""
    if rank < n_params:
        return (
            f"only {rank} of {n_params} weight directions change the predictions: the weights "
            "themselves are not identified (usual for networks; judge the learned lambda, not "
            "the weights)"
        )
    return (
        f"all {n_params} weight directions change the predictions (scaled condition number "
        f"{cond:.3g}), so the data determine every weight"
    )


def linear_identifiability(
    design: Design,
    names: Sequence[str],
    *,
    powers: Sequence[int] | None = None,
    values: PathValues | StreamedPaths | None = None,
) -> Identifiability:
    """Identifiability of a linear model from its (n_times, n_params) design.

    Args:
        design: the aggregated design Phi.
        names: one parameter name per column.
        powers: the monomial power of each column, to name the feature in warnings.
        values: the (n_paths, n_times) paths (or streamed paths holding powers up to twice
            the highest odd one), to check for moments that cancel (optional).
    """
    n_times, n_params = design.shape
    names = list(names)
    features = [f"mean x^{q}" for q in powers] if powers is not None else names
    warnings: list[str] = []
    if n_times < n_params:
        warnings.append(
            f"more parameters ({n_params}) than time points ({n_times}): at most {n_times} "
            "combinations of them can be determined"
        )
    svd = ScaledSVD.of(design)
    norms = torch.linalg.vector_norm(design, dim=0)
    rank = int(svd.rank)
    for b in (b for b in range(n_params) if norms[b] == 0):
        warnings.append(
            f"{names[b]}: its feature ({features[b]}) is zero at every observed time, so the "
            "observed x give it no support and it is not identified"
        )
    if rank < min(n_params, n_times):
        warnings.append(f"the design has rank {rank} < {n_params} parameters")
    cond = float(svd.condition_number) if n_times >= n_params else math.inf
    weakest = svd.vh[-1] / svd.norms
    weakest = weakest / torch.linalg.vector_norm(weakest)
    weakest = weakest * torch.sign(weakest[weakest.abs().argmax()])
    direction = {name: float(w) for name, w in zip(names, weakest, strict=True)}
    if n_params > 1 and math.isfinite(cond) and cond > CONDITION_WARNING:
        combo = " ".join(f"{w:+.3g} {n}" for n, w in direction.items() if abs(w) > 1e-3)
        warnings.append(
            f"scaled condition number {cond:.3g}: about {math.log10(cond):.0f} digits are lost, "
            f"and the combination {combo} is poorly determined"
        )
    scaled = design / svd.norms
    cosines = scaled.T @ scaled
    for a in range(n_params):
        for b in range(a + 1, n_params):
            if norms[a] > 0 and norms[b] > 0 and abs(float(cosines[a, b])) > COLLINEAR_COSINE:
                warnings.append(
                    f"{names[a]} and {names[b]} are nearly collinear (cosine "
                    f"{float(cosines[a, b]):.6f} between their columns): the data hardly tell "
                    "them apart"
                )
    if values is not None and powers is not None:
        warnings.extend(_cancellations(design, values, names, powers))
    return Identifiability(rank, n_params, cond, direction, warnings)


def _cancellations(
    design: Design, values: PathValues | StreamedPaths, names: list[str], powers: Sequence[int]
) -> list[str]:
    """Odd moments that vanish: mean x^q no larger than its own sampling noise.

    At each time, t_j = mean_i x_ij^q / (sd_i x_ij^q / sqrt(n)); for a column whose mean is
    truly zero (x symmetric about 0) t_j^2 averages 1 over the times, for a real signal it is
    large. Below ODD_MOMENT_T2 the column carries only noise.
    """
    out: list[str] = []
    n = values.n_paths if isinstance(values, StreamedPaths) else values.shape[0]
    if n < 3:
        return out
    for b, q in enumerate(powers):
        if q % 2 == 0:
            continue
        if isinstance(values, StreamedPaths):
            one = torch.ones(1, dtype=values.dtype, device=values.device)
            noise = values.term_variance(one, (q,)).sqrt() / math.sqrt(n)
        else:
            noise = (values**q).std(dim=0) / math.sqrt(n)
        usable = noise > 0
        if not bool(usable.any()):
            continue
        t2 = float((design[usable, b] / noise[usable]).square().mean())
        if t2 < ODD_MOMENT_T2:
            out.append(
                f"{names[b]}: mean x^{q} is indistinguishable from zero (its t-statistic "
                f"squared averages {t2:.2f} over the times; sampling noise alone gives 1), an "
                "odd moment that vanishes because x is symmetric about 0 (x0 = mu = 0, say); "
                f"{names[b]} is identified only through sampling noise"
            )
    return out


def network_identifiability(model: AbstractModel, inputs: torch.Tensor) -> Identifiability:
    """Rank and scaled condition number of the Jacobian of the predictions in the weights (the
    model's own ``jacobian``: one forward and one backward pass for pathfit's networks)."""
    jacobian = model.jacobian(inputs).detach()  # (n_times, n_params)
    n_params = jacobian.shape[1]
    svd = ScaledSVD.of(jacobian)
    rank, cond = int(svd.rank), float(svd.condition_number)
    line = _weight_line(rank, n_params, cond)
    warnings = [line] if rank < n_params else []
    return Identifiability(rank, n_params, cond, None, warnings, diagnosis=line)


def identify(model: AbstractModel, paths: Paths | StreamedPaths) -> Identifiability:
    """The identifiability report of a (fitted) model on the paths it was fitted to (streamed
    paths for a linear model only)."""
    if isinstance(model, AbstractLinearModel):
        inputs = model.prepare(paths)
        values = paths if isinstance(paths, StreamedPaths) else paths.values
        return linear_identifiability(inputs, model.names, powers=model.powers, values=values)
    if isinstance(paths, StreamedPaths):
        raise InputError("paths", "StreamedPaths", f"whole paths for {type(model).__name__}")
    inputs = model.prepare(paths)
    report = network_identifiability(model, inputs)
    if not isinstance(model, SeedNetwork):
        return report
    # One sentence for the seed network: the count in function space, then what the fitted
    # lambda_j does (the model's own note, which the fit also carries, so a reader meets it once).
    spread, level = model.weight_share(inputs)
    line = f"{_weight_line(report.rank, report.n_params, report.condition_number)}; "
    line += model.identification_note(inputs)
    return replace(
        report,
        warnings=[line],
        diagnosis=line,
        lam_spread=spread / level if level > 0 else math.inf,
    )
