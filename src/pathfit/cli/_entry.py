"""The ``pathfit`` command as a program: signal handlers first, then the commands."""

from __future__ import annotations

import signal
from typing import Any

import typer

from pathfit.cli import _signals


class CommandLine(typer.Typer):
    """A Typer whose call, the program's entry point, stops on SIGINT or SIGTERM with one line
    and exit code 130 or 143 (:mod:`pathfit.cli._signals`).

    Only calling it installs the handlers: typer's test runner invokes the commands without
    calling it, and importing the command line changes no signal handling.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _signals.install()
        try:
            return super().__call__(*args, **kwargs)
        except KeyboardInterrupt:
            _signals.stop(signal.SIGINT)
        except _signals.Terminated:
            _signals.stop(signal.SIGTERM)
        except SystemExit:
            # typer turns a KeyboardInterrupt into a silent exit 130: say why in one line
            signum = _signals.received()
            if signum is not None:
                _signals.stop(signum)
            raise
