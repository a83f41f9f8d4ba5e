"""The exceptions and warnings pathfit raises.

Every error pathfit raises on purpose derives from :class:`PathfitError`. Bad input is an
:class:`InputError`, which is also a :class:`ValueError`, and its message names the field and the
value found. Only the command line turns these into exit codes.
"""

from __future__ import annotations


class PathfitError(Exception):
    """Base class of every error pathfit raises on purpose."""


class InputError(PathfitError, ValueError):
    """An argument, a file or a config value is not what pathfit expects.

    Attributes:
        field: the name of the offending field, as the user wrote it.
        value: a short description of the value found.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}: expected {expected}, found {value}")


class ConvergenceWarning(UserWarning):
    """A fit stopped without meeting its tolerance (max_steps) or diverged."""
