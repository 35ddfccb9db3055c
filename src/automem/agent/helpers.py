"""Helpers: named, configurable programmatic aids a scaffold switches on.

A helper is a small class with typed parameters (a pydantic model) and a few hooks. The
agent calls every hook of every enabled helper; a helper overrides only what it needs.
Game-specific helpers live with their game and are registered here by entry point, so
importing this module never imports a game package.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from automem.core import Observation, Phase, StepResult, TextEnv
from automem.memory import MemoryStore
from automem.scaffold.model import HelperConfig


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class HelperContext:
    """What a helper may look at. ``memory`` lets status-file helpers write (journaled)."""

    env: TextEnv
    memory: MemoryStore
    step: int = 0
    observation: Observation | None = None
    last_result: StepResult | None = None
    actions: list[str] = field(default_factory=list)


class Helper:
    """Base class of helpers. Subclasses set ``name`` and, if they take any, ``Params``.

    Hooks, in the order of a step: ``prompt_context`` (each phase's first prompt),
    ``filter_action`` (a committed action), ``after_step`` (the environment's answer),
    ``on_observation`` (the next observation). A helper that rewrites memory files uses
    ``ctx.memory.write_by_code``: the write is journaled and traced like the model's.
    """

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    def after_step(self, ctx: HelperContext, result: StepResult) -> None:
        """The environment answered the step's action (``ctx.step`` is still that step)."""

    def on_observation(self, ctx: HelperContext) -> None:
        """A new observation arrived: after reset (``ctx.last_result`` None) and every step."""

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        """Extra text for this phase's first prompt of the step, or None."""
        return None

    def filter_action(self, ctx: HelperContext, action: str) -> str | None:
        """None to let the action through, or a one-line reason shown to the model to reject it."""
        return None


# name -> "module:Class"; imported on first use.
_ENTRY_POINTS: dict[str, str] = {
    "stuck_detector": "automem.agent.stuck:StuckDetector",
    "neighbour_map": "automem.envs.nle_map:NeighbourMap",
    "status_file": "automem.agent.file_helpers:StatusFile",
    "prune_file": "automem.agent.file_helpers:PruneFile",
    "inject_tail": "automem.agent.file_helpers:InjectTail",
    "auto_log": "automem.agent.file_helpers:AutoLog",
    "position_tracker": "automem.agent.position:PositionTracker",
    "achievement_checklist": "automem.envs.crafter.helpers:AchievementChecklist",
    "craft_gate": "automem.envs.crafter.helpers:CraftGate",
    "vitals": "automem.envs.crafter.helpers:Vitals",
    "inventory_diff": "automem.envs.crafter.helpers:InventoryDiff",
    "stairs_finder": "automem.envs.nethack.helpers:StairsFinder",
}
_BUILTIN = dict(_ENTRY_POINTS)  # what every fresh process (a worker) knows without plugins


def register_helper(name: str, entry_point: str | type[Helper], *, overwrite: bool = False) -> None:
    """Make a helper available to scaffolds under ``name``."""
    if name in _ENTRY_POINTS and not overwrite:
        raise ValueError(f"helper {name!r} is already registered (pass overwrite=True)")
    _ENTRY_POINTS[name] = entry_point if isinstance(entry_point, str) else _remember(entry_point)


def unregister_helper(name: str) -> None:
    """Forget a helper registered at run time; a built-in name gets its built-in class back."""
    if name in _BUILTIN:
        _ENTRY_POINTS[name] = _BUILTIN[name]
    else:
        _ENTRY_POINTS.pop(name, None)


_CLASSES: dict[str, type[Helper]] = {}


def _remember(cls: type[Helper]) -> str:
    key = f"__class__:{cls.__module__}.{cls.__qualname__}"
    _CLASSES[key] = cls
    return key


def user_helper(name: str) -> str | type[Helper] | None:
    """What a non-built-in helper was registered with (entry point or class); else None."""
    entry = _ENTRY_POINTS.get(name)
    if entry is None or _BUILTIN.get(name) == entry:
        return None
    return _CLASSES.get(entry, entry)


def helper_names() -> list[str]:
    return sorted(_ENTRY_POINTS)


def helper_class(name: str) -> type[Helper]:
    try:
        entry = _ENTRY_POINTS[name]
    except KeyError:
        close = difflib.get_close_matches(name, helper_names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown helper {name!r}.{hint} Known: {', '.join(helper_names())}"
        ) from None
    if entry in _CLASSES:
        return _CLASSES[entry]
    module, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module), attr)


def validate_helpers(configs: Sequence[HelperConfig]) -> list[tuple[type[Helper], BaseModel]]:
    """Each configured helper's class and validated parameters; a ValueError names the helper,
    the parameter and the problem."""
    validated = []
    for config in configs:
        cls = helper_class(config.name)
        try:
            params = cls.Params.model_validate(config.params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"helper {config.name!r}: invalid params: {problems}") from None
        validated.append((cls, params))
    return validated


def build_helpers(configs: Sequence[HelperConfig]) -> list[Helper]:
    """Instantiate a scaffold's helpers, validating each one's parameters."""
    return [cls(params) for cls, params in validate_helpers(configs)]


def describe(name: str) -> dict[str, Any]:
    """Name, summary and parameter schema of a helper (for `automem scaffold helpers`)."""
    cls = helper_class(name)
    return {
        "name": name,
        "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        "params": cls.Params.model_json_schema().get("properties", {}),
    }
