"""The run report: figures, the self-contained HTML page and summary.md (the page in a browser:
test_page.py)."""

from __future__ import annotations

import base64
import html
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.image import imread

from pathfit.app.config import parse_config
from pathfit.app.experiment import run_experiment
from pathfit.app.outcome import RunOutcome
from pathfit.report import (
    plot_gradient_traces,
    plot_lambda_x,
    plot_losses,
    plot_paths_fan,
    plot_residuals,
    plot_targets_fit,
    write_report,
)
from pathfit.report.build import SCALE, build_figures, fitted_targets, lambda_x_curves
from pathfit.report.figures import DPI, FIGSIZE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CONSTANT = {
    "sampling": {"n_paths": 20, "n_times": 200},
    "methods": {
        "run": ["least_squares", "seed_sgd", "gradient", "pointwise_mlp"],
        # hidden is given: a partial [methods.pointwise_mlp] table otherwise loses the
        # default width and PointwiseMLP refuses an empty hidden list
        "pointwise_mlp": {"max_steps": 3, "hidden": [8]},
    },
}
POLY = {
    "target": {"kind": "poly_lambda", "coef": [0.1, 0.0, 0.05], "noise_std": 0.01},
    "sampling": {"horizon": 2.0, "n_paths": 20, "n_times": 200},
    "methods": {
        "pointwise_mlp": {"max_steps": 3, "hidden": [8]},
        "gradient": {"holdout": 0.2},
    },
    "lambda_x": {"coef": [0.1, 0.0, 0.05], "widths": [4], "mlp_max_steps": 3, "max_degree": 2},
}
FIGURES = ("paths.png", "targets.png", "residuals.png", "stability.png", "losses.png")


def _results(out: RunOutcome) -> list:
    return [m.result for m in out.methods if m.result is not None]


@pytest.fixture(scope="module")
def constant_run() -> RunOutcome:
    return run_experiment(parse_config(CONSTANT))


@pytest.fixture(scope="module")
def poly_run() -> RunOutcome:
    return run_experiment(parse_config(POLY))


@pytest.fixture(scope="module")
def constant_report(constant_run: RunOutcome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("constant_report")
    write_report(folder, constant_run)
    return folder


def _png_count(folder: Path) -> int:
    return len(list(folder.glob("*.png")))


def _check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    image = imread(io.BytesIO(data), format="png")
    # the report's width at twice the resolution; several panels make a taller figure
    width, height = SCALE * round(FIGSIZE[0] * DPI), SCALE * round(FIGSIZE[1] * DPI)
    assert image.shape[1] == width and image.shape[0] >= height // 2, f"{path.name}: {image.shape}"
    assert image.std() > 0.01, f"{path.name} is blank"


def _method_rows(page: str) -> list[str]:
    table = re.search(r'<table id="methods"[^>]*>(.*?)</table>', page, re.S)
    assert table is not None, "no #methods table"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.S)
    assert body is not None
    return re.findall(r"<tr\b.*?</tr>", body.group(1), re.S)


@pytest.mark.slow
def test_importing_the_report_does_not_import_matplotlib() -> None:
    code = "import sys, pathfit.report; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.slow
