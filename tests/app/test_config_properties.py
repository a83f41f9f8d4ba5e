"""Property tests of the config: any document is a valid config or one InputError, never another
exception.

Two strategies, both derandomized (the same examples on every run):

- random documents (200 examples): nested dicts of known and unknown section names and keys,
  with ints (huge ones too), floats (nan, inf, -0.0, subnormal), bools, strings, lists and
  nested tables as values;
- the example config (``pathfit config --example``) with one value replaced by a random value
  (300 examples), which reaches the checks behind each key.
"""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pathfit as pf
from pathfit.app.config import RunConfig, parse_config
from pathfit.app.example import example_config

EXAMPLE: dict[str, Any] = tomllib.loads(example_config())

SECTION_NAMES = [
    "process",
    "sampling",
    "target",
    "methods",
    "least_squares",
    "seed_sgd",
    "gradient",
    "seed_network",
    "pointwise_mlp",
    "lambda_x",
]


def _keys(doc: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for key, value in doc.items():
        keys.add(key)
        if isinstance(value, dict):
            keys |= _keys(value)
    return keys


KEYS = st.sampled_from(sorted(_keys(EXAMPLE) | set(SECTION_NAMES) | {"run"})) | st.text(max_size=8)

SCALARS = (
    st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=10)
    | st.sampled_from(
        ["abm", "gbm", "ou", "constant", "poly_k", "float32", "cpu", "cuda", "auto", "full"]
    )
)

VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)

DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=6)


def _parse(doc: dict[str, Any]) -> None:
    try:
        config = parse_config(doc, source="prop.toml")
    except pf.InputError as err:
        message = str(err)
        assert message
        assert "\n" not in message
        assert "prop.toml" in message
    else:
        assert isinstance(config, RunConfig)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(DOCUMENTS)
def test_random_documents_are_a_config_or_an_input_error(doc: dict[str, Any]) -> None:
    _parse(doc)


def _leaf_paths(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            out += _leaf_paths(value, (*prefix, key))
        else:
            out.append((*prefix, key))
    return out


LEAVES = _leaf_paths(EXAMPLE)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.sampled_from(LEAVES), VALUES)
def test_example_with_one_value_replaced(leaf: tuple[str, ...], value: object) -> None:
    doc = copy.deepcopy(EXAMPLE)
    table = doc
    for key in leaf[:-1]:
        table = table[key]
    table[leaf[-1]] = value
    _parse(doc)


def test_the_example_itself_is_valid() -> None:
    assert isinstance(parse_config(copy.deepcopy(EXAMPLE)), RunConfig)


def test_an_unprintable_key_is_named_on_one_line() -> None:
    """Found by the random documents: a TOML key "\\n" made a two-line message."""
    with pytest.raises(pf.InputError) as info:
        parse_config({"\n": []}, source="prop.toml")
    assert "\n" not in str(info.value)
    assert "'\\n'" in str(info.value)
