"""The ``pathfit`` command: ``pathfit --help`` lists the commands."""

import signal

from pathfit.cli import _signals  # standard library only: loads before a Ctrl-C can matter

try:
    from pathfit.cli.main import app as app
except KeyboardInterrupt:  # Ctrl-C while the command line's modules load: one line, not a traceback
    _signals.stop(signal.SIGINT)

__all__ = ["app"]
