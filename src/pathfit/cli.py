"""The command line. Thin: it parses options, calls the library, prints, and turns pathfit's
errors into one line on stderr and exit code 2."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pathfit.exceptions import PathfitError

if TYPE_CHECKING:
    from pathfit.app.config import RunConfig
    from pathfit.app.experiment import RunOutput

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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
) -> None:
    """Simulate the experiment and fit it every applicable way."""
    from pathfit.app.experiment import run_experiment

    cfg = _load(config, seed)
    folder = _output_folder(output, cfg.seed, "run")
    started = _now()
    steps = len(_methods_of(cfg)) + 1 + bool(cfg.lambda_x.coef)
    with _progress("simulating", steps, quiet) as step:
        out = run_experiment(cfg, on_method=lambda name: step(f"fitting {name}"))
    _finish_run(out, folder, started, "pathfit run")


def _methods_of(cfg: RunConfig) -> tuple[str, ...]:
    from pathfit.app.build import selected_methods

    return selected_methods(cfg)


def _finish_run(out: RunOutput, folder: Path, started: str, title: str) -> None:
    """Print the tables, then write results.json (with its manifest) atomically."""
    from pathfit.app.experiment import manifest
    from pathfit.atomic import write_json_atomic

    console.print(_methods_table(out.rows, out.true, title))
    for row in out.rows:
        said = set(row["notes"])
        for line in [
            *row["notes"],
            *(w for w in (row["identifiability"] or {}).get("warnings", []) if w not in said),
            *([row["message"]] if row["status"] != "converged" else []),
        ]:
            console.print(f"[dim]{row['name']}: {line}[/dim]", highlight=False)
    if out.lambda_x is not None:
        console.print(_lambda_x_table(out.lambda_x))
    from pathfit.report import write_report

    results = out.to_json()
    written = write_report(folder, out, title=title)
    results["manifest"] = manifest(out.config, started=started, finished=_now())
    path = write_json_atomic(folder / "results.json", results)
    console.print(f"results: {path}; report: {written['report.html']}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def _progress(first: str, total: int, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A progress bar on the terminal (none with --quiet or when stdout is not a terminal);
    yields step(description), which completes the current step and starts the next."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )
    with bar:
        task = bar.add_task(first, total=total)

        def step(description: str) -> None:
            bar.update(task, advance=1, description=description)

        yield step


@app.command("simulate")
@_explain_errors
def simulate_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="data file: .csv, .parquet, .npz")],
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML config; defaults: the seed experiment")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="overrides the config's seed")] = None,
    layout: Annotated[str, typer.Option("--layout", help="long or wide (CSV, Parquet)")] = "long",
) -> None:
    """Simulate the configured experiment and write its paths and targets (and the true
    parameters beside them) to a data file that `pathfit fit` reads back."""
    from pathfit.app.experiment import simulate_experiment
    from pathfit.datafiles import write_dataset

    cfg = _load(config, seed)
    paths, targets, truth = simulate_experiment(cfg)
    written = write_dataset(output, paths, targets, truth=truth, layout=layout)  # type: ignore[arg-type]
    console.print(
        f"wrote {paths.n_paths} paths x {paths.n_times} times: "
        + ", ".join(str(path) for path in written),
        highlight=False,
    )


@app.command()
@_explain_errors
def fit(
    data: Annotated[Path, typer.Argument(help="data file: .csv, .parquet or .npz")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML config: methods and model family to fit"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="folder for results and report")
    ] = None,
    missing: Annotated[
        str, typer.Option("--missing", help="raise (default) or omit times with missing values")
    ] = "raise",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
) -> None:
    """Fit your own paths and targets (or those `pathfit simulate` wrote) every applicable way."""
    from pathfit._validation import check_choice
    from pathfit.app.build import spec_from_truth
    from pathfit.app.experiment import fit_all
    from pathfit.datafiles import read_dataset

    cfg = _load(config, None)
    check_choice("--missing", missing, ("raise", "omit"))
    folder = _output_folder(output, cfg.seed, "fit")
    started = _now()
    dataset = read_dataset(data, missing=missing)  # type: ignore[arg-type]
    if dataset.omitted_times:
        n = dataset.omitted_times
        console.print(f"omitted {n} time{'s' if n > 1 else ''} with missing values", style="dim")
    with _progress("fitting", len(_methods_of(cfg)), quiet) as step:
        out = fit_all(
            cfg,
            dataset.paths,
            dataset.targets,
            spec_from_truth(dataset.truth),
            on_method=lambda name: step(f"fitting {name}"),
        )
    _finish_run(out, folder, started, f"pathfit fit {data.name}")


@app.command()
@_explain_errors
def coverage(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML config; defaults: the seed experiment")
    ] = None,
    replicates: Annotated[
        int, typer.Option("--replicates", "-r", help="independent datasets to fit")
    ] = 1000,
    noise: Annotated[
        str, typer.Option("--noise", help="iid: noise on each k_j; population: k = E[...]")
    ] = "iid",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="folder for coverage.json")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="overrides the config's seed")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
) -> None:
    """Count how often each method's interval covers the truth over many replicates."""
    from pathfit.app.coverage import run_coverage
    from pathfit.atomic import write_json_atomic

    cfg = _load(config, seed)
    folder = _output_folder(output, cfg.seed, "coverage")
    with _progress("replicates", max(replicates, 0), quiet) as step:
        report = run_coverage(
            cfg,
            replicates=replicates,
            noise=noise,  # type: ignore[arg-type]
            on_replicate=lambda r: step("replicates"),
        )
    table = Table(
        title=f"coverage of {report.level:.0%} intervals, {replicates} replicates, "
        f"{noise} noise ({report.seconds:.1f} s)"
    )
    for name in (
        "method",
        "interval",
        "coverage",
        "95% CI of coverage",
        "mean |error|",
        "mean width",
        "ms per fit",
    ):
        table.add_column(name, no_wrap=True)
    for row in report.methods:
        table.add_row(
            row.name,
            row.interval,
            f"{row.coverage:.3f}",
            f"[{row.coverage_ci95[0]:.3f}, {row.coverage_ci95[1]:.3f}]",
            f"{row.mean_abs_error:.3g}",
            f"{row.mean_ci_width:.3g}",
            f"{1e3 * row.seconds_per_fit:.2f}",
        )
    console.print(table)
    path = write_json_atomic(folder / "coverage.json", report.to_json())
    console.print(f"coverage: {path}")


