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

import base64
import datetime
import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from pathfit.atomic import write_bytes_atomic, write_text_atomic
from pathfit.report import content
from pathfit.report.build import ReportFigure, build_figures
from pathfit.report.markdown import render_summary

if TYPE_CHECKING:
    from pathfit.app.outcome import RunOutcome

__all__ = ["render_html", "write_report"]

PAGE_CSS = """
:root { --ink: #1d2330; --muted: #5b6473; --line: #dde1e7; --soft: #f5f7fa;
  --ok: #1e7b3c; --warn: #9a6200; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 28px 24px 48px; }
header { border-bottom: 2px solid var(--ink); padding-bottom: 14px; margin-bottom: 8px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
.question { font-size: 17px; color: var(--muted); margin: 0 0 12px; font-style: italic; }
dl.setup { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dl.setup dt { color: var(--muted); }
dl.setup dd { margin: 0; }
code, pre, .num { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left;
  vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-size: 12.5px; }
td.num div { white-space: nowrap; }
tr.diverged td, tr.failed td { background: #fdf1f0; }
#methods td:last-child { min-width: 240px; }
table.small { width: auto; min-width: 55%; }
table.small th[scope="row"] { background: none; font-weight: 500; color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; color: #fff; white-space: nowrap; }
.badge.converged, .badge.early_stopped { background: var(--ok); }
.badge.max_steps, .badge.stalled { background: var(--warn); }
.badge.diverged, .badge.failed { background: var(--bad); }
.msg { font-size: 12px; color: var(--muted); margin-top: 4px; max-width: 360px; }
tr.diverged .msg, tr.failed .msg { color: var(--bad); }
.model { display: block; font-size: 12px; color: var(--muted); }
ul.messages { padding-left: 20px; margin: 6px 0; }
ul.messages li { margin: 3px 0; }
li.warn { color: var(--warn); }
li.bad { color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
.card h3 { margin-top: 2px; display: flex; gap: 10px; align-items: center; }
.card dl { margin: 0; }
.card dt { font-weight: 600; font-size: 13px; margin-top: 8px; }
.card dd { margin: 2px 0 0; font-size: 13.5px; }
.card ul { margin: 2px 0; padding-left: 18px; font-size: 13.5px; }
figure { margin: 18px 0 24px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 4px; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; max-width: 770px; }
figcaption b { color: var(--ink); }
p.note { font-size: 13px; color: var(--muted); margin: 4px 0 12px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px;
  padding: 12px 14px; font-size: 12.5px; overflow-x: auto; }
table.versions { width: auto; }
footer { margin-top: 36px; font-size: 12px; color: var(--muted); }
"""


def _lines(items: list[str]) -> str:
    return "".join(f"<div>{escape(i)}</div>" for i in items)


def _methods_table(out: RunOutcome) -> str:
    level = content.level_label(out.level)
    header = "".join(f"<th>{escape(c.format(level=level))}</th>" for c in content.METHOD_COLUMNS)
    body = []
    for row in content.method_rows(out):
        status = escape(row.status)
        message = (
            f'<div class="msg">{escape(row.message)}</div>'
            if row.status not in ("converged", "early_stopped") and row.message
            else ""
        )
        body.append(
            f'<tr class="{status}" data-method="{escape(row.name)}">'
            f'<td><b>{escape(row.name)}</b><span class="model">{escape(row.model)}</span></td>'
            f'<td class="num">{_lines(row.estimate)}</td>'
            f'<td class="num">{escape(row.error)}</td>'
            f'<td class="num">{_lines(row.interval)}</td>'
            f"<td>{escape(row.interval_method)}</td>"
            f'<td class="num">{escape(row.steps)}</td>'
            f'<td class="num">{escape(row.wall_s)}</td>'
            f'<td><span class="badge {status}">{status}</span>{message}</td>'
            "</tr>"
        )
    return (
        f'<table id="methods"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
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
        " Steps count different things; one step, with the loss-and-gradient evaluations "
        "of the whole fit, is: " + "; ".join(parts) + "."
    )


def _key_messages(out: RunOutcome) -> str:
    items = []
    for message in content.key_messages(out):
        cls = ' class="bad"' if " diverged: " in message or " failed: " in message else ""
        items.append(f"<li{cls}>{escape(message)}</li>")
    return f'<ul class="messages">{"".join(items)}</ul>'


