"""The configuration of ``pathfit run`` and ``pathfit fit``: TOML files validated with pydantic.

Every section and key is optional; what is left out takes the seed experiment's value. An
unknown key is an error that names it and suggests the closest valid one. pydantic checks the
shape and the types; the bounds of a value are checked by the object it configures (a process,
a target specification, an estimator), which ``check_config`` builds, so that each bound is
stated once and a config that loads is never refused later for its content.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, Field, field_validator

from pathfit._random import RandomStream
from pathfit._validation import check_device
from pathfit.app.build import check_config
from pathfit.app.methods import METHODS, MethodName, Section
from pathfit.choices import DTypeName, ProcessKind, TargetKind
from pathfit.exceptions import InputError


class ProcessConfig(Section):
    """The diffusion: ``abm`` dX = mu dt + sigma dW, ``gbm`` dX = mu X dt + sigma X dW, ``ou``
    dX = theta (mu - X) dt + sigma dW."""

    kind: ProcessKind = "abm"
    x0: float = 0.0
    mu: float = 0.5
    sigma: float = 1.0
    theta: float = Field(1.0, description="mean-reversion rate, OU only")


class SamplingConfig(Section):
    n_paths: int = Field(100, ge=1)
    n_times: int = Field(1000, ge=1)
    horizon: float = Field(10.0, gt=0, description="observation times are uniform on (0, horizon]")
    rng: RandomStream = Field(
        "philox",
        description="the paths' random stream: philox (CPU and GPU draw the same normals) or "
        "legacy (pathfit 0.2.0's CPU stream, to reproduce earlier runs)",
    )


class TargetConfig(Section):
    """``constant``: k_j = lam * mean_i x_ij^2; ``poly_lambda``: lambda(x) = sum_d coef[d] x^d;
    ``poly_k``: k_j = mean_i sum_p coef[p] x_ij^p."""

    kind: TargetKind = "constant"
    lam: float = 0.25
    coef: list[float] = Field(default_factory=list)
    noise_std: float = Field(0.0, ge=0)


MethodsConfig = pydantic.create_model(
    "MethodsConfig",
    __base__=Section,
    __doc__="Which methods run, at what confidence level, and each one's own section.",
    run=(
        list[MethodName] | None,
        Field(None, description="methods to run; by default every one that applies to the target"),
    ),
    level=(float, 0.95),
    **{
        name: (method.section, Field(default_factory=method.section))
        for name, method in METHODS.items()
    },
)


class LambdaXConfig(Section):
    """An extra experiment with a lambda that depends on x: lambda(x) = sum_d coef[d] x^d,
    recovered by least squares with the degree chosen on held-out times, and by pointwise MLPs
    with the width chosen the same way and early stopping."""

    coef: list[float] = Field(default_factory=list, description="empty: no lambda(x) experiment")
    noise_std: float | None = Field(None, ge=0, description="default: target.noise_std")
    max_degree: int = Field(4, ge=0)
    widths: list[int] = Field(default_factory=lambda: [4, 8], min_length=1)
    holdout: float = Field(0.2, gt=0, lt=1)
    patience: int = Field(3, ge=1)
    mlp_max_steps: int = Field(100, ge=1)

    @field_validator("widths")
    @classmethod
    def _distinct(cls, widths: list[int]) -> list[int]:
        if len(set(widths)) != len(widths):
            raise InputError("widths", repr(widths), "distinct widths")
        return widths


class RunConfig(Section):
    """The whole experiment of ``pathfit run``."""

    # The library takes seeds in [0, 2^64 - 1] (torch's unsigned 64-bit seeds); a run also
    # derives seed + 1 (lambda(x) study noise), so the config stops at 2^63, well inside.
    seed: int = Field(0, ge=0, lt=2**63)
    dtype: DTypeName = "float64"
    device: str = "cpu"
    # torch intra-op threads of every fit; None: chosen from each fit's size (one when small)
    threads: int | None = Field(None, ge=1)
    process: ProcessConfig = Field(default_factory=ProcessConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    methods: MethodsConfig = Field(default_factory=MethodsConfig)  # type: ignore[valid-type]
    lambda_x: LambdaXConfig = Field(default_factory=LambdaXConfig)

    @field_validator("device")
    @classmethod
    def _available(cls, device: str) -> str:
        check_device("device", device)
        return device


def parse_config(data: dict[str, Any], source: str = "config") -> RunConfig:
    """Validate a config dict, then check every value the run would check before simulating;
    the first problem becomes an InputError naming ``source`` and the key."""
    try:
        config = RunConfig.model_validate(data)
    except pydantic.ValidationError as err:
        raise input_error(err, source) from None
    check_config(config, source)
    return config


def load_config(path: str | Path) -> RunConfig:
    """Read, validate and check a TOML config file."""
    return parse_config(read_toml(path), source=str(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """The document in the TOML file given as --config; an InputError says why there is
    none."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("--config", str(path), "an existing TOML file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError("--config", f"{path} ({err})", "a readable UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError("--config", f"{path}: {err}", "valid TOML") from None


def input_error(
    err: pydantic.ValidationError, source: str, model: type[BaseModel] | None = None
) -> InputError:
    """The first error of a validation as one InputError naming ``source`` and the key;
    ``model`` (default: RunConfig) lists the keys an unknown one is compared with."""
    first = err.errors()[0]
    # a key with a newline or other unprintable character is shown quoted: one line always
    loc = [str(part) if str(part).isprintable() else repr(str(part)) for part in first["loc"]]
    field = ".".join(loc)
    if first["type"] == "extra_forbidden":
        known = known_keys(loc[:-1], model or RunConfig)
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return InputError(
            f"{source}: {field}", "an unknown key", f"one of {', '.join(known)}{hint}"
        )
    if first["type"] == "value_error" and isinstance(first.get("ctx", {}).get("error"), InputError):
        inner: InputError = first["ctx"]["error"]
        return InputError(f"{source}: {field}", inner.value, inner.expected)
    found = first.get("input")
    return InputError(
        f"{source}: {field}",
        _toml_repr(found),
        _expected(first["type"], field, found, first["msg"]),
    )


# What a strict type error expects, said in TOML's words; the value found says which type it was.
_EXPECTED_TYPES = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list [...]",
}


def _expected(kind: str, field: str, found: object, message: str) -> str:
    """What pydantic's error of type ``kind`` expected, as a phrase after 'expected'."""
    if kind in _EXPECTED_TYPES:
        expected = _EXPECTED_TYPES[kind]
        if kind in ("int_type", "float_type", "bool_type"):
            if isinstance(found, str):
                return f"{expected}, written without quotes"
            if isinstance(found, bool) and kind != "bool_type":
                return f"{expected}, not a boolean"
            if isinstance(found, float) and kind == "int_type":
                return f"{expected}, without a decimal point"
        return expected
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"a table [{field}]"
    message = message[0].lower() + message[1:]
    message = message.removeprefix("input should be ")
    if kind == "literal_error":
        return f"one of {message}"
    if kind.startswith(("greater_than", "less_than")):
        return f"a value {message}"
    return message


def _toml_repr(value: object) -> str:
    """A value as the user wrote it in TOML where it differs from Python (true, false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def known_keys(loc: list[str], model: type[BaseModel]) -> list[str]:
    for part in loc:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
