"""An estimator's fit as a table, in the manner of statsmodels' ``summary()``.

``estimator.summary()`` returns a :class:`Summary`; it prints nothing. ``print(summary)`` (or
``summary.as_text()``) gives a fixed-width table, ``as_html()`` a small escaped HTML table
(which notebooks show by ``_repr_html_``), ``to_dict()`` a JSON-safe dict.
"""

from __future__ import annotations

import html
import math
import textwrap
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pathfit._json import json_safe
from pathfit.exceptions import InputError

if TYPE_CHECKING:
    from pathfit.estimators._base import AbstractEstimator

_WIDTH = 78


@dataclass(frozen=True)
class Row:
    """One estimated quantity: its estimate, standard error, interval and t = estimate /
    stderr (None where undefined; inf for a zero standard error)."""

    name: str
    estimate: float
    stderr: float | None
    lower: float | None
    upper: float | None
    t: float | None


@dataclass(frozen=True)
class Summary:
    """What a fit found, as a table.

    Attributes:
        estimator: the estimator's class name.
        method: the method name in its result ("least_squares", "gradient", ...).
        model: the fitted model's repr.
        status: how the fit ended ("converged", "diverged", ...) and ``message`` the numbers.
        n_paths, n_times: the data's size (``n_paths`` None for a fit of a design).
        level: the intervals' confidence level.
        interval: the interval method, None where there is no interval.
        condition_number: of the column-scaled design (linear models), else None.
        steps: optimisation steps (1 for a closed-form solve).
        rows: one per coefficient of a linear model; for a network, its single-number lambda.
        notes: why that interval method (or why none), the finite-n bias, the fit's notes.
    """

    estimator: str
    method: str
    model: str
    status: str
    message: str
    n_paths: int | None
    n_times: int | None
    level: float
    interval: str | None
    condition_number: float | None
    steps: int
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The summary as a JSON-safe dict (non-finite numbers become None)."""
        return json_safe(asdict(self))

    def _header(self) -> list[tuple[str, str, str, str]]:
        n_paths = "-" if self.n_paths is None else str(self.n_paths)
        n_times = "-" if self.n_times is None else str(self.n_times)
        cond = "-" if self.condition_number is None else f"{self.condition_number:.4g}"
        return [
            ("Method:", self.method, "Status:", self.status),
            ("No. paths:", n_paths, "Steps:", str(self.steps)),
            ("No. times:", n_times, "Interval:", self.interval or "none"),
            ("Cond. no.:", cond, "Level:", f"{self.level:g}"),
        ]

    def _bounds(self) -> tuple[str, str]:
        alpha = (1 - self.level) / 2
        return f"[{alpha:.4g}", f"{1 - alpha:.4g}]"

    def as_text(self) -> str:
        """A fixed-width table of 78 columns: the fit's facts, the estimates, the notes."""
        title = f"{self.estimator} results"
        lines = [title.center(_WIDTH), "=" * _WIDTH, f"{'Model:':<12}{self.model}"]
        for a, b, c, d in self._header():
            left = f"{a:<12}{_clip(b, 26):>26}"
            right = f"{c:<12}{_clip(d, 26):>26}"
            lines.append(f"{left}  {right}")
        lines.append("=" * _WIDTH)
        low, high = self._bounds()
        name_width = max([10, *(len(row.name) + 1 for row in self.rows)])
        head = f"{'':<{name_width}}{'estimate':>15}{'std err':>12}{'t':>10}{low:>14}{high:>14}"
        lines.append(head)
        lines.append("-" * max(_WIDTH, len(head)))
        if not self.rows:
            lines.append(f"no estimate (the fit {self.status})")
        for row in self.rows:
            lines.append(
                f"{row.name:<{name_width}}{_num(row.estimate, 15)}{_num(row.stderr, 12, 5)}"
                f"{_num(row.t, 10, 4)}{_num(row.lower, 14, 7)}{_num(row.upper, 14, 7)}"
            )
        lines.append("=" * _WIDTH)
        if self.message:
            lines.extend(textwrap.wrap(f"Status: {self.message}", _WIDTH))
        for i, note in enumerate(self.notes, start=1):
            lines.extend(textwrap.wrap(f"[{i}] {note}", _WIDTH, subsequent_indent="    "))
        return "\n".join(lines)

    def as_html(self) -> str:
        """The table as a small HTML fragment, every value escaped."""
        e = html.escape
        parts = ['<table class="pathfit-summary">']
        parts.append(f"<caption>{e(self.estimator)} results</caption>")
        parts.append(f'<tr><th>Model:</th><td colspan="3">{e(self.model)}</td></tr>')
        for a, b, c, d in self._header():
            parts.append(f"<tr><th>{e(a)}</th><td>{e(b)}</td><th>{e(c)}</th><td>{e(d)}</td></tr>")
        parts.append("</table>")
        low, high = self._bounds()
        parts.append('<table class="pathfit-summary">')
        heads = ["", "estimate", "std err", "t", low, high]
        parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in heads) + "</tr>")
        for row in self.rows:
            cells = [
                _num(row.estimate, 0),
                _num(row.stderr, 0, 5),
                _num(row.t, 0, 4),
                _num(row.lower, 0),
                _num(row.upper, 0),
            ]
            parts.append(
                f"<tr><th>{e(row.name)}</th>"
                + "".join(f"<td>{e(c.strip())}</td>" for c in cells)
                + "</tr>"
            )
        parts.append("</table>")
        if self.message or self.notes:
            parts.append("<ol>")
            if self.message:
                parts.append(f"<li>Status: {e(self.message)}</li>")
            parts.extend(f"<li>{e(note)}</li>" for note in self.notes)
            parts.append("</ol>")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        return self.as_html()


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _num(value: float | None, width: int, digits: int = 8) -> str:
    """A number right-aligned in ``width``, with ``digits`` significant digits; '-' for None."""
    if value is None:
        text = "-"
    elif math.isinf(value):
        text = "inf" if value > 0 else "-inf"
    else:
        text = f"{value:.{digits}g}"
    return f"{text:>{width}}" if len(text) < width else f" {text}"


def _t(estimate: float, stderr: float | None) -> float | None:
    if stderr is None or math.isnan(stderr):
        return None
    if stderr == 0:
        return math.copysign(math.inf, estimate) if estimate != 0 else None
    return estimate / stderr


def summarize(estimator: AbstractEstimator) -> Summary:
    """The summary of a fitted estimator; InputError naming it when it is not fitted."""
    result = getattr(estimator, "result_", None)
    if result is None:
        name = type(estimator).__name__
        raise InputError(name, f"an unfitted {name}", "fit() before summary()")
    rows: list[Row] = []
    coef = getattr(estimator, "coef_", None)
    names = list(result.param_names)
    if coef is not None and len(names) == coef.shape[0]:
        stderr = getattr(estimator, "stderr_", None)
        ci = getattr(estimator, "ci_", None)
        for b, name in enumerate(names):
            value = float(coef[b])
            s = None if stderr is None else float(stderr[b])
            rows.append(
                Row(
                    name=name,
                    estimate=value,
                    stderr=s,
                    lower=None if ci is None else float(ci[b, 0]),
                    upper=None if ci is None else float(ci[b, 1]),
                    t=_t(value, s),
                )
            )
    elif getattr(estimator, "lam_", None) is not None:
        lam = float(estimator.lam_)  # type: ignore[attr-defined]
        s = getattr(estimator, "lam_stderr_", None)
        ci = getattr(estimator, "lam_ci_", None)
        rows.append(
            Row(
                name="lam (mean)",
                estimate=lam,
                stderr=s,
                lower=None if ci is None else ci[0],
                upper=None if ci is None else ci[1],
                t=_t(lam, s),
            )
        )
    notes = []
    if result.uncertainty_note:
        notes.append(f"uncertainty ({result.interval or 'none'}): {result.uncertainty_note}")
    if result.bias_note:
        notes.append(f"bias: {result.bias_note}")
    if rows and rows[0].name == "lam (mean)":
        notes.append(
            "lam (mean): the network's single-number lambda, its lambda_theta averaged with "
            "the weight x^2 each value carries in k"
        )
    notes.extend(result.notes)
    model = getattr(estimator, "model_", None)
    n_paths = getattr(estimator, "n_paths_", None)
    n_times = getattr(estimator, "n_times_", None)
    condition = getattr(estimator, "condition_number_", None)
    return Summary(
        estimator=type(estimator).__name__,
        method=result.method,
        model=repr(model) if model is not None else result.model,
        status=result.status,
        message=result.message,
        n_paths=None if n_paths is None else int(n_paths),
        n_times=None if n_times is None else int(n_times),
        level=float(result.level),
        interval=result.interval,
        condition_number=None if condition is None else float(condition),
        steps=int(result.steps),
        rows=tuple(rows),
        notes=tuple(notes),
    )
