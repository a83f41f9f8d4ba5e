"""The command line. Thin: it parses options, calls the library, prints, and turns pathfit's
errors into one line on stderr and exit code 2."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from pathfit.exceptions import PathfitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Recover a coefficient from aggregate observations of diffusion paths.",
)
console = Console()
if not console.is_terminal:  # piped or captured: don't squeeze the table into 80 columns
    console = Console(width=120)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def _explain_errors(command: F) -> F:
    """Turn a PathfitError into one line on stderr and exit code 2."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PathfitError as err:
            err_console.print(f"error: {err}", markup=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main() -> None:
    """pathfit: can a network learn this coefficient, and how sure is the answer?"""


@app.command()
@_explain_errors
def run(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML config; defaults: the seed experiment")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="folder for results.json")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="overrides the config's seed")] = None,
) -> None:
    """Simulate the experiment and fit it every applicable way."""
    from pathfit.config import RunConfig, load_config
    from pathfit.experiment import run_experiment
    from pathfit.io import write_json_atomic

    cfg = load_config(config) if config is not None else RunConfig()
    if seed is not None:
        if seed < 0:
            raise _bad("--seed", seed, "a non-negative integer")
        cfg = cfg.model_copy(update={"seed": seed})
    with console.status("simulating") as status:
        out = run_experiment(cfg, on_method=lambda name: status.update(f"fitting {name}"))
    console.print(_methods_table(out.rows, out.true))
    for row in out.rows:
        for note in row["notes"]:
            console.print(f"[dim]{row['name']}: {note}[/dim]")
        if row["status"] != "converged":
            console.print(f"[dim]{row['name']}: {row['message']}[/dim]")
    folder = output if output is not None else _new_run_folder(cfg.seed)
    path = write_json_atomic(folder / "results.json", out.to_json())
    console.print(f"results: {path}")


def _bad(field: str, value: object, expected: str) -> PathfitError:
    from pathfit.exceptions import InputError

    return InputError(field, value, expected)


def _new_run_folder(seed: int) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{stamp}-seed{seed}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _methods_table(rows: list[dict[str, Any]], true: dict[str, Any]) -> Table:
    truth = ", ".join(f"{k} = {_fmt(v)}" for k, v in true.items())
    table = Table(title=f"pathfit run (true {truth})")
    ci_key = next((k for k in rows[0] if k.startswith("ci")), "ci95") if rows else "ci95"
    for name, justify in [
        ("method", "left"),
        ("estimate", "right"),
        ("|error|", "right"),
        (f"{ci_key[2:]}% interval", "right"),
        ("steps", "right"),
        ("wall s", "right"),
        ("status", "left"),
    ]:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    colors = {"converged": "green", "max_steps": "yellow", "stalled": "yellow", "diverged": "red"}
    for row in rows:
        color = colors.get(row["status"], "white")
        table.add_row(
            row["name"],
            _fmt(row["estimate"]),
            _fmt(row["abs_error"]),
            _fmt(row[ci_key]),
            str(row["steps"]),
            f"{row['wall_s']:.3f}",
            f"[{color}]{row['status']}[/{color}]",
        )
    return table
