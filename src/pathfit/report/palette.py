"""The report's colours, shared by the run's figures and the study's maps: one colour per method,
the same everywhere, from the Okabe-Ito palette (distinguishable with every common colour-vision
deficiency)."""

from __future__ import annotations

__all__ = ["LINESTYLES", "MARKERS", "OKABE_ITO", "method_color"]

OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
_METHOD_COLORS = {
    "least_squares": OKABE_ITO["blue"],
    "seed_sgd": OKABE_ITO["vermillion"],
    "gradient": OKABE_ITO["green"],
    "seed_network": OKABE_ITO["purple"],
    "pointwise_mlp": OKABE_ITO["orange"],
}
# for methods without a colour of their own (yellow is too pale on white for a line)
_OTHER_COLORS = (OKABE_ITO["sky"], OKABE_ITO["black"], "#7f7f7f")
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P")


def method_color(name: str, index: int = 0) -> str:
    """The colour of method ``name`` in every figure (the ``index``-th of a fixed set for a
    name without one)."""
    return _METHOD_COLORS.get(name, _OTHER_COLORS[index % len(_OTHER_COLORS)])
