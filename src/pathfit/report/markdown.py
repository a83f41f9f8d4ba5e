"""summary.md: the run's answer, the methods table and each method's notes, in Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathfit.report import answer as answers
from pathfit.report import content
from pathfit.report.build import ReportFigure

if TYPE_CHECKING:
    from pathfit.app.outcome import RunOutcome


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipes, no line breaks."""
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").split())


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(cell(c) for c in row) + " |" for row in rows)
    return lines


def render_summary(out: RunOutcome, figures: list[ReportFigure], *, title: str) -> str:
    """The run in Markdown: the answer, setup, methods table, notes by method, lambda(x),
    figures. Until the run has an answer, its key messages stand in for it."""
    level = content.level_label(out.level)
    lines = [f"# {title}", "", f"_{content.QUESTION}_", ""]
    shown = answers.answer(out)
    if shown.headline or shown.sentences:
        if shown.headline:
            lines += [f"**{shown.headline}**", ""]
        if shown.sentences:
            lines += [" ".join(shown.sentences), ""]
    else:
        lines += ["## Key messages", ""]
        lines.extend(f"- {m}" for m in content.key_messages(out))
        lines.append("")
    lines.extend(f"- **{label}**: {text}" for label, text in content.describe_run(out))
    lines += ["", "## Methods", ""]
    rows = []
    for row in content.method_rows(out):
        status = row.status
        if row.status not in ("converged", "early_stopped") and row.message:
            status += f": {row.message}"
        rows.append(
            [
                row.name,
                "; ".join(row.estimate),
                row.error,
                "; ".join(row.interval),
                row.interval_method,
                row.steps,
                row.wall_s,
                status,
            ]
        )
    header = [c.format(level=level) for c in content.METHOD_COLUMNS]
    lines += _table(header, rows)
    zero_width = content.zero_width_note(out)
    if zero_width:
        lines += ["", zero_width]
    notes = [
        f"- {m.name}: {text}" for m in content.method_notes(out) for text in (*m.warnings, *m.notes)
    ]
    if notes:
        lines += ["", "## Notes by method", "", *notes]
    if out.lambda_x is not None:
        lines += ["", "## lambda(x)", ""]
        for table in content.lambda_x_tables(out.lambda_x):
            lines += [f"### {table.title}", ""]
            header = table.header if any(table.header) else ["item", "value"]
            lines += _table(header, table.rows)
            if table.note:
                lines += ["", table.note]
            lines.append("")
    if figures:
        lines += ["", "## Figures", ""]
        lines.extend(f"- [{f.title}]({f.filename}): {f.caption}" for f in figures)
    lines += ["", "The full report, with figures and per-method diagnostics: report.html.", ""]
    return "\n".join(lines)
