"""Crafter's helpers: the achievement checklist, craft gating, vitals urgency, inventory changes.

They read the game through :class:`~automem.envs.crafter.env.CrafterEnv`'s public accessors
(``achievements``, ``inventory()``, ``nearby_materials()``, ``front()``) and the requirement
table crafter ships as data (``crafter/data.yaml``, loaded by ``crafter.constants``).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from crafter import constants
from pydantic import BaseModel, ConfigDict, Field

from automem.agent.file_helpers import FileName, WritingHelper, content
from automem.agent.helpers import Helper, HelperContext
from automem.core import Phase
from automem.envs.crafter.env import ACHIEVEMENTS, CrafterEnv
from automem.envs.crafter.text import VITALS
from automem.memory import Op
from automem.memory.edits import overwrite

GAMES = ("crafter",)
NEARBY = 1  # crafter's Player._make looks for tables and furnaces within this many cells
PHASES_HELP = "Phases (log, plan) whose first prompt of the step shows it."


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def crafter_env(helper: Helper, ctx: HelperContext) -> CrafterEnv:
    """The context's env as Crafter, or a clear error naming the helper."""
    if not isinstance(ctx.env, CrafterEnv):
        raise ValueError(
            f"helper {helper.name!r} works on Crafter only (it reads the Crafter env's state); "
            f"this episode's env is {ctx.env.env_id!r}: remove it from the scaffold"
        )
    return ctx.env


def words(name: str) -> str:
    return name.replace("_", " ")


# --------------------------------------------------------------------------- checklist


class ChecklistParams(_Params):
    phases: tuple[Phase, ...] = Field(("plan",), min_length=1, description=PHASES_HELP)
    show: Literal["all", "missing"] = Field(
        "all", description="all: done and missing achievements; missing: only those not done."
    )
    file: FileName | None = Field(
        None, description="Also keep the checklist in this memory file (rewritten on change)."
    )


class AchievementChecklist(WritingHelper):
    """Shows Crafter's 22 achievements as a checklist: which are done and which are still open.

    Progression in Crafter is the share of the 22 achievements unlocked, so the open ones are
    the goals. The checklist comes from the game's own record of unlocked achievements, so it
    is never stale; with ``file`` set it is also kept in a memory file the model can read and
    search. Helps when the model forgets what it has already achieved, or repeats an easy
    achievement instead of moving up the tech tree (Crafter v5's 22-item checklist).
    """

    name = "achievement_checklist"
    games = GAMES
    Params = ChecklistParams

    def __init__(self, params: ChecklistParams) -> None:  # type: ignore[override]
        super().__init__(params)
        self.p = params

    def text(self, done: list[str]) -> str:
        missing = [a for a in ACHIEVEMENTS if a not in done]
        head = f"Achievements: {len(done)} of {len(ACHIEVEMENTS)} done."
        lines = [head]
        if self.p.show == "all":
            lines += [f"[x] {words(a)}" for a in ACHIEVEMENTS if a in done]
        lines += [f"[ ] {words(a)}" for a in missing]
        return "\n".join(lines)

    def on_observation(self, ctx: HelperContext) -> None:
        env = crafter_env(self, ctx)
        if self.p.file is not None:
            text = self.text(env.achievements)
            if content(ctx, self.p.file) != overwrite(text):
                self._write(ctx, Op.WRITE, self.p.file, text)

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        shown = [self._take_refusal()]
        if phase in self.p.phases:
            shown.append(self.text(crafter_env(self, ctx).achievements))
        return "\n".join(t for t in shown if t) or None


# --------------------------------------------------------------------------- craft gate


