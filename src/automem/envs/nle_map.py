"""Neighbour map analysis for NetHack and MiniHack: what lies in each direction around '@'.

Works on the benchmark's hybrid text observation: the ``cursor:`` section gives the
player's terminal position ``(x=COL, y=ROW)`` and the ``map:`` section is the 24x80 screen
without its top (message) line, so terminal row ``y`` is map line ``y - 1``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from automem.agent.helpers import Helper, HelperContext
from automem.core import Phase

DIRECTIONS: tuple[tuple[str, int, int], ...] = (
    ("north", 0, -1),
    ("northeast", 1, -1),
    ("east", 1, 0),
    ("southeast", 1, 1),
    ("south", 0, 1),
    ("southwest", -1, 1),
    ("west", -1, 0),
    ("northwest", -1, -1),
)

# What a map character most likely is. '-' and '|' are walls or open doors: the text alone
# cannot tell them apart, so say both.
SYMBOLS: dict[str, str] = {
    ".": "floor",
    "#": "corridor",
    "-": "wall or open door",
    "|": "wall or open door",
    "+": "closed door",
    "<": "staircase up",
    ">": "staircase down",
    "{": "fountain",
    "_": "altar",
    "^": "trap",
    "`": "boulder",
    " ": "dark or unexplored",
    "$": "gold",
    ")": "weapon",
    "[": "armour",
    "%": "food",
    "?": "scroll",
    "!": "potion",
    "/": "wand",
    "=": "ring",
    '"': "amulet",
    "(": "tool",
    "*": "gem or rock",
}
BLOCKING = {"wall or open door", "dark or unexplored", "boulder"}

_CURSOR = re.compile(r"\(x=(\d+), y=(\d+)\)")


class NeighbourParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    phases: tuple[Phase, ...] = Field(("plan",), description="Phases whose prompt shows it.")


def map_lines(observation: str) -> list[str] | None:
    """The lines of the ``map:`` section, or None when the observation has none."""
    lines = observation.split("\n")
    try:
        start = lines.index("map:")
    except ValueError:
        return None
    return lines[start + 1 :]


def cursor(observation: str) -> tuple[int, int] | None:
    """The terminal (x, y) of the cursor section, or None."""
    lines = observation.split("\n")
    try:
        start = lines.index("cursor:")
    except ValueError:
        return None
    for line in lines[start + 1 : start + 4]:
        match = _CURSOR.search(line)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def neighbours(observation: str) -> dict[str, tuple[str, str]] | None:
    """direction -> (character, meaning) for the 8 cells around the player, or None."""
    grid, pos = map_lines(observation), cursor(observation)
    if grid is None or pos is None:
        return None
    x, row = pos[0], pos[1] - 1  # map line index of the player
    found: dict[str, tuple[str, str]] = {}
    for name, dx, dy in DIRECTIONS:
        r, c = row + dy, x + dx
        char = grid[r][c] if 0 <= r < len(grid) and 0 <= c < len(grid[r]) else " "
        meaning = SYMBOLS.get(char, "monster or pet" if char.isalpha() or char == "@" else "object")
        found[name] = (char, meaning)
    return found


class NeighbourMap(Helper):
    """Describes the 8 cells around the player from the map text, and which ones look open."""

    name = "neighbour_map"
    games = ("nethack", "minihack")
    Params = NeighbourParams

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        if phase not in self.params.phases or ctx.observation is None:  # type: ignore[attr-defined]
            return None
        cells = neighbours(ctx.observation.text)
        if cells is None:
            return None
        parts = [f"{d}: '{ch}' {meaning}" for d, (ch, meaning) in cells.items()]
        open_dirs = [d for d, (_, meaning) in cells.items() if meaning not in BLOCKING]
        return (
            "Around you: " + "; ".join(parts) + ".\n"
            "Open directions: " + (", ".join(open_dirs) if open_dirs else "none") + "."
        )
