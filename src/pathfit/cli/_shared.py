"""What the commands share: option definitions, the error boundary, consoles, progress and the
output folder. Light on purpose: importing it imports neither torch nor rich."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from pathfit.exceptions import InputError, PathfitError

if TYPE_CHECKING:
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
SeedOption = Annotated[
    int | None, typer.Option("--seed", metavar="N", help="overrides the config's seed")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")]

F = TypeVar("F", bound=Callable[..., Any])


def explain_errors(command: F) -> F:
    """Turn a PathfitError into one line on stderr and exit code 2."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PathfitError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


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


def load(config: Path | None, seed: int | None) -> RunConfig:
    """The checked config (the defaults without a file), with --seed applied."""
    from pathfit.app.config import RunConfig, load_config

    cfg = load_config(config) if config is not None else RunConfig()
    if seed is not None:
        if seed < 0:
            raise InputError("--seed", seed, "a non-negative integer")
        cfg = cfg.model_copy(update={"seed": seed})
    return cfg


def output_folder(output: str | None, seed: int, kind: str) -> Path:
    """Where results go; checked before any work, so that a bad --output costs nothing."""
    if output is not None and not output.strip():
        raise InputError("--output", repr(output), "a folder name")
    folder = Path(output) if output is not None else _new_run_folder(seed, kind)
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise InputError("--output", str(folder), f"a folder ({parent} is a file)")
            if not os.access(parent, os.W_OK):
                raise InputError(
                    "--output", str(folder), f"a folder that can be written ({parent})"
                )
            break
    return folder


def _new_run_folder(seed: int, kind: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{stamp}-{kind}-seed{seed}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder
