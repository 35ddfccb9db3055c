"""Crafter as a text environment, following the BALROG benchmark protocol.

* The game is crafter 1.8.3's own simulation (``crafter.Env.step``), run headless: no textures
  are loaded and no image is ever rendered; the text comes from the world's maps
  (:mod:`automem.envs.crafter.text`).
* ``reset(seed)`` builds the world as ``crafter.Env(seed=seed).reset()`` does and then takes one
  Noop step, like BALROG's language wrapper; the agent's steps are counted from there.
* Rewards are crafter's (+1 per new achievement, +-0.1 per health point gained or lost);
  progression is the number of distinct achievements unlocked out of 22; an episode ends on
  death (terminated) or after ``max_steps`` agent steps (truncated, 2000 by default).
* Episodes are exactly reproducible: crafter keeps the creatures of each world chunk in a
  ``set``, whose iteration order (it picks creatures to despawn from it) follows object
  addresses and so varies from run to run. Our world keeps them in insertion-ordered sets.
* World generation costs about a second of pure-Python noise, so freshly generated worlds are
  kept per seed (a small in-process LRU of deep copies); a repeated seed starts from an exact
  copy of the same initial state.
"""

from __future__ import annotations

import collections
import copy
import threading
from collections.abc import Iterable, Iterator, MutableSet
from typing import Any

import crafter
import numpy as np
from crafter import constants, engine

from automem.core import ActionSpec, Observation, StepResult, TextEnv
from automem.envs.crafter.text import describe, facing_name, local_grid

ACHIEVEMENTS: tuple[str, ...] = tuple(constants.achievements)
N_ACHIEVEMENTS = len(ACHIEVEMENTS)  # 22

# BALROG's action names, in crafter's action order (index i is constants.actions[i]).
ACTION_NAMES: tuple[str, ...] = (
    "Noop",
    "Move West",
    "Move East",
    "Move North",
    "Move South",
    "Do",
    "Sleep",
    "Place Stone",
    "Place Table",
    "Place Furnace",
    "Place Plant",
    "Make Wood Pickaxe",
    "Make Stone Pickaxe",
    "Make Iron Pickaxe",
    "Make Wood Sword",
    "Make Stone Sword",
    "Make Iron Sword",
)
assert len(ACTION_NAMES) == len(constants.actions)


# --------------------------------------------------------------------------- action texts


