"""What the commands share: option definitions, the error boundary, consoles, progress and the
output folder. Light on purpose: importing it imports neither torch nor rich."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from pathfit.choices import MissingPolicy
from pathfit.exceptions import InputError, PathfitError
from pathfit.outputs import OutputFolder, open_output

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from pathfit.app.config import RunConfig

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", metavar="FILE", help="TOML config; defaults: the seed experiment"
    ),
]
# a string, not a Path: Path("") would silently be the working folder
OutputOption = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", metavar="DIR", help="folder for the results (default: runs/...)"
    ),
]
OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="replace pathfit's results already in --output (and only those)"
    ),
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", metavar="N", help="overrides the config's seed")
]


def threads_count(text: str) -> int:
    """The value of --threads: a whole number of threads, at least one."""
    try:
        threads = int(text)
    except ValueError:
        raise typer.BadParameter(f"expected a whole number of threads, found {text!r}") from None
    if threads < 1:
        raise typer.BadParameter(f"expected at least 1 thread, found {threads}")
    return threads


def threads_option(description: str) -> Any:
    """A --threads option (metavar N) described by ``description``, parsed by ``threads_count``."""
    return typer.Option("--threads", metavar="N", parser=threads_count, help=description)


ThreadsOption = Annotated[
    int | None,
    threads_option(
        "CPU threads of the whole command: torch's, and those that simulate (default: the "
        "config's threads, else one per core for simulating and a count chosen from each "
        "fit's size)"
    ),
]
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def memory_size(text: str) -> int:
    """The value of --max-memory: bytes from a size such as 8G, 512MiB, 1.5g or 1000000
    (binary units: 1K = 1024 bytes)."""
    match = _SIZE.match(text)
    if match is None:
        raise typer.BadParameter(
            f"expected a size such as 8G, 512M or 1000000 (bytes), found {text!r}"
        )
    number, unit = match.groups()
    size = float(number) * 1024 ** " kmgt".index(unit.lower() or " ")
    if not 1 <= size < 2**63:
        raise typer.BadParameter(f"expected a size from 1 byte to 8 EiB, found {text!r}")
    return int(size)


MaxMemoryOption = Annotated[
    int | None,
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        parser=memory_size,
        help="refuse, before starting, a job whose estimated peak memory exceeds SIZE (8G, "
        "512M; default: 80% of the memory available)",
    ),
]
MissingOption = Annotated[
    MissingPolicy,
    typer.Option(help="stop at a missing value, or omit the times that have one"),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")]

F = TypeVar("F", bound=Callable[..., Any])


DEBUG_VARIABLE = "PATHFIT_DEBUG"
"""Set to 1 in the environment, it does what ``pathfit --debug`` does."""


class _Debug:
    on = False  # set by ``pathfit --debug``


def set_debug(on: bool) -> None:
    _Debug.on = on


def debugging() -> bool:
    """Whether errors show their traceback: ``pathfit --debug`` or PATHFIT_DEBUG=1."""
    return _Debug.on or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def explain_errors(command: F) -> F:
    """Turn a PathfitError into one line on stderr and exit code 2; an OSError that escaped
    the checks (a disk that filled up, a folder removed meanwhile) and any other error (a bug)
    into one line and exit code 1. With ``--debug`` the traceback is printed above the line."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, _ClickException):
            raise
        except PathfitError as err:
            _explain(f"error: {err}")
            raise typer.Exit(2) from None
        except OSError as err:
            _explain(f"error: {err}")
            raise typer.Exit(1) from None
        except Exception as err:
            text = " ".join(str(err).split()) or "no message"
            _explain(
                f"error: internal error, {type(err).__name__}: {text} (pathfit --debug shows "
                "where; please report it)"
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _explain(line: str) -> None:
    if debugging():
        import traceback

        traceback.print_exc()
    typer.echo(line, err=True)


# The usage error typer raises for an unknown option or a value outside a closed choice (click's,
# vendored by recent typer), found through typer's public BadParameter so either kind works.
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class _OneLineUsageError(_UsageError):  # type: ignore[misc, valid-type]
    def show(self, file: Any = None) -> None:
        typer.echo(f"error: {self.format_message()}", err=True)  # type: ignore[attr-defined]


@contextlib.contextmanager
def _usage_errors_on_one_line() -> Iterator[None]:
    try:
        yield
    except _UsageError as err:
        # help shown for a bare command is raised as a usage error too: leave it as it is
        if isinstance(err, _OneLineUsageError) or type(err).__name__ == "NoArgsIsHelpError":
            raise
        raise _OneLineUsageError(err.format_message(), ctx=err.ctx) from None  # type: ignore[attr-defined]


class OneLineErrors(TyperGroup):
    """The command group: a usage error (an unknown option, a value outside a closed choice, a
    missing argument) is one line on stderr and exit code 2, like pathfit's own errors."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _usage_errors_on_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors_on_one_line():
            return super().invoke(ctx)


def console() -> Console:
    """The console for results on stdout: tables at the terminal's width (80 columns when
    piped), messages never hard-wrapped."""
    from rich.console import Console

    return Console(soft_wrap=True)


def say(out: Console, text: str, style: str | None = None) -> None:
    """One message, as written (no markup, no highlighting, no wrapping)."""
    out.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def progress(first: str, total: int, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A progress bar on a terminal (none with --quiet or when stdout is not a terminal);
    yields step(description), which completes the current step and starts the next."""
    if quiet or not os.isatty(1):
        yield lambda description: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )
    with bar:
        task = bar.add_task(first, total=total)
        yield lambda description: bar.update(task, advance=1, description=description)


