"""The methods ``pathfit run`` and ``pathfit fit`` know: one registration each.

A method is a name, the target kinds it applies to, its config section (``[methods.NAME]``)
and a function that builds its estimator from that section. Sections that tune an estimator
take their keys, types and defaults from the estimator's own signature (``estimator_section``),
so a hyperparameter is stated once, in the estimator, which also checks its bounds. Adding a
method is writing its estimator and adding one ``Method(...)`` to ``METHODS``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from pathfit.amortized import AmortizedEstimator
from pathfit.choices import TARGET_KINDS, TargetKind
from pathfit.estimators import GradientFit, LeastSquares
from pathfit.exceptions import InputError
from pathfit.models import AbstractLinearModel, ConstantLambda, PointwiseMLP, SeedNetwork

Estimator = LeastSquares | GradientFit | AmortizedEstimator


class Section(BaseModel):
    """A config section: unknown keys, NaN and infinities are errors; values are frozen.

    Types are strict: TOML has integers, floats, booleans and strings of its own, so a value
    written as another type is a mistake, not something to convert (``n_paths = true`` would
    be 1 path, ``guard = "yes"`` true). The one conversion kept is an integer where a float is
    expected (``horizon = 10``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


# Set from the run, not per method: the seed, the confidence level, the torch threads and the
# method's name.
_FROM_THE_RUN = ("model", "seed", "level", "name", "threads")


def estimator_section(
    name: str,
    estimator: type[Estimator],
    doc: str,
    omit: tuple[str, ...] = (),
    **fields: Any,
) -> type[Section]:
    """A config section whose keys are ``estimator``'s keyword hyperparameters, with their
    annotated types and defaults, less those in ``omit`` (which do not apply to the method);
    ``fields`` adds keys or overrides defaults (a value, or a ``(type, default)`` pair)."""
    hints = typing.get_type_hints(estimator.__init__)
    definitions: dict[str, Any] = {}
    for key, parameter in inspect.signature(estimator).parameters.items():
        if key in omit:
            continue
        if key not in _FROM_THE_RUN and parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            definitions[key] = (hints[key], parameter.default)
    for key, value in fields.items():
        definitions[key] = value if isinstance(value, tuple) else (definitions[key][0], value)
    return pydantic.create_model(name, __base__=Section, __doc__=doc, **definitions)


@dataclass(frozen=True)
class MethodContext:
    """What a method's estimator takes from the run rather than from its own section."""

    seed: int
    level: float
    linear_model: AbstractLinearModel  # the target's own model family
    n_paths: int
    threads: int | None = None  # torch intra-op threads of every fit; None: the estimators' policy


@dataclass(frozen=True)
class Method:
    """One method: its name, the targets it applies to, its section and its builder; whether
    its estimator fits streamed paths (needs only sums over the paths, never them whole)."""

    name: str
    applies_to: tuple[TargetKind, ...]
    section: type[Section]
    build: Callable[[Any, MethodContext], Estimator]
    streams: bool = False
    configured: Callable[[Any], bool] = lambda section: True
    """Whether its section lets it run: a method that needs a setting (a trained estimator's
    folder) runs by default only once it is set."""


def _run_settings(section: Section, context: MethodContext) -> dict[str, Any]:
    """The section's keys with the run's seed, level and threads: an estimator's keyword
    arguments."""
    return {
        **section.model_dump(),
        "seed": context.seed,
        "level": context.level,
        "threads": context.threads,
    }


def _least_squares(section: Section, context: MethodContext) -> Estimator:
    return LeastSquares(context.linear_model, **_run_settings(section, context))


class SeedSgdSection(Section):
    """The seed question's recipe: per-sample SGD at a fixed step, no guard."""

    lr: float = 0.01  # bounds: GradientFit checks them
    max_steps: int = 10_000


def _seed_sgd(section: SeedSgdSection, context: MethodContext) -> Estimator:
    return GradientFit(
        ConstantLambda(),
        mode="per_sample",
        optimizer="sgd",
        guard=False,
        name="seed_sgd",
        **_run_settings(section, context),
    )


def _gradient(section: Section, context: MethodContext) -> Estimator:
    settings = _run_settings(section, context)
    return GradientFit(context.linear_model, name="gradient", **settings)


def _seed_network(section: Section, context: MethodContext) -> Estimator:
    settings = _run_settings(section, context)
    model = SeedNetwork(context.n_paths, settings.pop("hidden"), seed=context.seed)
    return GradientFit(model, name="seed_network", **settings)


def _pointwise_mlp(section: Section, context: MethodContext) -> Estimator:
    settings = _run_settings(section, context)
    model = PointwiseMLP(settings.pop("hidden"), seed=context.seed)
    return GradientFit(model, name="pointwise_mlp", **settings)


class AmortizedSection(Section):
    """A trained amortized estimator: the folder ``pathfit amortize train`` saved it in. The
    method runs when this is set; its prior must be over the target's model."""

    path: str | None = None


def _amortized(section: AmortizedSection, context: MethodContext) -> Estimator:
    if section.path is None:
        raise InputError(
            "path", "nothing", "the folder of an estimator that `pathfit amortize train` saved"
        )
    try:
        estimator = AmortizedEstimator.load(section.path)
    except InputError as err:
        raise InputError(
            "path", f"{section.path} ({err.field}: {err.value})", err.expected
        ) from None
    model, wanted = estimator.model, context.linear_model
    if type(model) is not type(wanted) or model.powers != wanted.powers:
        raise InputError(
            "path",
            f"{section.path} (an estimator of {type(model).__name__}{model.powers})",
            f"an estimator trained for the target's model, {type(wanted).__name__}{wanted.powers}",
        )
    estimator.level = context.level
    estimator.seed = context.seed
    estimator.threads = context.threads
    return estimator


_CONSTANT: tuple[TargetKind, ...] = ("constant",)
_LINEAR_ONLY = ("bias_correction",)
"""GradientFit's keys that only a model linear in its parameters uses."""

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method(
            "least_squares",
            TARGET_KINDS,
            estimator_section(
                "LeastSquaresSection", LeastSquares, "Closed form on the aggregated design."
            ),
            _least_squares,
            streams=True,
        ),
        Method("seed_sgd", _CONSTANT, SeedSgdSection, _seed_sgd),
        Method(
            "gradient",
            TARGET_KINDS,
            estimator_section(
                "GradientSection",
                GradientFit,
                "The target's own model (constant or polynomial), trained with a guard.",
            ),
            _gradient,
        ),
        Method(
            "seed_network",
            _CONSTANT,
            estimator_section(
                "SeedNetworkSection",
                GradientFit,
                "The seed's network: n input nodes, tanh hidden layers of these widths, one "
                "output.",
                omit=_LINEAR_ONLY,
                max_steps=100,
                hidden=(list[int], Field(default_factory=list)),
            ),
            _seed_network,
        ),
        Method(
            "pointwise_mlp",
            ("constant", "poly_lambda"),
            estimator_section(
                "PointwiseMlpSection",
                GradientFit,
                "lambda_theta(x) applied to every path value: tanh hidden layers of these widths.",
                omit=_LINEAR_ONLY,
                max_steps=100,
                hidden=(list[int], Field(default_factory=lambda: [8])),
            ),
            _pointwise_mlp,
        ),
        Method(
            "amortized",
            ("constant", "poly_lambda"),
            AmortizedSection,
            _amortized,
            configured=lambda section: section.path is not None,
        ),
    )
}

MethodName = Literal[tuple(METHODS)]  # type: ignore[valid-type]
"""The name of a registered method."""


def applicable(target: TargetKind, sections: Any = None) -> tuple[str, ...]:
    """The methods that apply to a target kind, in registration order; with the config's
    ``methods`` section, only those it configures (the amortized method needs its path)."""
    return tuple(
        name
        for name, method in METHODS.items()
        if target in method.applies_to
        and (sections is None or method.configured(getattr(sections, name)))
    )
