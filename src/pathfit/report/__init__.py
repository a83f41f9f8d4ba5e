"""Plots and the HTML report of a run. The only part of pathfit that uses matplotlib.

matplotlib is imported inside the functions that draw, so importing ``pathfit.report`` (and
pathfit itself) does not need it.
"""

from pathfit.report.figures import plot_gradient_traces as plot_gradient_traces
from pathfit.report.figures import plot_lambda_x as plot_lambda_x
from pathfit.report.figures import plot_losses as plot_losses
from pathfit.report.figures import plot_paths_fan as plot_paths_fan
from pathfit.report.figures import plot_residuals as plot_residuals
from pathfit.report.figures import plot_targets_fit as plot_targets_fit
from pathfit.report.html import write_report as write_report

__all__ = [
    "plot_gradient_traces",
    "plot_lambda_x",
    "plot_losses",
    "plot_paths_fan",
    "plot_residuals",
    "plot_targets_fit",
    "write_report",
]