@functools.cache
def recipes() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Action name -> (make or place, crafter's name, its entry of crafter's data.yaml)."""
    table: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for kind, entries in (("make", constants.make), ("place", constants.place)):
        for item, info in entries.items():
            table[f"{kind.title()} {words(item).title()}"] = (kind, item, info)
    return table


class GateParams(_Params):
    kinds: tuple[Literal["make", "place"], ...] = Field(
        ("make", "place"), min_length=1, description="Which actions are checked: Make, Place."
    )
    check_target: bool = Field(
        True,
        description="For Place, also check the cell you face (e.g. a table needs grass, sand "
        "or path there, and no creature).",
    )


class CraftGate(Helper):
    """Rejects Crafter Make and Place actions whose requirements are unmet, saying what is missing.

    Requirements come from crafter's own table (``data.yaml``: the materials each recipe uses,
    the table or furnace it needs nearby, the cells a placed item can go on) checked against the
    inventory and surroundings at that moment. The model sees the refusal and can choose again
    in the same PLAN. Helps when the model wastes steps on crafts that silently do nothing in
    Crafter (Crafter v5's gating of impossible crafts).
    """

    name = "craft_gate"
    games = GAMES
    Params = GateParams

    def filter_action(self, ctx: HelperContext, action: str) -> str | None:
        p: GateParams = self.params  # type: ignore[assignment]
        env = crafter_env(self, ctx)
        recipe = recipes().get(env.parse_action(action) or "")
        if recipe is None or recipe[0] not in p.kinds:
            return None
        kind, item, info = recipe
        inventory = env.inventory()
        missing = [
            f"{n - inventory.get(k, 0)} more {words(k)} (have {inventory.get(k, 0)}, needs {n})"
            for k, n in info["uses"].items()
            if inventory.get(k, 0) < n
        ]
        if kind == "make":
            near = env.nearby_materials(NEARBY)
            missing += [f"a {words(m)} nearby" for m in info["nearby"] if m not in near]
        elif p.check_target and (front := env.front()) not in info["where"]:
            where = ", ".join(words(w) for w in info["where"])
            missing.append(
                f"a free cell of {where} in front of you (you face {front or 'nothing'})"
            )
        if not missing:
            return None
        done = "made" if kind == "make" else "placed"
        return f"{words(item)} cannot be {done} now: it needs " + "; ".join(missing) + "."


# --------------------------------------------------------------------------- vitals


class VitalsParams(_Params):
    health: int = Field(4, ge=0, le=9, description="Warn at or below this health; 0: never.")
    food: int = Field(3, ge=0, le=9, description="Warn at or below this food; 0: never.")
    drink: int = Field(3, ge=0, le=9, description="Warn at or below this drink; 0: never.")
    energy: int = Field(3, ge=0, le=9, description="Warn at or below this energy; 0: never.")
    phases: tuple[Phase, ...] = Field(("plan",), min_length=1, description=PHASES_HELP)


REMEDIES = {
    "health": "it recovers while food, drink and energy are above zero; avoid zombies, "
    "skeletons, arrows and lava",
    "food": "eat: hit a cow until it dies (Do), or eat a ripe plant",
    "drink": "drink: face water and Do",
    "energy": "sleep (Sleep), after walling yourself in against zombies",
}


class Vitals(Helper):
    """Warns with an urgency line for each Crafter vital (health, food, drink, energy) that is low.

    Each vital at or below its threshold gets a line with its value and the remedy, lowest
    first, so survival comes before exploring. Helps when the agent dies of thirst, hunger or
    exhaustion while busy with a long goal (Crafter v5's code-computed vitals urgency).
    """

    name = "vitals"
    games = GAMES
    Params = VitalsParams

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        p: VitalsParams = self.params  # type: ignore[assignment]
        if phase not in p.phases:
            return None
        inventory = crafter_env(self, ctx).inventory()
        low = sorted(
            (inventory[v], v) for v in VITALS if inventory[v] <= getattr(p, v) and getattr(p, v)
        )
        if not low:
            return None
        return "\n".join(
            f"URGENT: {v} is {n}/{constants.items[v]['max']}: {REMEDIES[v]}." for n, v in low
        )


# --------------------------------------------------------------------------- inventory diff


class DiffParams(_Params):
    phases: tuple[Phase, ...] = Field(("log", "plan"), min_length=1, description=PHASES_HELP)
    vitals: bool = Field(True, description="Include changes of health, food, drink and energy.")
    say_unchanged: bool = Field(
        False, description="Say so when nothing changed (otherwise show nothing)."
    )


class InventoryDiff(Helper):
    """Says what changed in the Crafter inventory (and vitals) with the last action.

    E.g. ``Since your last action (Do): wood +1.`` after collecting, or ``stone -1`` after
    placing stone, so the outcome of an action is explicit instead of having to be spotted by
    comparing two status blocks. Helps when the model misjudges whether an action worked and
    logs wrong outcomes (Crafter v5's inventory diff).
    """

    name = "inventory_diff"
    games = GAMES
    Params = DiffParams

    def __init__(self, params: DiffParams) -> None:  # type: ignore[override]
        super().__init__(params)
        self.p = params
        self._before: dict[str, int] | None = None
        self.changes: dict[str, int] | None = None  # None until an action was answered

    def on_observation(self, ctx: HelperContext) -> None:
        now = crafter_env(self, ctx).inventory()
        if self._before is not None:
            keys = [k for k in now if self.p.vitals or k not in VITALS]
            self.changes = {k: now[k] - self._before.get(k, 0) for k in keys}
            self.changes = {k: d for k, d in self.changes.items() if d}
        self._before = now

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        if phase not in self.p.phases or self.changes is None or ctx.last_result is None:
            return None
        since = f"Since your last action ({ctx.last_result.action})"
        if not self.changes:
            return f"{since}: your inventory did not change." if self.p.say_unchanged else None
        return f"{since}: " + ", ".join(f"{words(k)} {d:+d}" for k, d in self.changes.items()) + "."
