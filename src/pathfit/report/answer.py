"""The answer a run gives to its question, in three to five sentences built from the outcome.

It heads report.html and summary.md and closes the CLI's run; each sentence is chosen by what
the outcome holds (which methods agree, why one failed, what is identified), not a template
with numbers pasted in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathfit.app.outcome import RunOutcome

__all__ = ["Answer", "answer"]


@dataclass(frozen=True)
class Answer:
    """The run's answer.

    Attributes:
        headline: the estimate and how sure, in one short line ("lambda = 0.2500 +/- ...").
        sentences: three to five plain-text sentences, each ending in a full stop.
    """

    headline: str
    sentences: tuple[str, ...]

    def as_text(self) -> str:
        """The headline and the sentences as one paragraph of plain text."""
        return " ".join(self.sentences)


def answer(out: RunOutcome) -> Answer:
    """The answer to the run's question (work in progress: filled in by issue 14)."""
    return Answer(headline="", sentences=())
