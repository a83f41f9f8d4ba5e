"""The ``pathfit`` command: ``pathfit --help`` lists the commands."""

from pathfit.cli.main import app as app

__all__ = ["app"]