def _method_cards(out: RunOutcome) -> str:
    cards = []
    for m in content.method_notes(out):
        parts = [f"<dt>How the fit ended</dt><dd>{escape(m.message or content.DASH)}</dd>"]
        if m.uncertainty:
            parts.append(f"<dt>Uncertainty</dt><dd>{escape(m.uncertainty)}</dd>")
        if m.bias:
            parts.append(f"<dt>Finite-n bias</dt><dd>{escape(m.bias)}</dd>")
        if m.warnings:
            items = "".join(f'<li class="warn">{escape(w)}</li>' for w in m.warnings)
            parts.append(f"<dt>Identifiability warnings</dt><dd><ul>{items}</ul></dd>")
        if m.identifiability:
            parts.append(f"<dt>Identifiability</dt><dd>{_lines(m.identifiability)}</dd>")
        if m.notes:
            items = "".join(f"<li>{escape(n)}</li>" for n in m.notes)
            parts.append(f"<dt>Notes</dt><dd><ul>{items}</ul></dd>")
        if m.stability:
            parts.append(f"<dt>Stability</dt><dd>{_lines(m.stability)}</dd>")
            events = (
                "<ul>" + "".join(f"<li>{escape(e)}</li>" for e in m.events) + "</ul>"
                if m.events
                else "none"
            )
            parts.append(f"<dt>Guard events</dt><dd>{events}</dd>")
        status = escape(m.status)
        cards.append(
            f'<div class="card" id="method-{escape(m.name)}"><h3>{escape(m.name)} '
            f'<span class="badge {status}">{status}</span></h3><dl>{"".join(parts)}</dl></div>'
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def _figure(figure: ReportFigure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (
        f'<figure id="figure-{escape(figure.filename.removesuffix(".png"))}">'
        f'<img src="data:image/png;base64,{data}" alt="{escape(figure.title)}" '
        f'width="770" height="440">'
        f"<figcaption><b>{escape(figure.title)}.</b> {escape(figure.caption)}</figcaption>"
        "</figure>"
    )


def _small_table(table: content.Table) -> str:
    if any(table.header):
        head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
        head = f"<thead><tr>{head}</tr></thead>"
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
            for row in table.rows
        )
    else:  # a key-value table: the first cell labels the row
        head = ""
        body = "".join(
            f'<tr><th scope="row">{escape(row[0])}</th>'
            + "".join(f"<td>{escape(cell)}</td>" for cell in row[1:])
            + "</tr>"
            for row in table.rows
        )
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<h3>{escape(table.title)}</h3><table class="small">{head}<tbody>{body}</tbody>'
        f"</table>{note}"
    )


def _lambda_x_section(out: RunOutcome) -> str:
    if out.lambda_x is None:
        return ""
    tables = content.lambda_x_tables(out.lambda_x)
    return (
        '<section id="lambda-x"><h2>lambda(x): a coefficient that depends on x</h2>'
        '<p class="note">A separate experiment on the same paths, with targets built from the '
        "lambda(x) below: the polynomial degree and the MLP width are chosen on held-out "
        "times.</p>" + "".join(_small_table(t) for t in tables) + "</section>"
    )


def page_start(title: str) -> str:
    """A page's opening up to its <main>: doctype, charset, viewport, title, the inline
    style and an empty icon (so that a browser fetches nothing)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<link rel="icon" href="data:,">'
        f"<style>{PAGE_CSS}</style></head><body><main>"
    )


def render_html(out: RunOutcome, figures: list[ReportFigure], *, title: str, generated: str) -> str:
    """The report page as one self-contained HTML string (images as data URIs, inline CSS)."""
    setup = "".join(
        f"<dt>{escape(label)}</dt><dd>{escape(text)}</dd>"
        for label, text in content.describe_run(out)
    )
    config = content.config_toml(json.loads(json.dumps(out.config.model_dump())))
    versions = "".join(
        f"<tr><th>{escape(name)}</th><td><code>{escape(v)}</code></td></tr>"
        for name, v in content.versions().items()
    )
    figure_html = "".join(_figure(f) for f in figures)
    return (
        page_start(title) + f"<header><h1>{escape(title)}</h1>"
        f'<p class="question">{escape(content.QUESTION)}</p>'
        f'<dl class="setup">{setup}</dl></header>'
        '<section id="summary"><h2>Methods</h2>'
        f"{_methods_table(out)}"
        '<p class="note">|error| is the distance from the truth (the largest over the '
        "coefficients for a polynomial model); a dash where the truth or the estimate is "
        "missing. Fits that diverged or failed are shown with the reason."
        f"{escape(_steps_note(out))}</p>"
        f"<h3>Key messages</h3>{_key_messages(out)}</section>"
        f'<section id="figures"><h2>Figures</h2>{figure_html}</section>'
        '<section id="notes"><h2>Notes and warnings, by method</h2>'
        f"{_method_cards(out)}</section>"
        f"{_lambda_x_section(out)}"
        '<section id="config"><h2>Configuration</h2>'
        '<p class="note">As TOML; save it to a file and pass it to '
        "<code>pathfit run --config</code> to repeat the run.</p>"
        f"<pre>{escape(config)}</pre></section>"
        '<section id="versions"><h2>Versions</h2>'
        f'<table class="versions"><tbody>{versions}</tbody></table></section>'
        f"<footer>Generated {escape(generated)} by pathfit.</footer>"
        "</main></body></html>\n"
    )


def write_report(
    folder: str | Path, out: RunOutcome, *, title: str = "pathfit report"
) -> dict[str, Path]:
    """Write the report of a run into ``folder``.

    Writes the figures as PNG files (paths.png, targets.png, residuals.png, gradient.png,
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
    generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = render_html(out, figures, title=title, generated=generated)
    summary = render_summary(out, figures, title=title)
    written: dict[str, Path] = {}
    for figure in figures:
        written[figure.filename] = write_bytes_atomic(folder / figure.filename, figure.png)
    written["summary.md"] = write_text_atomic(folder / "summary.md", summary)
    written["report.html"] = write_text_atomic(folder / "report.html", page)
    return written
