"""The run report: one self-contained HTML page, its figures as PNG files, and summary.md.

Example:
    >>> from pathfit.app.config import RunConfig
    >>> from pathfit.app.experiment import run_experiment
    >>> from pathfit.report import write_report
    >>> files = write_report("runs/first", run_experiment(RunConfig()))
    >>> files["report.html"]
    PosixPath('runs/first/report.html')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pathfit.atomic import write_bytes_atomic, write_text_atomic
from pathfit.report import answer as answers
from pathfit.report import content, page
from pathfit.report.build import ReportFigure, build_figures
from pathfit.report.markdown import render_summary

if TYPE_CHECKING:
    from pathfit.app.outcome import RunOutcome

__all__ = ["page_figure", "render_html", "write_report"]


def page_figure(figure: ReportFigure) -> page.Figure:
    """A report figure as the page shows it: ``css_width`` CSS pixels wide (the PNG has
    ``build.SCALE`` times as many pixels), its height in the PNG's proportion."""
    return page.figure(
        figure.filename.removesuffix(".png"),
        figure.title,
        figure.caption,
        figure.png,
        figure.css_width,
    )


def _steps_note(out: RunOutcome) -> str:
    """One sentence: what a step is for each fit, and its loss-and-gradient evaluations."""
    parts = [
        f"{m.name} {m.result.step} ({m.result.evaluations} evaluations)"
        for m in out.methods
        if m.result is not None
    ]
    if not parts:
        return ""
    return (
        "Steps count different things; one step, with the loss-and-gradient evaluations "
        "of the whole fit, is: " + "; ".join(parts) + "."
    )


def _key_messages(out: RunOutcome) -> list[tuple[str, str]]:
    """The key messages with their class: shown only while the run has no answer."""
    return [
        (message, "bad" if " diverged: " in message or " failed: " in message else "")
        for message in content.key_messages(out)
    ]


def _toc(
    out: RunOutcome, figures: list[ReportFigure], shown: answers.Answer
) -> list[tuple[str, str]]:
    toc = [("answer", "Answer" if shown.headline or shown.sentences else "Key messages")]
    toc.append(("summary", "Methods"))
    if figures:
        toc.append(("figures", "Figures"))
    toc.append(("notes", "Notes by method"))
    if out.lambda_x is not None:
        toc.append(("lambda-x", "lambda(x)"))
    toc += [("config", "Configuration"), ("versions", "Versions")]
    return toc


def render_html(out: RunOutcome, figures: list[ReportFigure], *, title: str, generated: str) -> str:
    """The report page as one self-contained HTML string (images as data URIs, inline CSS).

    The answer to the run's question comes first (``report.answer``), then the methods table
    (stacked one card per method on narrow screens), the figures, each method's notes, the
    lambda(x) experiment, the configuration, and the versions in the footer.
    """
    shown = answers.answer(out)
    level = content.level_label(out.level)
    zero_width = content.zero_width_note(out)
    return page.render(
        "run.html.j2",
        title=title,
        generated=generated,
        toc=_toc(out, figures, shown),
        versions=content.versions(),
        question=content.QUESTION,
        setup=content.describe_run(out),
        answer=shown,
        key_messages=_key_messages(out),
        columns=[c.format(level=level) for c in content.METHOD_COLUMNS],
        column_help=content.method_column_help(out),
        rows=content.method_rows(out),
        interval_notes=[zero_width] if zero_width else [],
        steps_note=_steps_note(out),
        figures=[page_figure(f) for f in figures],
        cards=content.method_notes(out),
        dash=content.DASH,
        lambda_x_tables=[] if out.lambda_x is None else content.lambda_x_tables(out.lambda_x),
        config=content.config_toml(json.loads(json.dumps(out.config.model_dump()))),
    )


def write_report(
    folder: str | Path, out: RunOutcome, *, title: str = "pathfit report"
) -> dict[str, Path]:
    """Write the report of a run into ``folder``.

    Writes the figures as PNG files (paths.png, targets.png, residuals.png, stability.png,
    losses.png, and lambda_x.png where lambda depends on x; each only where it applies),
    report.html (one self-contained page: images embedded, inline CSS, no script and no
    external resource) and summary.md (the methods table and the key messages in Markdown).
    Everything is built in memory first, so a failure writes nothing; each file is written
    atomically.

    Args:
        folder: where to write; created if missing.
        out: the run, from ``run_experiment`` or ``fit_data``.
        title: the page's title.

    Returns:
        file name -> path of every file written.
    """
    folder = Path(folder)
    figures = build_figures(out)
    generated = page.generated_at(out.finished)
    html = render_html(out, figures, title=title, generated=generated)
    summary = render_summary(out, figures, title=title)
    written: dict[str, Path] = {}
    for figure in figures:
        written[figure.filename] = write_bytes_atomic(folder / figure.filename, figure.png)
    written["summary.md"] = write_text_atomic(folder / "summary.md", summary)
    written["report.html"] = write_text_atomic(folder / "report.html", html)
    return written
