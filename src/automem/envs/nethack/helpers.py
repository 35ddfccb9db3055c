"""NetHack's and MiniHack's helpers: the stairs finder.

It reads the level map through the NLE text env's public accessors (``glyphs()``,
``position()``, ``level()``), so a staircase is recognised by its glyph, never guessed from a
character that a monster or an object could also show.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from automem.agent.helpers import Helper, HelperContext
from automem.core import Phase
from automem.envs.nethack.language import CMAP_NAMES

Kind = Literal["down", "up"]
SYMBOL = {"down": ">", "up": "<"}
Cells = set[tuple[int, int]]


@functools.cache
def stair_glyphs(kind: Kind, ladders: bool) -> tuple[int, ...]:
    """The glyph numbers of staircases (and ladders) going ``kind``."""
    from nle import nethack

    names = [f"stairs {kind}"] + ([f"ladder {kind}"] if ladders else [])
    return tuple(nethack.GLYPH_CMAP_OFF + CMAP_NAMES.index(name) for name in names)


class StairsParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: tuple[Kind, ...] = Field(
        ("down",), min_length=1, description="Which stairs to find: down ('>'), up ('<')."
    )
    ladders: bool = Field(True, description="Count ladders as stairs.")
    remember: bool = Field(
        True,
        description="Remember stairs seen earlier on each level: the hero standing on them, or "
        "a monster or object there, hides them on the map.",
    )
    say_unseen: bool = Field(True, description="Say so when no such stairs were seen yet.")
    phases: tuple[Phase, ...] = Field(
        ("plan",), min_length=1, description="Phases (log, plan) whose prompt shows it."
    )


class StairsFinder(Helper):
    """Tells where the nearest staircase down (or up) is relative to the hero, or that it is unseen.

    Staircases are found by their glyph on the current level's map, so they are known as soon
    as they have been seen, however far away, e.g. ``Stairs down ('>'): 3 north and 12 east of
    you (at least 12 moves).``; standing on them says so and which action takes them. Until they
    have been seen it says they are still to be found. Helps when the model walks past or loses
    the way to the stairs, the goal of most MiniHack tasks and the way deeper in NetHack
    (MiniHack v4's stairs navigator).
    """

    name = "stairs_finder"
    games = ("nethack", "minihack")
    Params = StairsParams

    def __init__(self, params: StairsParams) -> None:  # type: ignore[override]
        super().__init__(params)
        self.p = params
        self.seen: dict[tuple[str | None, Kind], Cells] = {}
        self.visible: dict[Kind, Cells] = {}

    def on_observation(self, ctx: HelperContext) -> None:
        glyphs = _glyphs(self, ctx)
        level = ctx.env.level()
        for kind in self.p.kinds:
            found = np.argwhere(np.isin(glyphs, stair_glyphs(kind, self.p.ladders)))
            cells = {(int(x), int(y)) for y, x in found}
            self.visible[kind] = cells
            if self.p.remember:
                self.seen.setdefault((level, kind), set()).update(cells)

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        position = ctx.env.position()
        if phase not in self.p.phases or position is None:
            return None
        level = ctx.env.level()
        lines = []
        for kind in self.p.kinds:
            known = self.visible.get(kind, set()) | self.seen.get((level, kind), set())
            line = self.describe(ctx, kind, known, position)
            if line is not None:
                lines.append(line)
        return "\n".join(lines) or None

    def describe(
        self, ctx: HelperContext, kind: Kind, known: Cells, position: tuple[int, int]
    ) -> str | None:
        what = f"Stairs {kind} ('{SYMBOL[kind]}')"
        if not known:
            if not self.p.say_unseen:
                return None
            return f"{what}: not seen yet on this level; explore to find them."
        if position in known:
            action = ctx.env.parse_action(kind)
            take = f": the {action!r} action takes them" if action else ""
            return f"You are standing on the stairs {kind} ('{SYMBOL[kind]}'){take}."
        x, y = position
        tx, ty = min(known, key=lambda c: (max(abs(c[0] - x), abs(c[1] - y)), c))
        moves = max(abs(tx - x), abs(ty - y))
        hidden = "" if (tx, ty) in self.visible.get(kind, set()) else "; seen earlier"
        return (
            f"{what}: {offset(tx - x, ty - y)} of you at x={tx}, y={ty} "
            f"(at least {moves} move{'s' if moves != 1 else ''}{hidden})."
        )


def offset(dx: int, dy: int) -> str:
    """'3 north and 2 east' for an offset (y grows south)."""
    parts = []
    if dy:
        parts.append(f"{abs(dy)} {'north' if dy < 0 else 'south'}")
    if dx:
        parts.append(f"{abs(dx)} {'west' if dx < 0 else 'east'}")
    return " and ".join(parts)


def _glyphs(helper: Helper, ctx: HelperContext) -> np.ndarray:
    read = getattr(ctx.env, "glyphs", None)
    if not callable(read):
        raise ValueError(
            f"helper {helper.name!r} works on NetHack and MiniHack only (it reads the map "
            f"glyphs); this episode's env is {ctx.env.env_id!r}: remove it from the scaffold"
        )
    return read()
