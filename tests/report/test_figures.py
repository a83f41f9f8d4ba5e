"""What each of the report's figures promises, read from the figure objects themselves."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import imread

from pathfit.app.config import parse_config
from pathfit.app.experiment import run_experiment
from pathfit.app.outcome import RunOutcome
from pathfit.estimators import FitResult, History
from pathfit.report import build, figures
from pathfit.report.build import SCALE, build_figures, lambda_x_curves
from pathfit.report.figures import (
    OKABE_ITO,
    plot_curvature,
    plot_divergence,
    plot_gradient_traces,
    plot_lambda_x,
    plot_losses,
    plot_paths_fan,
    plot_residuals,
    plot_targets_fit,
)

# noise-free constant lambda: least squares, the gradient fit and the MLP are exact, the seed's
# per-sample SGD at lr = 0.01 diverges (its curvature reaches about 3000 > 2/lr = 200)
CONSTANT = {
    "sampling": {"n_paths": 20, "n_times": 200},
    "methods": {
        "run": ["least_squares", "seed_sgd", "gradient", "pointwise_mlp"],
        "pointwise_mlp": {"hidden": [8]},
    },
}
POLY = {
    "target": {"kind": "poly_lambda", "coef": [0.1, 0.0, 0.05], "noise_std": 0.01},
    "sampling": {"horizon": 2.0, "n_paths": 20, "n_times": 200},
    "methods": {"run": ["least_squares", "pointwise_mlp"], "pointwise_mlp": {"hidden": [8]}},
}


@pytest.fixture(scope="module")
def constant_run() -> RunOutcome:
    return run_experiment(parse_config(CONSTANT))


@pytest.fixture(scope="module")
def poly_run() -> RunOutcome:
    return run_experiment(parse_config(POLY))


@pytest.fixture(scope="module")
def constant_figures(constant_run: RunOutcome) -> dict[str, build.ReportFigure]:
    return {f.filename: f for f in build_figures(constant_run)}


def _fit(method: str, steps: list[int], train: list[float | None], **kwargs) -> FitResult:
    history = History(
        step=steps,
        loss=[1.0] * len(steps),
        step_size=[0.1] * len(steps),
        estimate=[None] * len(steps),
        train_loss=train,
        holdout_loss=[None] * len(steps),
        params=kwargs.pop("params", None),
    )
    return FitResult(
        method=method,
        model="ConstantLambda",
        status=kwargs.pop("status", "converged"),
        message="",
        steps=steps[-1],
        wall_s=0.0,
        history=history,
        **kwargs,
    )


def _ydata(ax) -> np.ndarray:
    lines = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
    return np.concatenate([y for y in lines if y.size])


# --- rendering --------------------------------------------------------------------------------


def test_report_pngs_are_twice_their_css_size(constant_figures) -> None:
    for figure in constant_figures.values():
        image = imread(io.BytesIO(figure.png), format="png")
        assert figure.css_width == round(figures.FIGSIZE[0] * figures.DPI)
        assert image.shape[:2] == (SCALE * figure.css_height, SCALE * figure.css_width)


# --- stability --------------------------------------------------------------------------------


def test_the_stability_figure_explains_the_divergence(constant_run, constant_figures) -> None:
    seed = next(m for m in constant_run.methods if m.name == "seed_sgd")
    assert seed.status == "diverged"
    title, caption, fig = build._stability_figure(constant_run)
    assert title == "Why seed_sgd diverged"
    curvature_ax, divergence_ax = fig.axes
    # the per-sample curvature, the line 2/lr and the unstable times shaded
    curvature = build.per_sample_curvature(seed, constant_run)
    assert curvature is not None and curvature.max() > 200
    levels = [
        line.get_ydata()[0] for line in curvature_ax.get_lines() if line.get_linestyle() == "--"
    ]
    assert levels == [pytest.approx(200.0)]
    assert any(isinstance(c, PolyCollection) for c in curvature_ax.collections)
    assert curvature_ax.get_ylim()[1] >= curvature.max()
    labels = curvature_ax.get_legend_handles_labels()[1]
    assert f"L = {curvature.max():.4g}: stable for lr < {2 / curvature.max():.2g}" in labels
    # the diverged trajectory alone on its own log axes, ending at the step it stopped
    assert divergence_ax.get_yscale() == "log"
    assert divergence_ax.get_title() == f"seed_sgd: diverged at step {seed.result.steps}"
    # the caption reconciles steps with epochs by pathfit's definition, and says what it cannot
    per_epoch = constant_run.targets.times.shape[0]
    assert f"one pass over the {per_epoch} times ({per_epoch} steps)" in caption
    assert f"{seed.result.steps / per_epoch:.2g} epochs" in caption
    assert "cannot be matched" in caption
    assert "stability.png" in constant_figures


def test_plot_curvature_without_unstable_samples_shades_nothing() -> None:
    t = np.linspace(0.01, 1, 50)
    _fig, ax = plot_curvature(t, 10 * t, {"seed_sgd": 0.01})
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    assert ax.get_ylim()[1] >= 200  # the line 2/lr stays in view


def test_plot_divergence_gives_the_step_in_epochs() -> None:
    steps = list(range(1, 101))
    fit = _fit(
        "seed_sgd",
        steps,
        [None] * 100,
        params=[[0.25 + 10.0**s] for s in range(100)],
        status="diverged",
    )
    _fig, ax = plot_divergence(fit, 0.25, steps_per_epoch=40)
    texts = [t.get_text() for t in ax.texts]
    assert any("diverged at step 100\n= 2.5 epochs of 40 steps" in t for t in texts)
    assert ax.get_ylim()[1] >= 1e99 and ax.get_yscale() == "log"


# --- converging fits --------------------------------------------------------------------------


def test_converging_fits_have_their_own_axis(constant_run) -> None:
    results = [m.result for m in constant_run.methods if m.result is not None]
    diverged = next(r for r in results if r.status == "diverged")
    assert max(abs(p[0]) for p in diverged.history.params if np.isfinite(p[0])) > 1e50
    for plot in (lambda: plot_gradient_traces(results, 0.25), lambda: plot_losses(results)):
        _fig, ax = plot()
        assert ax.get_ylim()[1] < 1e3  # not squeezed by the diverged fit's 1e50 and beyond
        labels = ax.get_legend_handles_labels()[1]
        assert f"seed_sgd: diverged at step {diverged.steps} (own panel)" in labels


def test_a_zero_loss_is_drawn_at_a_floor_and_said() -> None:
    fit = _fit("gradient", [1, 2, 3], [1e-3, 1e-9, 0.0])
    _fig, ax = plot_losses([fit])
    labels = ax.get_legend_handles_labels()[1]
    assert "exactly 0, drawn at 1e-10" in labels
    assert np.any(np.isclose(_ydata(ax), 1e-10))
    low, high = ax.get_ylim()
    assert low < 1e-10 and high > 1e-3


def test_a_single_recorded_step_is_a_labelled_marker() -> None:
    fit = _fit("gradient", [1], [8.7e-31])
    _fig, ax = plot_losses([fit])
    (line,) = [line for line in ax.get_lines() if line.get_label() == "gradient: training loss"]
    assert line.get_marker() == "o" and line.get_markersize() >= 7
    assert [t.get_text() for t in ax.texts] == ["8.7e-31"]
    assert ax.get_xlim() == (0.5, 1.5)


def test_a_figure_of_nothing_says_so() -> None:
    _fig, ax = plot_gradient_traces([], 0.25)
    assert [t.get_text() for t in ax.texts] == ["nothing recorded to show"]


# --- targets and residuals --------------------------------------------------------------------


def test_exact_fits_show_their_relative_error() -> None:
    t = np.linspace(0, 1, 100)
    k = 1 + t**2
    exact = {"least_squares": k * (1 + 1e-15), "gradient": k.copy()}
    _, ax = plot_targets_fit(t, k, exact)
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    assert low < 1e-16 and high > 1e-15  # the data, and the floor where the exact zeros are
    labels = ax.get_legend_handles_labels()[1]
    assert "gradient (100 of 100 exactly 0)" in labels
    assert any(label.startswith("exactly 0, drawn at") for label in labels)
    # a fit off by 1% is drawn with the data itself, the observations under the fits
    _fig, ax = plot_targets_fit(t, k, {"least_squares": 1.01 * k})
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == "$k_j$"
    (dots,) = ax.collections
    assert dots.get_zorder() < min(line.get_zorder() for line in ax.get_lines())
    assert dots.get_offsets().shape == (t.size, 2)


def _ar1(rho: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=n)
    values = np.empty(n)
    values[0] = noise[0]
    for j in range(1, n):
        values[j] = rho * values[j - 1] + noise[j]
    return values


def test_residuals_one_panel_per_method_with_their_autocorrelation() -> None:
    t = np.linspace(0, 10, 2000)
    k = 1 + t
    residuals = {
        "least_squares": 1e-16 * np.round(np.sin(t) * 30),  # a rounding staircase
        "seed_network": 1e-3 * _ar1(0.9, t.size, 0),
        "pointwise_mlp": 1e-5 * _ar1(0.0, t.size, 1),
    }
    intervals = {"least_squares": "classical", "seed_network": "path_bootstrap"}
    fig, panels = plot_residuals(t, residuals, k=k, intervals=intervals)
    assert len(panels) == 3 and sum(ax.get_visible() for ax in fig.axes) == 3
    for ax, (name, r) in zip(panels, residuals.items(), strict=True):
        assert ax.get_title() == name
        low, high = ax.get_ylim()
        assert low <= r.min() and r.max() <= high
        assert high - low < 10 * (r.max() - r.min())  # each on its own scale
    rounding, correlated, white = (ax.texts[0].get_text() for ax in panels)
    assert "floating-point rounding, not error" in rounding and "lag-1" not in rounding
    lag1 = float(correlated.split("lag-1 autocorrelation ")[1].split("\n")[0])
    assert lag1 == pytest.approx(0.9, abs=0.03)
    assert correlated.endswith("path_bootstrap interval")
    assert abs(float(white.split("lag-1 autocorrelation ")[1])) < 3 / np.sqrt(t.size)
    assert panels[0].get_lines()[1].get_color() == "#999999"  # rounding drawn grey
    assert panels[1].get_lines()[1].get_color() == OKABE_ITO["purple"]


def test_residuals_on_one_axes_are_symmetric_log() -> None:
    t = np.linspace(0, 1, 50)
    fig = Figure()
    ax = fig.add_subplot()
    _got_fig, got_ax = plot_residuals(t, {"a": 1e-16 * np.ones(50), "b": 1e-4 * np.sin(9 * t)}, ax)
    assert got_ax is ax and ax.get_yscale() == "symlog"
    assert ax.get_ylim()[1] >= 1e-4


# --- lambda(x) --------------------------------------------------------------------------------


def test_a_flat_constant_lambda_has_no_lambda_x_figure(constant_run, constant_figures) -> None:
    _, curves, truth, _ = lambda_x_curves(constant_run)
    assert list(curves) == ["pointwise_mlp"] and np.all(truth == 0.25)
    assert build.lambda_x_is_flat(curves, truth)
    assert "lambda_x.png" not in constant_figures
    # a learned lambda(x) that bends is worth a figure even when the truth is constant
    bent = {"pointwise_mlp": curves["pointwise_mlp"] * (1 + 0.01 * np.linspace(0, 1, truth.size))}
    assert not build.lambda_x_is_flat(bent, truth)


def test_lambda_x_shows_its_band_and_the_truth(poly_run) -> None:
    figures_by_name = {f.filename: f for f in build_figures(poly_run)}
    assert "lambda_x.png" in figures_by_name
    grid, curves, truth, bands = lambda_x_curves(poly_run)
    _fig, ax = plot_lambda_x(grid, curves, truth, bands[0][:2], band_label=bands[0][2])
    lines = {line.get_label(): line for line in ax.get_lines()}
    true_line = lines[r"true $\lambda(x)$"]
    # the truth is wider than every fit, and drawn first, so that it shows around them
    assert all(true_line.get_linewidth() > line.get_linewidth() for line in ax.get_lines()[1:])
    assert ax.get_lines()[0] is true_line
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert band.get_label() == bands[0][2]
    low, high = ax.get_ylim()
    assert low <= truth.min() and truth.max() <= high


# --- paths and colours ------------------------------------------------------------------------


def test_paths_are_titled_by_their_origin(constant_run) -> None:
    simulated = build.paths_title(constant_run)
    assert simulated.startswith("Simulated paths: arithmetic Brownian motion")
    data = dataclasses.replace(constant_run, source="my_paths.csv")
    assert build.paths_title(data) == "Paths in my_paths.csv and their observation times"


def test_paths_end_at_the_horizon_with_a_tick_and_a_rug_entry(constant_run) -> None:
    _fig, ax = plot_paths_fan(constant_run.paths, title="x", horizon=10.0)
    assert ax.get_xlim() == (0.0, 10.0)
    assert ax.get_xticks()[-1] == 10.0 and ax.get_xticklabels()[-1].get_text() == "10"
    legend = ax.get_legend()
    (rug,) = [
        handle
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True)
        if text.get_text().startswith("observation times")
    ]
    assert rug.get_marker() == "|" and rug.get_linestyle() == "None"


def test_one_colour_per_method_in_every_figure(constant_run) -> None:
    results = [m.result for m in constant_run.methods if m.result is not None]
    _, traces = plot_gradient_traces(results, 0.25)
    _, losses = plot_losses(results)
    for ax in (traces, losses):
        colours = {
            line.get_label().split(" ")[0].rstrip(":"): line.get_color()
            for line in ax.get_lines()
            if not line.get_label().startswith(("_", "exactly"))
        }
        assert colours["gradient"] == OKABE_ITO["green"]
        assert colours["pointwise_mlp"] == OKABE_ITO["orange"]


def test_a_stable_per_sample_fit_shows_the_curvature_alone(poly_run) -> None:
    config = {
        "sampling": {"n_paths": 20, "n_times": 200},
        "methods": {"run": ["gradient"], "gradient": {"mode": "per_sample", "max_steps": 400}},
    }
    out = run_experiment(parse_config(config))
    assert out.methods[0].status != "diverged"
    title, caption, fig = build._stability_figure(out)
    assert title == "Stability of per-sample gradient training"
    (ax,) = fig.axes
    lr = out.methods[0].result.stability.step
    assert f"gradient steps at lr = {lr:.3g}: 2/lr = {2 / lr:.4g} is above every" in caption
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    # full-batch fits and networks, none diverged: no stability figure at all
    assert build._stability_figure(poly_run) is None
    assert "stability.png" not in {f.filename for f in build_figures(poly_run)}


def test_residuals_draw_on_given_panels() -> None:
    t = np.linspace(0, 1, 50)
    fig = Figure()
    grid = fig.subplots(1, 2)  # an array of axes, as Figure.subplots gives it
    got_fig, panels = plot_residuals(t, {"a": np.sin(t), "b": 1e-3 * np.cos(t)}, grid)
    assert got_fig is fig and panels == list(grid)
    assert [ax.get_title() for ax in grid] == ["a", "b"]
    assert grid[1].get_ylim()[1] < 2e-3  # its own scale


def test_a_far_wider_second_band_is_cut_at_the_axes() -> None:
    x = np.linspace(-1, 1, 50)
    curves = {"least_squares (degree 2)": x**2, "pointwise_mlp": x**2 + 0.01}
    narrow = (x**2 - 0.1, x**2 + 0.1, "95% band (least_squares, classical)")
    wide = (x**2 - 10, x**2 + 10, "95% band (pointwise_mlp, hac)")
    _, ax = plot_lambda_x(x, curves, x**2, narrow[:2])
    assert build._cut_wide_bands(ax, curves, x**2, [narrow, wide]) == [wide[2]]
    low, high = ax.get_ylim()
    assert -1 < low <= -0.1 and 1.1 <= high < 2  # the curves, the truth and the first band
    _, ax = plot_lambda_x(x, curves, x**2, narrow[:2])
    before = ax.get_ylim()
    assert build._cut_wide_bands(ax, curves, x**2, [narrow, (x**2 - 0.2, x**2 + 0.2, "b")]) == []
    assert ax.get_ylim() == before