@contextlib.contextmanager
def chunk_progress(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar of a study's chunks with their rate and the time left (none with --quiet
    or when stdout is not a terminal); yields update(done, total)."""
    if quiet or not os.isatty(1):
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:.2f} chunks/s")

    bar = Progress(
        TextColumn("chunks"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        transient=True,
    )
    with bar:
        task = bar.add_task("chunks", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def load(config: Path | None, seed: int | None, threads: int | None = None) -> RunConfig:
    """The checked config (the defaults without a file), with --seed and --threads applied."""
    from pathfit.app.config import RunConfig, load_config

    cfg = load_config(config) if config is not None else RunConfig()
    return with_overrides(cfg, seed, threads)


C = TypeVar("C", bound="BaseModel")


def with_overrides(cfg: C, seed: int | None, threads: int | None) -> C:
    """A config (any with ``seed`` and ``threads``) with --seed and --threads applied."""
    if seed is not None:
        if not 0 <= seed < 2**63:
            raise InputError("--seed", seed, "an integer in [0, 2^63)")
        cfg = cfg.model_copy(update={"seed": seed})
    if threads is not None:
        if threads < 1:
            raise InputError("--threads", threads, "at least 1 thread")
        cfg = cfg.model_copy(update={"threads": threads})
    return cfg


@contextlib.contextmanager
def command_threads(threads: int | None) -> Iterator[None]:
    """Run the command on ``threads`` torch threads (None: as it is), which also bounds the
    threads that simulate; the caller's count comes back afterwards."""
    if threads is None:
        yield
        return
    from pathfit._threads import torch_threads  # imports torch: only when a command runs

    with torch_threads(threads):
        yield


@contextlib.contextmanager
def output_folder(
    output: str | None, seed: int, kind: str, overwrite: bool = False
) -> Iterator[OutputFolder]:
    """The output folder, opened before any work (a bad --output costs nothing): a new
    ``runs/<time>-<kind>-seed<N>`` folder without --output. The command writes into its staging
    folder and commits; when the command fails, what it staged is removed."""
    if output is not None and not output.strip():
        raise InputError("--output", repr(output), "a folder name")
    if output is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = open_output(None, default=Path("runs") / f"{stamp}-{kind}-seed{seed}")
    else:
        out = open_output(Path(output), overwrite=overwrite)
    try:
        yield out
    except BaseException:
        out.discard()
        raise