def test_write_report_files(constant_run: RunOutcome, constant_report: Path) -> None:
    names = {p.name for p in constant_report.iterdir()}
    expected = {*FIGURES, "lambda_x.png", "report.html", "summary.md"}
    assert names == expected  # nothing else: no temporary files left behind
    for name in (*FIGURES, "lambda_x.png"):
        _check_png(constant_report / name)

    page = (constant_report / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'id="methods"' in page
    rows = _method_rows(page)
    assert len(rows) == len(constant_run.methods) == 4
    for row, method in zip(
        rows, ("least_squares", "seed_sgd", "gradient", "pointwise_mlp"), strict=True
    ):
        assert f'data-method="{method}"' in row
    # self-contained: no reference to anything outside the file
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    assert "<script" not in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == _png_count(constant_report) == 6
    assert all(base64.b64decode(i)[:8] == PNG_MAGIC for i in images)
    # the diverged seed recipe is shown with its reason, escaped
    seed_row = rows[1]
    assert "diverged" in seed_row
    seed_message = constant_run.methods[1].message
    assert constant_run.methods[1].status == "diverged"
    assert "the loss became non-finite at step" in seed_message
    assert html.escape(seed_message) in seed_row
    # stability and identifiability notes per method
    assert "stable bound 2/L" in page and "curvature L" in page
    assert "weight directions" in page  # the pointwise MLP's identifiability warning
    assert "<pre>" in page and "[sampling]" in page and "n_paths = 20" in page
    assert "torch" in page and "matplotlib" in page

    summary = (constant_report / "summary.md").read_text(encoding="utf-8")
    assert "| method | estimate | \\|error\\| | 95% interval |" in summary
    table_rows = [line for line in summary.splitlines() if line.startswith("| ")]
    assert len(table_rows) == 1 + 4
    assert any(
        line.startswith("| seed_sgd |") and "diverged: the loss became" in line
        for line in table_rows
    )
    # headed by the answer (or, until the run has one, its key messages); what the key
    # messages said beyond the table is in the notes by method
    assert "## Methods" in summary and "## Notes by method" in summary
    notes = [f"- {m.name}: {n}" for m in constant_run.methods for n in (*m.warnings, *m.notes)]
    assert notes and all(note in summary for note in notes)


@pytest.mark.slow
def test_write_report_poly_lambda(poly_run: RunOutcome, tmp_path: Path) -> None:
    files = write_report(tmp_path, poly_run, title="poly <lambda> & co")
    # no fit steps on single samples and none diverged: no stability figure
    figures = {*FIGURES, "lambda_x.png"} - {"stability.png"}
    assert set(files) == {*figures, "report.html", "summary.md"}
    assert all(path.is_file() and path.parent == tmp_path for path in files.values())
    for name in figures:
        _check_png(files[name])
    page = files["report.html"].read_text(encoding="utf-8")
    assert "poly &lt;lambda&gt; &amp; co" in page and "<lambda>" not in page
    rows = _method_rows(page)
    assert len(rows) == len(poly_run.methods) == 3
    assert "c2 = " in rows[0]  # coefficients, one per line
    assert 'id="lambda-x"' in page and "Polynomial degree chosen on held-out times" in page
    assert "(chosen)" in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == _png_count(tmp_path)
    summary = files["summary.md"].read_text(encoding="utf-8")
    assert "## lambda(x)" in summary


def test_lambda_x_bands_are_the_least_squares_and_mlp_curves(poly_run: RunOutcome) -> None:
    grid, curves, truth, bands = lambda_x_curves(poly_run)
    assert set(curves) == {"least_squares (degree 2)", "gradient (degree 2)", "pointwise_mlp"}
    assert truth is not None
    # two bands at most: the first polynomial's, then the pointwise MLP's, each the run's
    # lam_curve (the estimator's lam_curve on the grid over the observed x)
    assert [label for _, _, label in bands] == [
        "95% band (least_squares, classical)",
        f"95% band (pointwise_mlp, {poly_run.methods[-1].result.interval})",
    ]
    for (lower, upper, _), name in zip(bands, ("least_squares", "pointwise_mlp"), strict=True):
        method = next(m for m in poly_run.methods if m.name == name)
        expected = method.estimator.lam_curve(torch.from_numpy(grid))
        np.testing.assert_array_equal(lower, expected.lower.numpy())
        np.testing.assert_array_equal(upper, expected.upper.numpy())
        assert np.all(upper - lower > 0)
    lower, upper, _ = bands[0]
    centre = curves["least_squares (degree 2)"]
    assert np.all(lower <= centre) and np.all(centre <= upper)
    # the noisy least-squares fit is close to the truth
    assert np.max(np.abs(centre - truth)) < 0.05
    values = poly_run.paths.values.numpy()
    assert grid[0] > values.min() and grid[-1] < values.max()


def test_lambda_x_figure_draws_both_bands(poly_run: RunOutcome) -> None:
    figure = next(f for f in build_figures(poly_run) if f.filename == "lambda_x.png")
    assert "(least_squares, classical) shaded" in figure.caption
    assert "(pointwise_mlp, " in figure.caption and "outlined" in figure.caption


def test_a_constant_run_draws_the_mlp_band(constant_run: RunOutcome) -> None:
    _, curves, truth, bands = lambda_x_curves(constant_run)
    assert list(curves) == ["pointwise_mlp"]  # one lambda learns no lambda(x)
    assert np.all(truth == 0.25)
    ((lower, upper, label),) = bands
    assert label.startswith("95% band (pointwise_mlp, ")
    assert np.all(lower <= curves["pointwise_mlp"]) and np.all(curves["pointwise_mlp"] <= upper)


def test_write_report_writes_nothing_when_building_fails(
    constant_run: RunOutcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pathfit.report.figures as figures

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("broken figure")

    monkeypatch.setattr(figures, "plot_lambda_x", broken)  # the last figure built
    folder = tmp_path / "report"
    with pytest.raises(RuntimeError, match="broken figure"):
        write_report(folder, constant_run)
    assert not folder.exists() or not any(folder.iterdir())


def test_figure_functions_draw_on_the_given_axes(constant_run: RunOutcome) -> None:
    out = constant_run
    fig = Figure()
    axes = fig.subplots(2, 3).ravel()
    fitted = fitted_targets(out)
    k = out.targets.values.numpy()
    times = out.targets.times.numpy()
    grid, curves, truth, bands = lambda_x_curves(out)
    calls = [
        lambda ax: plot_paths_fan(out.paths, ax=ax, n_shown=5),
        lambda ax: plot_targets_fit(times, k, fitted, ax=ax),
        lambda ax: plot_residuals(times, {n: k - f for n, f in fitted.items()}, ax=ax),
        lambda ax: plot_gradient_traces(_results(out), 0.25, ax=ax),
        lambda ax: plot_losses(_results(out), ax=ax),
        lambda ax: plot_lambda_x(grid, curves, truth, bands[0][:2], ax=ax),
    ]
    for ax, call in zip(axes, calls, strict=True):
        got_fig, got_ax = call(ax)
        assert got_fig is fig and got_ax is ax
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        assert ax.get_legend() is not None
    # mathtext labels; the MLP, stopped after 3 steps, is visibly off: k and k_hat themselves
    assert axes[1].get_xlabel() == "time $t$" and axes[1].get_ylabel() == "$k_j$"
    assert axes[1].get_yscale() == "linear"
    assert axes[2].get_yscale() == "symlog"  # all residuals on one axes
    assert axes[3].get_yscale() == "log"
    assert axes[3].get_ylabel() == r"$|\hat\lambda - \lambda|$"
    assert axes[4].get_yscale() == "log"


def test_figure_functions_make_their_own_figure(constant_run: RunOutcome) -> None:
    fig, ax = plot_paths_fan(constant_run.paths)
    assert isinstance(fig, Figure) and ax.figure is fig
    assert tuple(fig.get_size_inches()) == pytest.approx(FIGSIZE)
    assert fig.dpi == DPI
    # with the truth unknown the traces show the estimate itself
    fig, ax = plot_gradient_traces(_results(constant_run), None)
    assert ax.get_ylabel() == r"$|\hat\lambda|$" and ax.get_yscale() == "log"
    # the diverged fit is not drawn here (it has its own panel) but the legend names it
    labels = ax.get_legend_handles_labels()[1]
    assert "seed_sgd: diverged at step" in " ".join(labels)
    assert not any(line.get_label().startswith("seed_sgd (") for line in ax.get_lines())


def test_config_toml_reads_back(poly_run: RunOutcome) -> None:
    import tomllib

    from pathfit.report.content import config_toml

    text = config_toml(poly_run.config.model_dump())
    assert parse_config(tomllib.loads(text)) == poly_run.config


def test_markdown_cells_escape_pipes_and_newlines() -> None:
    from pathfit.report.markdown import cell

    assert cell("2 max_j |Phi_j|^2\nnext") == "2 max_j \\|Phi_j\\|^2 next"
