"""Rendering a figure to PNG: the one-axes layout matches constrained layout's."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.image import imread

from pathfit.report import plot_gradient_traces, plot_residuals, plot_targets_fit
from pathfit.report.build import png_bytes
from pathfit.report.figures import DPI, FIGSIZE


def _figures():
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 10, 300))
    k = 0.25 * (t + rng.normal(0, 1, t.size)) ** 2
    yield lambda: plot_targets_fit(t, k, {"least_squares": 0.25 * t**2})
    yield lambda: plot_residuals(t, {"a": 1e-4 * rng.normal(size=t.size)})
    yield lambda: plot_gradient_traces([], 0.25)


@pytest.mark.parametrize("make", list(_figures()))
def test_png_bytes_places_the_axes_where_constrained_layout_does(make) -> None:
    reference, ref_ax = make()
    reference.savefig(io.BytesIO(), format="png", dpi=DPI)  # constrained layout, twice measured
    fig, ax = make()
    data = png_bytes(fig)
    image = imread(io.BytesIO(data), format="png")
    assert image.shape[:2] == (round(FIGSIZE[1] * DPI), round(FIGSIZE[0] * DPI))
    # within one pixel of constrained layout's box on every side
    got, want = ax.get_position().extents, ref_ax.get_position().extents
    width, height = FIGSIZE[0] * DPI, FIGSIZE[1] * DPI
    assert np.abs((got - want) * [width, height, width, height]).max() < 1.0
