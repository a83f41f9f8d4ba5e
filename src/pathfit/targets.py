"""What the targets k_j are made of, and the targets themselves.

A specification gives the contribution g(x) of one path value to its time's aggregate, and
k_j = (1/n) sum_i g(x_ij):

- ``ConstantLam(0.25)``: g(x) = 0.25 x^2 (the seed question);
- ``PolynomialLam([c0, c1, ...])``: g(x) = (c0 + c1 x + ...) x^2;
- ``CallableLam(fn)``: g(x) = fn(x) x^2 for any torch callable;
- ``KPolynomial([c0, c1, ...])``: g(x) = c0 + c1 x + c2 x^2 + ...
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from scipy import signal

from pathfit import _random
from pathfit._threads import fixed_mean
from pathfit._types import PathValues, TargetValues, Times
from pathfit._validation import check_choice, check_real, check_tensor
from pathfit.choices import OBSERVATION_NOISES, ObservationNoise
from pathfit.design import StreamedPaths, power_design
from pathfit.exceptions import InputError
from pathfit.paths import Paths
from pathfit.processes import AbstractProcess


class AbstractSpec(abc.ABC):
    """A true specification of the targets."""

    @abc.abstractmethod
    def aggregate(self, values: PathValues) -> TargetValues:
        """k_j = (1/n) sum_i g(x_ij) for (n_paths, n_times) values."""


class AbstractLinearSpec(AbstractSpec):
    """A specification linear in its coefficients over monomial features x^q."""

    coef: tuple[float, ...]

    @property
    @abc.abstractmethod
    def powers(self) -> tuple[int, ...]:
        """The powers q of the features, one per coefficient."""

    @property
    def params(self) -> torch.Tensor:
        """(n_params,) float64 tensor of the true coefficients."""
        return torch.tensor(self.coef, dtype=torch.float64)

    def aggregate(self, values: PathValues) -> TargetValues:
        coef = torch.tensor(self.coef, dtype=values.dtype, device=values.device)
        return power_design(values, self.powers) @ coef

    @abc.abstractmethod
    def to_truth(self) -> dict[str, float | list[float]]:
        """The specification as a truth record ({"lam": ...}, {"lam_coef": [...]} or
        {"k_coef": [...]}), the form ``spec_from_truth`` reads back."""


def _check_coef(field_name: str, coef: Sequence[float]) -> tuple[float, ...]:
    if isinstance(coef, str | bytes) or not isinstance(coef, Sequence) or len(coef) == 0:
        raise InputError(field_name, repr(coef), "a non-empty list of numbers")
    return tuple(check_real(f"{field_name}[{b}]", c) for b, c in enumerate(coef))


@dataclass(frozen=True)
class ConstantLam(AbstractLinearSpec):
    """lambda(x) = value: k_j = value * (1/n) sum_i x_ij^2."""

    value: float = 0.25

    def __post_init__(self) -> None:
        check_real("lam", self.value)

    @property
    def coef(self) -> tuple[float, ...]:  # type: ignore[override]
        return (float(self.value),)

    @property
    def powers(self) -> tuple[int, ...]:
        return (2,)

    def lam(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, self.value)

    def to_truth(self) -> dict[str, float | list[float]]:
        return {"lam": float(self.value)}


@dataclass(frozen=True)
class PolynomialLam(AbstractLinearSpec):
    """lambda(x) = sum_d coef[d] x^d: k_j = (1/n) sum_i lambda(x_ij) x_ij^2."""

    coef: tuple[float, ...] = field(default=(0.25,))

    def __post_init__(self) -> None:
        object.__setattr__(self, "coef", _check_coef("lam_coef", self.coef))

    @property
    def powers(self) -> tuple[int, ...]:
        return tuple(d + 2 for d in range(len(self.coef)))

    def lam(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        for c in reversed(self.coef):
            out = out * x + c
        return out

    def to_truth(self) -> dict[str, float | list[float]]:
        return {"lam_coef": list(self.coef)}


@dataclass(frozen=True)
class KPolynomial(AbstractLinearSpec):
    """k_j = (1/n) sum_i sum_p coef[p] x_ij^p."""

    coef: tuple[float, ...] = field(default=(0.0, 0.0, 0.25))

    def __post_init__(self) -> None:
        object.__setattr__(self, "coef", _check_coef("k_coef", self.coef))

    @property
    def powers(self) -> tuple[int, ...]:
        return tuple(range(len(self.coef)))

    def to_truth(self) -> dict[str, float | list[float]]:
        return {"k_coef": list(self.coef)}


_TRUTH_KEYS = {"lam": ConstantLam, "lam_coef": PolynomialLam, "k_coef": KPolynomial}


def spec_from_truth(truth: object, source: str = "truth") -> AbstractLinearSpec | None:
    """The specification a truth record names (see ``AbstractLinearSpec.to_truth``), or None
    when the record is empty or absent; other keys are ignored. ``source`` prefixes the field
    of an error (the truth file's name)."""
    if truth is None or truth == {}:
        return None
    if not isinstance(truth, dict):
        raise InputError(source, type(truth).__name__, "a JSON object of the true parameters")
    found = [key for key in _TRUTH_KEYS if key in truth]
    if len(found) != 1:
        raise InputError(
            source,
            "keys " + (", ".join(map(repr, found)) if found else repr(sorted(truth))),
            "exactly one of 'lam', 'lam_coef', 'k_coef'",
        )
    key = found[0]
    value = truth[key]
    try:
        return _TRUTH_KEYS[key](value)  # each specification checks its own value
    except InputError as err:
        index = err.field[err.field.find("[") :] if "[" in err.field else ""  # "coef[1]": [1]
        raise InputError(f"{source}: {key}{index}", err.value, err.expected) from None


@dataclass(frozen=True)
class CallableLam(AbstractSpec):
    """lambda(x) given by any torch callable, applied elementwise: k_j = mean_i fn(x_ij) x_ij^2."""

    fn: Callable[[torch.Tensor], torch.Tensor]

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise InputError("lam", repr(self.fn), "a callable lambda(x)")

    def lam(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fn(x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            found = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise InputError("lam", f"fn returning {found}", f"a tensor of shape {tuple(x.shape)}")
        return out

    def aggregate(self, values: PathValues) -> TargetValues:
        return fixed_mean(self.lam(values) * values.square(), dim=0)


@dataclass(frozen=True)
class Targets:
    """Aggregate observations k_j at the paths' observation times.

    Attributes:
        values: (n_times,) tensor of k_j.
        times: (n_times,) tensor of the times they belong to.
        noise_std: the standard deviation of the additive observation noise when it is known
            (0 for exact targets), else None.

    The values and times are checked like those of ``Paths`` (float16 and bfloat16 upcast to
    float32, integers to float64, complex refused, finite, detached) and not copied: every fit
    re-validates them when it starts, so targets changed in place after construction (set to
    inf, say) are an ``InputError`` at fit time.
    """

    values: TargetValues
    times: Times
    noise_std: float | None = None

    def __post_init__(self) -> None:
        values = check_tensor("targets", self.values, ndim=1)
        times = check_tensor("targets.times", self.times, ndim=1)
        if times.shape != values.shape:
            raise InputError(
                "targets.times",
                f"{times.shape[0]} times for {values.shape[0]} targets",
                "one time per target",
            )
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "times", times.to(dtype=values.dtype, device=values.device))

    @property
    def n_times(self) -> int:
        return self.values.shape[0]


def make_targets(
    paths: Paths | StreamedPaths,
    spec: AbstractSpec,
    *,
    noise_std: float = 0.0,
    noise: ObservationNoise = "iid",
    phi: float = 0.0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> Targets:
    """k_j = (1/n) sum_i g(x_ij), plus optional Gaussian noise of standard deviation noise_std.

    Args:
        paths: the paths the targets aggregate; streamed paths (their power sums) serve a
            specification linear in its coefficients.
        spec: what each path value contributes (see the module docstring).
        noise_std: standard deviation of the noise added to each k_j (under
            "heteroscedastic", its mean over the times).
        noise: "iid", independent N(0, noise_std^2) on each k_j; "ar1", a stationary AR(1)
            along the (sorted) times, e_j = phi e_(j-1) + sqrt(1 - phi^2) noise_std eta_j, so
            each e_j still has sd noise_std; "heteroscedastic", independent with sd_j =
            noise_std |k_j| / mean_j |k_j| (the sd proportional to |k_j|).
        phi: the AR(1) coefficient, in (-1, 1); only with noise = "ar1".
        seed: seed of the noise (a stream of its own: the same seed as the simulation is fine).
        generator: alternatively, a torch generator from which the seed is drawn.
    """
    if not isinstance(spec, AbstractSpec):
        raise InputError("spec", type(spec).__name__, "a target specification from pathfit.targets")
    noise_std = check_real("noise_std", noise_std, nonnegative=True)
    check_choice("noise", noise, OBSERVATION_NOISES)
    phi = check_real("phi", phi)
    if noise == "ar1" and not -1 < phi < 1:
        raise InputError("phi", phi, "an AR(1) coefficient in (-1, 1)")
    if noise != "ar1" and phi != 0:
        raise InputError(
            "phi", phi, f"0: phi is the AR(1) coefficient of noise = 'ar1', not {noise!r}"
        )
    if isinstance(paths, StreamedPaths):
        if not isinstance(spec, AbstractLinearSpec):
            raise InputError(
                "spec",
                type(spec).__name__,
                "a specification linear in its coefficients for streamed paths (their power "
                "sums are all that is kept)",
            )
        values = paths.design(spec.powers) @ spec.params.to(paths.sums)
    else:
        values = spec.aggregate(paths.values)
    if noise_std > 0:
        seed = _random.resolve_seed(seed, generator)
        values = values + noise_std * observation_noise(values, noise, phi, seed)
    known = noise_std if noise == "iid" or noise_std == 0 else None
    return Targets(values=values, times=paths.times, noise_std=known)


def observation_noise(
    values: TargetValues, noise: ObservationNoise, phi: float, seed: int
) -> torch.Tensor:
    """The unit-sd noise ``make_targets`` adds (times its ``noise_std``) to ``values`` with
    ``seed``: standard normals from the seed's noise stream, shaped by the kind."""
    stream = _random.stream(seed, _random.NOISE, device=values.device)
    eta = torch.randn(values.shape, generator=stream, dtype=values.dtype, device=values.device)
    if noise == "ar1":
        # a stationary start, then the recursion (a linear filter, run in float64 by SciPy)
        innovations = eta.double().cpu().numpy() * math.sqrt(1 - phi * phi)
        innovations[0] = float(eta[0])
        filtered = signal.lfilter([1.0], [1.0, -phi], innovations)
        return torch.from_numpy(filtered).to(eta)
    if noise == "heteroscedastic":
        size = values.abs()
        mean = fixed_mean(size)
        return eta * (size / mean if float(mean) > 0 else torch.ones_like(size))
    return eta


def population_targets(process: AbstractProcess, spec: AbstractLinearSpec, times: Times) -> Targets:
    """k_j = sum_b c_b E[x(t_j)^q_b]: the exact expectation of the process, as when k is a
    population quantity measured elsewhere (or from far more paths)."""
    coef = torch.tensor(spec.coef, dtype=times.dtype, device=times.device)
    moments = torch.stack([process.raw_moment(q, times) for q in spec.powers], dim=-1)
    return Targets(values=moments @ coef, times=times, noise_std=0.0)