@app.command("config")
@_explain_errors
def config_command(
    example: Annotated[
        bool, typer.Option("--example", help="print a complete, commented example config")
    ] = False,
    check_file: Annotated[
        Path | None, typer.Option("--check", help="validate this config file and say so")
    ] = None,
) -> None:
    """Print an example config (--example) or validate a config file (--check)."""
    from pathfit.app.config import EXAMPLE, load_config

    if check_file is not None:
        load_config(check_file)
        console.print(f"{check_file}: valid")
    elif example:
        typer.echo(EXAMPLE, nl=False)
    else:
        raise _bad("config", "no option", "--example or --check FILE")


@app.command()
@_explain_errors
def check(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML config; defaults: the seed experiment")
    ] = None,
) -> None:
    """Compare every built-in model's autograd gradient with central finite differences.

    Exit code 0 when all pass, 1 when any fails.
    """
    from pathfit.app.checks import check_builtin_models

    checks = check_builtin_models(_load(config, None))
    table = Table(title="gradient check: autograd against central differences (float64)")
    for name in ("model", "parameter", "elements", "largest relative error", "result"):
        table.add_column(name, no_wrap=True)
    for check in checks:
        for tensor in check.tensors:
            verdict = "[green]pass[/green]" if tensor.passed else "[red]FAIL[/red]"
            table.add_row(
                check.model,
                tensor.name,
                str(tensor.n_elements),
                f"{tensor.max_relative_error:.2e}",
                verdict,
            )
    console.print(table)
    for check in checks:
        if not check.passed:
            err_console.print(check.message, markup=False)
    if not all(check.passed for check in checks):
        raise typer.Exit(1)


