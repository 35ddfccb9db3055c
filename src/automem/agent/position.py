"""The position tracker: visit counts per map cell and a movement directive when going in circles.

It works on any environment that reports a position (:meth:`automem.core.TextEnv.position`,
with :meth:`~automem.core.TextEnv.level` telling maps apart) and stays silent on one that
does not.
"""

from __future__ import annotations

from collections import Counter, deque

from pydantic import BaseModel, ConfigDict, Field

from automem.agent.helpers import Helper, HelperContext
from automem.core import Phase

Cell = tuple[str | None, int, int]  # (level, x, y)

# name, dx, dy (y grows south, as TextEnv.position says)
ORTHOGONAL = (("north", 0, -1), ("east", 1, 0), ("south", 0, 1), ("west", -1, 0))
DIAGONAL = (("northeast", 1, -1), ("southeast", 1, 1), ("southwest", -1, 1), ("northwest", -1, -1))


class PositionParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    visits: int = Field(
        4, ge=2, le=10_000, description="Visits to one cell that trigger the movement directive."
    )
    window: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="Count only the visits of the last this many steps; 0 = the whole episode.",
    )
    count_stays: bool = Field(
        False,
        description="Count a step that stays on the same cell as another visit; otherwise "
        "only arriving at a cell counts (so standing still to mine or fight does not).",
    )
    diagonals: bool = Field(
        False, description="Consider diagonal neighbours too (games with diagonal moves)."
    )
    show_position: bool = Field(
        True,
        description="Show the position and the number of distinct cells visited at every step, "
        "not only with the directive.",
    )
    phases: tuple[Phase, ...] = Field(
        ("plan",), min_length=1, description="Phases (log, plan) whose prompt shows it."
    )


class PositionTracker(Helper):
    """Counts visits per map cell from the environment's position; directs a move when circling.

    At every step it can show where the player is and how many distinct cells were visited on
    this map (an exploration status). When the current cell has been visited ``visits`` times
    (optionally within the last ``window`` steps) it adds a directive to go elsewhere, naming
    the least visited neighbouring cells. Helps when the agent walks back and forth through the
    same cells without exploring, e.g. in mazes (MiniHack v4's position tracker). Needs an env
    that implements ``position()`` (Crafter, NetHack, MiniHack).
    """

    name = "position_tracker"
    Params = PositionParams

    def __init__(self, params: PositionParams) -> None:  # type: ignore[override]
        super().__init__(params)
        self.p = params
        self.counts: Counter[Cell] = Counter()
        self._recent: deque[tuple[int, Cell]] = deque()
        self._seen: dict[str | None, set[tuple[int, int]]] = {}
        self.here: Cell | None = None

    def on_observation(self, ctx: HelperContext) -> None:
        position = ctx.env.position()
        if position is None:
            self.here = None
            return
        cell: Cell = (ctx.env.level(), int(position[0]), int(position[1]))
        if self.p.count_stays or cell != self.here:
            self.counts[cell] += 1
            if self.p.window:
                self._recent.append((ctx.step, cell))
        self._seen.setdefault(cell[0], set()).add(cell[1:])
        self.here = cell
        while self._recent and self._recent[0][0] <= ctx.step - self.p.window:
            _, old = self._recent.popleft()
            self.counts[old] -= 1
            if not self.counts[old]:
                del self.counts[old]

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        if phase not in self.p.phases or self.here is None:
            return None
        level, x, y = self.here
        count = self.counts[self.here]
        within = f" in the last {self.p.window} steps" if self.p.window else ""
        lines = []
        if self.p.show_position:
            on = f" on level {level}" if level is not None else ""
            lines.append(
                f"Position: x={x}, y={y}{on}; visited {_times(count)}{within}; "
                f"{len(self._seen[level])} distinct cells visited on this map."
            )
        if count >= self.p.visits:
            lines.append(
                f"MOVE: you have been on this cell {_times(count)}{within}: you are going in "
                "circles. Head for places you have not been; of the cells around you, the least "
                f"visited are {self.least_visited()}."
            )
        return "\n".join(lines) or None

    def least_visited(self) -> str:
        """The neighbouring cells with the fewest visits, as 'north (0 visits), east (0 visits)'."""
        if self.here is None:
            return "unknown"
        level, x, y = self.here
        steps = ORTHOGONAL + DIAGONAL if self.p.diagonals else ORTHOGONAL
        counts = {name: self.counts[(level, x + dx, y + dy)] for name, dx, dy in steps}
        low = min(counts.values())
        return ", ".join(f"{name} ({_times(n, 'visit')})" for name, n in counts.items() if n == low)


def _times(n: int, word: str = "time") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
