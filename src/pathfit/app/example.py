"""The complete, commented example config (the defaults), read without importing the rest."""

from __future__ import annotations

from importlib import resources


def example_config() -> str:
    """``pathfit config --example``: every key with its default and what it means."""
    return resources.files("pathfit.app").joinpath("example.toml").read_text(encoding="utf-8")