@app.command()
@_explain_errors
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="smaller sizes: about a minute")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="folder for bench.json")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
) -> None:
    """Measure speed side by side: pathfit against NumPy and plain torch, streamed memory,
    batched fits, the seed's recipe against the guarded fit, and the GPU when there is one."""
    from pathfit.app.bench import run_bench
    from pathfit.atomic import write_json_atomic

    folder = _output_folder(output, 0, "bench")
    with _progress("benchmarking", 5, quiet) as step:
        report = run_bench(quick, progress=lambda what: step(f"benchmarking: {what}"))
    cpu = report["cpu"]
    table = Table(title=f"pathfit bench ({report['device']}{', quick' if quick else ''})")
    table.add_column("measure", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    for row in cpu["throughput"]:
        shape = f"{row['n_paths']} x {row['n_times']}"
        table.add_row(
            f"simulate + design {shape}, M path-points/s",
            f"pathfit {row['pathfit_mpts_s']:.0f}, numpy {row['numpy_mpts_s']:.0f}, "
            f"torch {row['torch_mpts_s']:.0f} (x{row['ratio_vs_numpy']:.1f} numpy)",
        )
    table.add_row(
        f"streamed {cpu['stream_points']:.2g} points",
        f"{cpu['stream_s']:.1f} s, {cpu['stream_mpts_s']:.0f} M/s, peak RSS "
        f"{cpu['stream_peak_rss_mib']:.0f} MiB",
    )
    table.add_row(
        "least-squares fits per second (n=100, m=1000, simulation included)",
        f"batched {cpu['batched_fits_per_s']:.0f}, one by one {cpu['looped_fits_per_s']:.0f}",
    )
    for suffix, what in (("", "T = 10"), ("_t1", "T = 1")):
        seed, guarded = cpu[f"seed_sgd_s_to_1e-6{suffix}"], cpu[f"gradient_s_to_1e-6{suffix}"]
        table.add_row(
            f"seconds to |lambda error| < 1e-6, {what}",
            f"seed recipe {'never (diverges)' if seed is None else f'{seed:.3g}'}, "
            f"guarded {'never' if guarded is None else f'{guarded:.3g}'}",
        )
    if report["gpu"] is not None:
        gpu = report["gpu"]
        table.add_row(
            f"GPU {gpu['name']} {gpu['shape'][0]} x {gpu['shape'][1]}, G path-points/s",
            f"pathfit {gpu['pathfit_gpts_s']:.0f}, torch {gpu['torch_gpts_s']:.0f}, "
            f"randn {gpu['randn_gnum_s']:.0f} G numbers/s",
        )
    console.print(table)
    path = write_json_atomic(folder / "bench.json", report)
    console.print(f"bench: {path}")


def _load(config: Path | None, seed: int | None) -> RunConfig:
    from pathfit.app.config import RunConfig, load_config

    cfg = load_config(config) if config is not None else RunConfig()
    if seed is not None:
        if seed < 0:
            raise _bad("--seed", seed, "a non-negative integer")
        cfg = cfg.model_copy(update={"seed": seed})
    return cfg


def _bad(field: str, value: object, expected: str) -> PathfitError:
    from pathfit.exceptions import InputError

    return InputError(field, value, expected)


def _output_folder(output: Path | None, seed: int, kind: str) -> Path:
    """Where results go; checked before any work, so that a bad --output costs nothing."""
    folder = output if output is not None else _new_run_folder(seed, kind)
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise _bad("--output", str(folder), f"a folder ({parent} is a file)")
            if not os.access(parent, os.W_OK):
                raise _bad("--output", str(folder), f"a folder that can be written ({parent})")
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


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _methods_table(rows: list[dict[str, Any]], true: dict[str, Any], title: str) -> Table:
    truth = ", ".join(f"{k} = {_fmt(v)}" for k, v in true.items())
    table = Table(title=f"{title} (true {truth})" if truth else f"{title} (truth unknown)")
    ci_key = next((k for k in rows[0] if k.startswith("ci")), "ci95") if rows else "ci95"
    for name, justify in [
        ("method", "left"),
        ("estimate", "right"),
        ("|error|", "right"),
        (f"{ci_key[2:]}% interval", "right"),
        ("interval from", "left"),
        ("steps", "right"),
        ("wall s", "right"),
        ("status", "left"),
    ]:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    colors = {
        "converged": "green",
        "early_stopped": "green",
        "max_steps": "yellow",
        "stalled": "yellow",
        "diverged": "red",
    }
    for row in rows:
        color = colors.get(row["status"], "white")
        table.add_row(
            row["name"],
            _fmt(row["estimate"]),
            _fmt(row["abs_error"]),
            _fmt(row[ci_key]),
            row["interval"] or "-",
            str(row["steps"]),
            f"{row['wall_s']:.3f}",
            f"[{color}]{row['status']}[/{color}]",
        )
    return table


def _lambda_x_table(result: dict[str, Any]) -> Table:
    coef = ", ".join(_fmt(c) for c in result["true_coef"])
    table = Table(title=f"lambda(x) experiment (true coefficients [{coef}])")
    for name in ("candidate", "parameters", "hold-out loss", "+/- se", "chosen"):
        table.add_column(name, no_wrap=True)
    for key in ("degree_selection", "width_selection"):
        selection = result[key]
        for c in selection["candidates"]:
            table.add_row(
                ("polynomial " if key == "degree_selection" else "MLP ") + c["name"],
                str(c["n_params"]),
                _fmt(c["holdout_loss"]),
                _fmt(c["holdout_loss_se"]),
                "<-" if c["name"] == selection["best"] else "",
            )
    ls, mlp = result["least_squares"], result["pointwise_mlp"]
    table.caption = (
        f"least squares, degree {ls['degree']}: coefficient errors "
        f"{_fmt(ls['coef_abs_error'])}, max |lambda error| {_fmt(ls['max_lam_error'])}; "
        f"MLP {mlp['width']}: max |lambda error| {_fmt(mlp['max_lam_error'])} over x in "
        f"[{_fmt(result['x_range'][0])}, {_fmt(result['x_range'][1])}]"
    )
    return table
