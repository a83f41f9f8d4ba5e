"""The command line. Thin: it parses options, calls the application, prints, and turns
pathfit's errors into one line on stderr and exit code 2.

Importing this module imports neither torch, scipy nor matplotlib: every command imports what
it needs when it runs, so that ``pathfit --help`` and ``pathfit --version`` answer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import pathfit
from pathfit.choices import Layout, MissingPolicy, NoiseKind
from pathfit.cli._entry import CommandLine
from pathfit.cli._shared import (
    ConfigOption,
    MaxMemoryOption,
    MissingOption,
    OneLineErrors,
    OutputOption,
    OverwriteOption,
    QuietOption,
    SeedOption,
    ThreadsOption,
    command_threads,
    console,
    explain_errors,
    load,
    output_folder,
    progress,
    say,
    set_debug,
    threads_option,
    with_overrides,
)
from pathfit.exceptions import InputError

if TYPE_CHECKING:
    from pathfit.app.config import RunConfig
    from pathfit.app.outcome import RunOutcome
    from pathfit.outputs import OutputFolder

app = CommandLine(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Recover a coefficient from aggregate observations of diffusion paths, and say how "
    "sure the answer is.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pathfit {pathfit.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="print the traceback above an error's one line (also PATHFIT_DEBUG=1)",
        ),
    ] = False,
) -> None:
    """pathfit: can a network learn this coefficient, and how sure is the answer?"""
    set_debug(debug)


@app.command()
@explain_errors
def run(
    config: ConfigOption = None,
    output: OutputOption = None,
    overwrite: OverwriteOption = False,
    seed: SeedOption = None,
    threads: ThreadsOption = None,
    max_memory: MaxMemoryOption = None,
    quiet: QuietOption = False,
) -> None:
    """Simulate the experiment and fit it every applicable way."""
    from pathfit.app.build import selected_methods
    from pathfit.app.experiment import run_experiment
    from pathfit.app.memory import check_memory

    cfg = load(config, seed, threads)
    check_memory(cfg, max_memory, source=str(config or "config"))
    steps = len(selected_methods(cfg)) + 1 + bool(cfg.lambda_x.coef)
    with output_folder(output, cfg.seed, "run", overwrite) as folder:
        with command_threads(cfg.threads), progress("simulating", steps, quiet) as step:
            outcome = run_experiment(
                cfg, on_method=lambda name: step(f"fitting {name}"), max_memory=max_memory
            )
        _finish(outcome, folder, "pathfit run")


@app.command("simulate")
@explain_errors
def simulate_command(
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="DATA", help="data file: .csv, .parquet, .npz")
    ],
    config: ConfigOption = None,
    seed: SeedOption = None,
    layout: Annotated[Layout, typer.Option(help="rows of the CSV or Parquet file")] = "long",
    threads: ThreadsOption = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="replace an existing data file and its companions"),
    ] = False,
) -> None:
    """Simulate the configured experiment and write its paths and targets (and the true
    parameters beside them) to a data file that `pathfit fit` reads back."""
    from pathfit.app.experiment import simulate_experiment
    from pathfit.datafiles import check_format, companion_paths, write_dataset
    from pathfit.exceptions import InputError

    cfg = load(config, seed, threads)
    check_format(output)  # before simulating: a bad name costs nothing
    taken = [p for p in (output, *companion_paths(output).values()) if p.is_symlink() or p.exists()]
    if taken and not overwrite:
        raise InputError(
            "--output",
            ", ".join(str(p) for p in taken) + " already there",
            "a data file that does not exist yet (--overwrite replaces it and its companions)",
        )
    with command_threads(cfg.threads):
        paths, targets, spec = simulate_experiment(cfg)
    written = write_dataset(output, paths, targets, truth=spec.to_truth(), layout=layout)
    say(
        console(),
        f"wrote {paths.n_paths} paths x {paths.n_times} times: "
        + ", ".join(str(path) for path in written),
    )


@app.command()
@explain_errors
def fit(
    data: Annotated[Path, typer.Argument(help="data file: .csv, .parquet or .npz")],
    config: ConfigOption = None,
    output: OutputOption = None,
    overwrite: OverwriteOption = False,
    missing: MissingOption = "raise",
    threads: ThreadsOption = None,
    max_memory: MaxMemoryOption = None,
    quiet: QuietOption = False,
) -> None:
    """Fit your own paths and targets (or those `pathfit simulate` wrote) every applicable way."""
    cfg = load(config, None, threads)
    _fit_file(cfg, data, output, overwrite, missing, max_memory, quiet, f"pathfit fit {data.name}")


def _fit_file(
    cfg: RunConfig,
    data: Path,
    output: str | None,
    overwrite: bool,
    missing: MissingPolicy,
    max_memory: int | None,
    quiet: bool,
    title: str,
) -> None:
    """Read a data file, fit it with the config's methods and write the results."""
    from pathfit.app.build import selected_methods
    from pathfit.app.experiment import fit_data
    from pathfit.datafiles import companion_paths, read_dataset
    from pathfit.targets import spec_from_truth

    with output_folder(output, cfg.seed, "fit", overwrite) as folder:
        dataset = read_dataset(data, missing=missing)
        truth = spec_from_truth(dataset.truth, source=str(companion_paths(data)["truth"]))
        out = console()
        if dataset.omitted_times:
            n = dataset.omitted_times
            say(out, f"omitted {n} time{'s' if n > 1 else ''} with missing values", style="dim")
        with (
            command_threads(cfg.threads),
            progress("fitting", len(selected_methods(cfg)), quiet) as step,
        ):
            outcome = fit_data(
                cfg,
                dataset.paths,
                dataset.targets,
                truth,
                source=data.name,
                on_method=lambda name: step(f"fitting {name}"),
                max_memory=max_memory,
            )
        _finish(outcome, folder, title)


