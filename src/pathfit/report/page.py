"""The page design every report shares: jinja2 templates with autoescaping, one base layout
(inline CSS, header, table of contents, footer with the versions), and the pieces the pages
hand to it (figures as data URIs, tables with the meaning of their columns).

Every page is self-contained (images as data URIs, inline CSS, no script) and, for equal
inputs, byte-identical. jinja2 is imported on first use.
"""

from __future__ import annotations

import base64
import datetime
import functools
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

__all__ = ["Figure", "Table", "figure", "generated_at", "render"]


@dataclass(frozen=True)
class Figure:
    """A figure as the page shows it.

    Attributes:
        id: the element id ("figure-paths").
        title, caption: plain text.
        src: a ``data:image/png;base64,...`` URI.
        width, height: the display size in CSS pixels (the image scales down to the column).
    """

    id: str
    title: str
    caption: str
    src: str
    width: int
    height: int


@dataclass(frozen=True)
class Table:
    """A table as the page shows it: plain-text cells, the meaning of each column on hover
    (``help``, header -> sentence), a note under it. A table whose header is all empty is a
    key-value table: the first cell of each row labels it. A ``stack`` table shows one card
    per row on narrow screens, each cell labelled by its column; the others scroll sideways
    in their own box."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    note: str = ""
    help: Mapping[str, str] = field(default_factory=dict)
    id: str = ""
    stack: bool = False

    @property
    def key_value(self) -> bool:
        return not any(self.header)


def _png_size(png: bytes) -> tuple[int, int]:
    """A PNG's pixel width and height, from its IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def figure(name: str, title: str, caption: str, png: bytes, css_width: int | None = None) -> Figure:
    """A PNG figure for the page, shown ``css_width`` CSS pixels wide (by default its pixel
    width), its height in proportion, so that the page does not move as images decode."""
    width, height = _png_size(png)
    shown = css_width or width
    return Figure(
        id=f"figure-{name}",
        title=title,
        caption=caption,
        src="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        width=shown,
        height=round(shown * height / width),
    )


def generated_at(finished: str) -> str:
    """The time a result was made, as the footer shows it ("2026-01-31 12:00 UTC"): the run's
    own time, so that the same run gives the same page."""
    try:
        when = datetime.datetime.fromisoformat(finished)
    except ValueError:
        return finished
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("pathfit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``; every value is escaped.

    The base layout reads ``title``, ``generated`` (a time, shown in the footer), ``toc``
    ((id, label) pairs) and ``versions`` (name -> version).
    """
    from pathfit import __version__

    context.setdefault("toc", ())
    context.setdefault("versions", {})
    return _environment().get_template(template).render(pathfit_version=__version__, **context)
