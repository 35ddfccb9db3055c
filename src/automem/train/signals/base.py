"""What a selection signal is: a pure function of one turn and its episode's trace.

Each signal module defines ``NAME``, ``DEFINITION`` (the text recorded in the criteria) and
``hits(turn, episode, params)``, which returns one :class:`Hit` per instance it finds (two
empty searches in one turn are two hits). The weight of a hit comes from the criteria, not
from the signal, so the same evidence can be weighed differently without changing code.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import Field

from automem.core import Frozen
from automem.train.episode import EpisodeData, Turn


class SignalParams(Frozen):
    """The knobs some signals read (recorded with the criteria)."""

    horizon: int = Field(
        5,
        ge=1,
        description="A retrieval 'precedes progression' when the action of its step or of one "
        "of the next horizon - 1 steps brought reward or raised progression.",
    )
    min_line_chars: int = Field(
        3, ge=1, description="Written lines shorter than this are never matched in a result."
    )


class Hit(Frozen):
    """One instance of a signal in a turn: what was found, in a line a reader can check."""

    signal: str
    detail: str


class Signal(Protocol):
    NAME: str
    DEFINITION: str

    def hits(self, turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]: ...


def short(text: str, width: int = 80) -> str:
    """``text`` on one line, cut to ``width`` characters (for a hit's detail)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def definition(doc: str | None) -> str:
    """A signal's definition: its module docstring after the title line, on one line."""
    if not doc or "\n\n" not in doc:
        raise ValueError("a signal module's docstring holds its title, a blank line, its rule")
    return " ".join(doc.split("\n\n", 1)[1].split())