def _finish(outcome: RunOutcome, folder: OutputFolder, title: str) -> None:
    """Write results.json and the report into the staging folder and move them into place
    together, then print the tables and what each fit says: the results are on disk before
    anything is printed, so a closed pipe (`| head`) loses none."""
    from pathfit.atomic import write_json_atomic
    from pathfit.cli import tables
    from pathfit.report import write_report
    from pathfit.report.answer import answer

    write_json_atomic(folder.staging / "results.json", outcome.to_json())
    write_report(folder.staging, outcome, title=title)
    folder.commit()
    results, report = folder.folder / "results.json", folder.folder / "report.html"
    out = console()
    out.print(tables.estimates_table(outcome, title))
    out.print(tables.fits_table(outcome))
    for line in tables.method_lines(outcome):
        say(out, line, style="dim")
    if outcome.lambda_x is not None:
        out.print(tables.lambda_x_table(outcome.lambda_x))
    found = answer(outcome)  # like the messages above, each sentence one whole line
    say(out, f"answer: {found.headline}", style="bold")
    for sentence in found.sentences:
        say(out, f"  {sentence}")
    say(out, f"results: {results}; report: {report}")


@app.command()
@explain_errors
def coverage(
    config: ConfigOption = None,
    replicates: Annotated[
        int, typer.Option("--replicates", "-r", metavar="R", help="independent datasets to fit")
    ] = 1000,
    noise: Annotated[
        NoiseKind,
        typer.Option(
            help="iid, ar1 (AR(1) along time) or heteroscedastic (sd proportional to |k_j|) "
            "noise on each k_j; population: k = E[...] and x a sample of paths"
        ),
    ] = "iid",
    phi: Annotated[
        float | None,
        typer.Option(help="the AR(1) coefficient of --noise ar1, in (-1, 1) [default: 0.6]"),
    ] = None,
    output: OutputOption = None,
    overwrite: OverwriteOption = False,
    seed: SeedOption = None,
    threads: ThreadsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Count how often each method's interval covers the truth over many replicates."""
    from pathfit.app.coverage import run_coverage
    from pathfit.atomic import write_json_atomic
    from pathfit.cli import tables
    from pathfit.report.coverage import write_coverage_report

    cfg = load(config, seed, threads)
    with output_folder(output, cfg.seed, "coverage", overwrite) as folder:
        with command_threads(cfg.threads), progress("replicates", replicates, quiet) as step:
            report = run_coverage(
                cfg,
                replicates=replicates,
                noise=noise,
                phi=phi,
                on_replicate=lambda r: step("replicates"),
            )
        write_json_atomic(folder.staging / "coverage.json", report.to_json())
        write_coverage_report(folder.staging, report)
        path, page = folder.commit()  # before printing
    out = console()
    for table in tables.coverage_tables(report):
        out.print(table)
    say(out, f"coverage: {path}; report: {page}")


@app.command("config")
@explain_errors
def config_command(
    example: Annotated[
        bool, typer.Option("--example", help="print a complete, commented example config")
    ] = False,
    check_file: Annotated[
        Path | None,
        typer.Option("--check", metavar="FILE", help="check this config file as run would"),
    ] = None,
    max_memory: MaxMemoryOption = None,
) -> None:
    """Print an example config (--example) or check a config file (--check), its memory
    estimate included."""
    if check_file is not None and example:
        raise InputError("config", "--example and --check", "one of them")
    if check_file is not None:
        from pathfit.app.config import load_config
        from pathfit.app.memory import check_memory

        estimate = check_memory(load_config(check_file), max_memory, source=str(check_file))
        typer.echo(f"{check_file}: valid; peak memory about {estimate}")
    elif example:
        from pathfit.app.example import example_config

        typer.echo(example_config(), nl=False)
    else:
        raise InputError("config", "no option", "--example or --check FILE")


@app.command()
@explain_errors
def check(config: ConfigOption = None, threads: ThreadsOption = None) -> None:
    """Compare every built-in model's autograd gradient with central finite differences.

    Exit code 0 when all pass, 1 when any fails.
    """
    from pathfit.app.checks import check_builtin_models
    from pathfit.cli import tables

    cfg = load(config, None, threads)
    with command_threads(cfg.threads):
        checks = check_builtin_models(cfg)
    console().print(tables.checks_table(checks))
    for failed in (c for c in checks if not c.passed):
        typer.echo(failed.message, err=True)
    if not all(c.passed for c in checks):
        raise typer.Exit(1)


@app.command()
@explain_errors
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="smaller sizes, fewer repeats")] = False,
    output: OutputOption = None,
    overwrite: OverwriteOption = False,
    threads: Annotated[
        int | None,
        threads_option(
            "threads of every measure not marked '1 thread': torch's, and those that simulate "
            "(default: one per core this process may use)"
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Measure speed side by side: pathfit against NumPy and plain torch, streamed memory,
    batched fits, the seed's recipe against the guarded fit, and the GPU when there is one."""
    from pathfit.app.bench import BENCH_STEPS, run_bench
    from pathfit.atomic import write_json_atomic
    from pathfit.cli import tables

    with output_folder(output, 0, "bench", overwrite) as folder:
        with progress("benchmarking", BENCH_STEPS, quiet) as step:
            report = run_bench(
                quick, progress=lambda what: step(f"benchmarking: {what}"), threads=threads
            )
        write_json_atomic(folder.staging / "bench.json", report.to_json())
        (path,) = folder.commit()  # before printing
    out = console()
    out.print(tables.bench_table(report))
    say(out, f"bench: {path}")


amortize = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    help="An amortized estimator: a network trained once on simulations that returns a "
    "posterior over lambda for any dataset.",
)
app.add_typer(amortize, name="amortize")


@amortize.command("train")
@explain_errors
def amortize_train(
    config: ConfigOption = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="ABM only, constant lambda, 10000 simulations, at most 12 epochs"
        ),
    ] = False,
    output: OutputOption = None,
    overwrite: OverwriteOption = False,
    seed: SeedOption = None,
    threads: ThreadsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Train an amortized estimator on simulations from its prior, validate it on fresh ones
    (calibration, coverage, the exact posterior), and save it with validation.json."""
    from pathfit.app.amortize import load_amortize_config, train_and_validate
    from pathfit.atomic import write_json_atomic
    from pathfit.report.amortized import validation_lines, write_validation_report

    cfg = with_overrides(load_amortize_config(config, quick), seed, threads)
    steps = cfg.training.max_epochs + 5
    with output_folder(output, cfg.seed, "amortize", overwrite) as folder:
        with command_threads(cfg.threads), progress("simulating", steps, quiet) as step:
            trained = train_and_validate(
                cfg,
                on_epoch=lambda e, train, held: step(f"epoch {e}: held-out loss {held:.4f}"),
                on_step=lambda what: step(f"validating: {what}"),
            )
        validation = trained.validation.to_json()
        lines = validation_lines(validation)
        trained.estimator.save(folder.staging)
        write_json_atomic(folder.staging / "validation.json", validation)
        write_validation_report(
            folder.staging, validation, lines, title="pathfit amortized estimator: validation"
        )
        path, *_ = folder.commit()
    out = console()
    for line in lines:
        say(out, line)
    say(out, f"estimator and validation: {path.parent}")


@amortize.command("apply")
@explain_errors
def amortize_apply(
    estimator: Annotated[
        Path, typer.Argument(metavar="DIR", help="the folder `pathfit amortize train` wrote")
    ],
    data: Annotated[Path, typer.Argument(help="data file: .csv, .parquet or .npz")],
    output: OutputOption = None,
    overwrite: OverwriteOption = False,
    missing: MissingOption = "raise",
    threads: ThreadsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Fit a data file with a trained amortized estimator alone: results.json and the report,
    as `pathfit fit` writes them, with one `amortized` row."""
    from pathfit.amortized import AmortizedEstimator
    from pathfit.app.config import parse_config

    prior = AmortizedEstimator.load(estimator).prior_
    target: dict[str, Any] = {"kind": "constant"}
    if prior.degree:
        target = {"kind": "poly_lambda", "coef": list(prior.coef_mean)}
    document: dict[str, Any] = {
        "target": target,
        "methods": {"run": ["amortized"], "amortized": {"path": str(estimator)}},
    }
    if threads is not None:
        document["threads"] = threads
    cfg = parse_config(document, source=f"pathfit amortize apply {estimator}")
    title = f"pathfit amortize apply {estimator.name} {data.name}"
    _fit_file(cfg, data, output, overwrite, missing, None, quiet, title)


study = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    help="Studies: a config varied over a grid or random draws, many replicates per cell, "
    "computed on Dask (resumable), kept as Parquet shards and drawn as maps.",
)
app.add_typer(study, name="study")


@study.command("run")
@explain_errors
def study_run(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY.toml", help="the study file")],
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="DIR", help="the study's folder")
    ],
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="a Dask scheduler, tcp://HOST:8786 [default: an embedded local cluster]",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(metavar="N", help="workers of the embedded cluster [default: one per core]"),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="complete a study started in DIR")
    ] = False,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Compute a study: every cell x replicate not yet in DIR/parts, then DIR/report.html."""
    from pathfit.app.study import load_study, run_study
    from pathfit.cli._shared import chunk_progress
    from pathfit.report.study import write_study_report

    if not output.strip():
        raise InputError("--output", repr(output), "a folder name")
    folder = Path(output)
    spec = load_study(study_file)
    with chunk_progress(quiet) as on_chunk:
        run = run_study(
            spec,
            folder,
            scheduler=scheduler,
            workers=workers,
            resume=resume,
            overwrite=overwrite,
            on_chunk=on_chunk,
        )
    report = write_study_report(folder)
    out = console()
    say(
        out,
        f"{run.computed} chunks computed, {run.skipped} already done, {run.rows} rows in "
        f"{run.seconds:.1f} s on {run.workers} workers",
    )
    say(out, f"study: {folder / 'parts'}; report: {report}")


@study.command("example")
@explain_errors
def study_example(
    name: Annotated[str, typer.Argument(metavar="stability|coverage|scaling")],
) -> None:
    """Print a complete, commented example study file."""
    from pathfit.app.study import example_study

    typer.echo(example_study(name), nl=False)


@study.command("report")
@explain_errors
def study_report(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="a study's folder")],
) -> None:
    """Draw a study's maps from its shards: DIR/report.html and DIR/figures/*.png."""
    from pathfit.report.study import write_study_report

    report = write_study_report(folder)
    say(console(), f"report: {report}")
