"""Ctrl-C (SIGINT) and SIGTERM stop a command the same way: cleanly, with one line on stderr.

Both signals unwind the main thread as an exception, so every ``except BaseException`` and
``finally`` on the way runs: the atomic writers remove their temporary files and put back what
they had replaced (:mod:`pathfit.atomic`). The command then says which signal stopped it on one
line and exits 130 (SIGINT) or 143 (SIGTERM), 128 plus the signal's number as shells report it.

A second signal while the first unwinds is ignored, so that it cannot interrupt the cleanup
(SIGKILL still ends a process whose cleanup hangs).

Standard library only: the entry point imports this module before anything that takes time
to load, so that a Ctrl-C at start-up is one line too. Only the ``pathfit`` command installs
the handlers (:func:`install`, called by the entry point); importing pathfit changes nothing.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import NoReturn

_NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}

_received: int | None = None  # the first signal, once one has arrived


class Terminated(BaseException):
    """SIGTERM arrived. Raised in the main thread, like KeyboardInterrupt for SIGINT, so that
    cleanup runs; not an Exception, so that ``except Exception`` does not swallow it."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is not None:
        return  # already stopping: let the cleanup finish
    _received = signum
    if signum == signal.SIGTERM:
        raise Terminated
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGINT and SIGTERM as described above (main thread only, as Python requires)."""
    for signum in _NAMES:
        signal.signal(signum, _on_signal)


def received() -> int | None:
    """The signal that is stopping the command, or None when none has arrived."""
    return _received


def stop(signum: int) -> NoReturn:
    """One line on stderr, then exit with 128 + the signal's number."""
    sys.stderr.write(f"error: stopped by {_NAMES.get(signum, str(signum))}\n")
    sys.stderr.flush()
    raise SystemExit(128 + signum)