def _join(words: Iterable[str], last: str = "and") -> str:
    words = list(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def _words(name: str) -> str:
    return name.replace("_", " ")


def _amounts(uses: dict[str, int]) -> str:
    return _join(f"{n} {_words(item)}" for item, n in uses.items())


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _collect_summary() -> str:
    free, needs = [], collections.defaultdict(list)
    for material, info in constants.collect.items():
        if material == "water":
            continue
        if info["require"]:
            needs[_amounts(info["require"]).removeprefix("1 ")].append(material)
        elif info.get("probability", 1) < 1:
            gets = _join(_words(k) for k in info["receive"])
            free.append(f"{material} sometimes gives {_a(gets)}")
        else:
            free.append(f"{material} gives {_join(_words(k) for k in info['receive'])}")
    free += [
        f"{_join(mats)} need{'s' if len(mats) == 1 else ''} {_a(tool)}"
        for tool, mats in needs.items()
    ]
    return "; ".join(free)


def _unlocks(tool: str) -> str:
    mats = [m for m, info in constants.collect.items() if tool in info["require"]]
    return f"; lets you collect {_join(mats)}" if mats else ""


def _place_text(name: str) -> str:
    info = constants.place[name]
    where = _join(info["where"], "or")
    if name == "plant":
        uses = _amounts(info["uses"])
        return f"needs {uses}; plants it on the {where} you face; eat the plant once it is ripe"
    return f"needs {_amounts(info['uses'])}; puts {_a(_words(name))} on the {where} you face"


def _make_text(name: str) -> str:
    info = constants.make[name]
    nearby, uses = _join(info["nearby"]), _amounts(info["uses"])
    if len(info["nearby"]) == 1 and len(info["uses"]) == 1:
        need = f"needs a nearby {nearby} and {uses}"
    else:
        need = f"needs a nearby {nearby}, plus {uses}"
    effect = _unlocks(name) if name.endswith("pickaxe") else "; raises the damage you deal"
    return need + effect


def _action_specs() -> tuple[ActionSpec, ...]:
    walkable = _join(constants.walkable, "or")
    descriptions = {
        "Noop": "do nothing this step",
        "Do": (
            "interact with what you face: collect material ("
            + _collect_summary()
            + "), drink water, attack a creature (zombie, skeleton, cow), eat a cow "
            "(hit it until it dies), eat a ripe plant"
        ),
        "Sleep": (
            "sleep to restore energy until it is full; you wake up early when hurt, "
            "and zombies hit sleepers much harder, so enclose yourself first"
        ),
    }
    for direction in ("West", "East", "North", "South"):
        descriptions[f"Move {direction}"] = (
            f"face {direction.lower()} and step there if the cell is {walkable} "
            "(walking into lava kills you)"
        )
    for name in constants.place:
        descriptions[f"Place {_words(name).title()}"] = _place_text(name)
    for name in constants.make:
        descriptions[f"Make {_words(name).title()}"] = _make_text(name)
    return tuple(ActionSpec(name=n, description=descriptions[n]) for n in ACTION_NAMES)


ACTIONS: tuple[ActionSpec, ...] = _action_specs()
_ACTION_INDEX = {name: i for i, name in enumerate(ACTION_NAMES)}


# --------------------------------------------------------------------------- headless crafter


class _OrderedSet(MutableSet):
    """A set that iterates in insertion order (crafter's chunk sets iterate by address)."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._items: dict[Any, None] = dict.fromkeys(items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Any) -> None:
        self._items[item] = None

    def discard(self, item: Any) -> None:
        self._items.pop(item, None)

    def remove(self, item: Any) -> None:
        del self._items[item]

    def __repr__(self) -> str:
        return f"_OrderedSet({list(self._items)!r})"


class _OrderedWorld(engine.World):
    """crafter's world with insertion-ordered chunk sets, so creature balancing is reproducible."""

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._chunks = collections.defaultdict(_OrderedSet)


def _no_semantic_view() -> None:
    return None


class _HeadlessCrafter(crafter.Env):
    """``crafter.Env`` that never loads textures or renders: ``step`` returns ``None`` as obs.

    ``crafter.Env.__init__`` is deliberately not called (it loads every texture and builds the
    image views); the attributes its ``reset``/``step`` use are set here instead. ``step``,
    ``_balance_chunk`` and ``_update_time`` are crafter's own.
    """

    def __init__(self, area: tuple[int, int], view: tuple[int, int], size: tuple[int, int]) -> None:
        self._area = area
        self._view = np.array(view)
        self._size = np.array(size)
        self._reward = True
        self._length = None  # the text env counts steps and truncates itself
        self._seed = 0
        self._episode = 0
        self._world = _OrderedWorld(area, constants.materials, (12, 12))
        self._textures = None
        self._local_view = None
        self._item_view = None
        self._sem_view = _no_semantic_view  # crafter puts it in info each step; we don't use it
        self._step = None
        self._player = None
        self._last_health = None
        self._unlocked = None
        self.reward_range = None
        self.metadata = None

    def render(self, size: Any = None) -> Any:
        raise RuntimeError("the text Crafter environment never renders images")

    def _obs(self) -> None:
        return None

    def reset_to_seed(self, seed: int) -> None:
        """Start the episode ``crafter.Env(seed=seed).reset()`` starts (its first episode)."""
        self._seed = seed
        self._episode = 0
        key = (seed, tuple(self._area))
        cached = _WORLD_CACHE.get(key)
        if cached is None:
            crafter.Env.reset(self)
            _WORLD_CACHE.put(key, (self._world, self._player))
            return
        # Same state as crafter.Env.reset leaves, from a copy of a world generated earlier.
        self._episode = 1
        self._step = 0
        self._world, self._player = cached
        self._update_time()
        self._last_health = self._player.health
        self._unlocked = set()


class _WorldCache:
    """Freshly generated worlds by seed (world generation is ~1 s of pure-Python noise).

    Entries are deep copies, taken before any step; ``get`` hands out a new deep copy, so the
    episode starts from exactly the state generation produced.
    """

    def __init__(self, capacity: int = 16) -> None:
        self._capacity = capacity
        self._entries: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        return copy.deepcopy(entry)

    def put(self, key: Any, value: Any) -> None:
        snapshot = copy.deepcopy(value)
        with self._lock:
            self._entries[key] = snapshot
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_WORLD_CACHE = _WorldCache()


# --------------------------------------------------------------------------- the text env


def _pair(value: Any, name: str) -> tuple[int, int]:
    pair = tuple(int(v) for v in value) if hasattr(value, "__len__") else (int(value),) * 2
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


class CrafterEnv(TextEnv):
    """Crafter through BALROG's text view; see the module docstring for the protocol."""

    env_id = "crafter"
    game = "crafter"
    title = "Crafter"
    actions = ACTIONS
    default_action = "Noop"

    def __init__(
        self,
        *,
        max_steps: int = 2000,
        area: tuple[int, int] = (64, 64),
        view: tuple[int, int] = (9, 9),
        size: tuple[int, int] = (64, 64),
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        self.max_steps = int(max_steps)
        self.area = _pair(area, "area")
        self.view = _pair(view, "view")
        self.size = _pair(size, "size")  # image size in crafter; kept for parity, never rendered
        self.grid = local_grid(self.view)
        if self.grid[1] < 1:
            raise ValueError(f"view {self.view} leaves no rows for the local view")
        self._sim = _HeadlessCrafter(self.area, self.view, self.size)
        self._steps = 0
        self._done = True
        self._started = False
        self._reported: set[str] = set()

    # ----------------------------------------------------------------- protocol

    def reset(self, seed: int) -> Observation:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self._sim.reset_to_seed(int(seed))
        self._sim.step(_ACTION_INDEX["Noop"])  # BALROG's wrapper takes a Noop inside reset
        self._steps = 0
        self._started = True
        self._done = self._player.health <= 0
        self._reported = set(self._unlocked_names())
        return self.observe()

    def step(self, action: str) -> StepResult:
        if not self._started:
            raise RuntimeError("call reset(seed) before step()")
        if self._done:
            raise RuntimeError("the episode is over; call reset(seed) to start another")
        name = self.parse_action(action)
        valid = name is not None
        if name is None:
            name = self.default_action
        _, reward, _, _ = self._sim.step(_ACTION_INDEX[name])
        self._steps += 1
        unlocked = self._unlocked_names()
        new = [a for a in unlocked if a not in self._reported]
        self._reported.update(new)
        terminated = self._player.health <= 0
        truncated = not terminated and self._steps >= self.max_steps
        self._done = terminated or truncated
        return StepResult(
            observation=self.observe(),
            reward=float(reward),
            terminated=terminated,
            truncated=truncated,
            progression=len(unlocked) / N_ACHIEVEMENTS,
            action=name,
            valid=valid,
            info={
                "achievements_unlocked": new,
                "achievements": unlocked,
                "inventory": dict(self._player.inventory),
                "step": self._steps,
            },
        )

    @property
    def progression(self) -> float:
        if not self._started:
            return 0.0
        return len(self._unlocked_names()) / N_ACHIEVEMENTS

    def close(self) -> None:
        self._done = True

    # ----------------------------------------------------------------- extras

    def observe(self) -> Observation:
        """The observation of the current state (what the last reset/step returned)."""
        if not self._started:
            raise RuntimeError("call reset(seed) first")
        text, short_term = describe(self._sim._world, self._player, self.grid)
        return Observation(text=text, short_term=short_term)

    @property
    def steps(self) -> int:
        """Agent steps taken since the last reset."""
        return self._steps

    @property
    def achievements(self) -> list[str]:
        """Achievements unlocked so far, in crafter's (alphabetical) order."""
        return self._unlocked_names() if self._started else []

    def inventory(self) -> dict[str, int]:
        """A copy of the player's inventory: the four vitals and every item, by crafter name."""
        return {name: int(n) for name, n in self._player.inventory.items()} if self._started else {}

    def position(self) -> tuple[int, int] | None:
        """The player's ``(x, y)`` in the world (x grows east, y south)."""
        return (int(self._player.pos[0]), int(self._player.pos[1])) if self._started else None

    def nearby_materials(self, distance: int = 1) -> set[str]:
        """Materials within ``distance`` cells (a square), as crafter's own crafting check sees."""
        if not self._started:
            return set()
        materials, _ = self._sim._world.nearby(self._player.pos, distance)
        return {name for name in materials if name is not None}

    def front(self) -> str | None:
        """What the player faces: a creature or plant there, else the material; None off the map."""
        if not self._started:
            return None
        return facing_name(self._sim._world, self._player)

    @property
    def world(self) -> Any:
        """The underlying ``crafter.engine.World`` (for tests and analysis)."""
        return self._sim._world

    @property
    def player(self) -> Any:
        """The underlying ``crafter.objects.Player``."""
        return self._player

    @property
    def _player(self) -> Any:
        return self._sim._player

    def _unlocked_names(self) -> list[str]:
        done = self._player.achievements
        return [name for name in ACHIEVEMENTS if done[name] > 0]
