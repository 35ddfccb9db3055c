"""Evaluation suites: named, versioned sets of tasks and seeds (the reference protocol built in).

A suite expands into a :class:`RunConfig` for one model and a scaffold per game, so an
evaluation is an ordinary run: resumable, one worker pool over all its episodes.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from automem.core import MissingData
from automem.envs.nethack.tasks import MINIHACK_TASKS
from automem.runs.config import RunConfig, SkippedTask, TaskConfig
from automem.scaffold import Scaffold


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int = Field(1, ge=1, description="Bumped whenever tasks, seeds or caps change.")
    description: str = ""
    tasks: tuple[TaskConfig, ...] = Field(min_length=1)

    @property
    def episodes(self) -> int:
        return sum(len(t.seeds) for t in self.tasks)


def _seeds(first: int, count: int) -> tuple[int, ...]:
    return tuple(range(first, first + count))


_CRAFTER = (TaskConfig(env="crafter", seeds=_seeds(42, 10), max_steps=2000),)
_MINIHACK = tuple(
    TaskConfig(env=f"minihack/{task}", seeds=_seeds(42, 5), max_steps=100)
    for task in MINIHACK_TASKS
)
_NETHACK = (TaskConfig(env="nethack", seeds=_seeds(42, 5), max_steps=100_000),)

BUILTIN: dict[str, Suite] = {
    "crafter": Suite(
        name="crafter", description="Crafter: 10 episodes, seeds 42-51, 2000 steps.", tasks=_CRAFTER
    ),
    "minihack": Suite(
        name="minihack",
        description="MiniHack: 8 tasks x 5 episodes, seeds 42-46, 100 steps.",
        tasks=_MINIHACK,
    ),
    "nethack": Suite(
        name="nethack",
        description="NetHack (NetHackChallenge-v0): 5 episodes, seeds 42-46, 100,000 steps.",
        tasks=_NETHACK,
    ),
    "all": Suite(
        name="all",
        description="The three games of the reference protocol.",
        tasks=_CRAFTER + _MINIHACK + _NETHACK,
    ),
}


def load_suite(ref: str | Path) -> Suite:
    """A built-in suite by name, or a user suite from a YAML file (name, version, tasks)."""
    if str(ref) in BUILTIN:
        return BUILTIN[str(ref)]
    path = Path(ref)
    if not path.is_file():
        raise ValueError(
            f"no suite {str(ref)!r}: built-in suites are {', '.join(BUILTIN)}, "
            "or give the path of a suite YAML file"
        )
    try:
        return Suite.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: "
            + e["msg"].removeprefix("Value error, ")  # our own validators' messages
            for e in exc.errors()
        )
        raise ValueError(f"{path}: invalid suite: {problems}") from None


def matches(env_id: str, pattern: str) -> bool:
    """``--task`` matching: the pattern, a text or a glob (``MazeWalk-*``, ``Quest-?asy``),
    found anywhere in the env id, ignoring case."""
    return fnmatch.fnmatchcase(env_id.lower(), f"*{pattern.lower()}*")


def limit_suite(
    suite: Suite,
    *,
    patterns: Sequence[str] = (),
    episodes: int | None = None,
    max_steps: int | None = None,
) -> Suite:
    """The suite cut down: tasks matching any pattern, their first ``episodes`` seeds, and
    every step cap at most ``max_steps``. Each pattern must match a task."""
    tasks = suite.tasks
    if patterns:
        unmatched = [p for p in patterns if not any(matches(t.env, p) for t in tasks)]
        if unmatched:
            raise ValueError(
                f"--task {', '.join(map(repr, unmatched))} matches no task of suite "
                f"{suite.name!r} (its tasks: {', '.join(t.env for t in tasks)})"
            )
        tasks = tuple(t for t in tasks if any(matches(t.env, p) for p in patterns))
    if episodes is not None:
        if episodes < 1:
            raise ValueError("--episodes must be at least 1")
        tasks = tuple(t.model_copy(update={"seeds": t.seeds[:episodes]}) for t in tasks)
    if max_steps is not None:
        if max_steps < 1:
            raise ValueError("--max-steps must be at least 1")
        tasks = tuple(
            t.model_copy(update={"max_steps": min(t.max_steps or max_steps, max_steps)})
            for t in tasks
        )
    return suite.model_copy(update={"tasks": tasks})


def suite_config(
    suite: Suite,
    model: str,
    scaffolds: Sequence[tuple[str, Scaffold]] = (),
    *,
    skip: Mapping[str, MissingData] | None = None,
) -> RunConfig:
    """The run of ``suite`` with ``model``; each (ref, scaffold) serves the tasks of its game.

    Games with no scaffold given keep the suite's own (by default the game's v0). The tasks
    in ``skip`` (env id -> the data it lacks) are left out and recorded in the config.
    """
    skip = skip or {}
    by_game: dict[str, str] = {}
    for ref, scaffold in scaffolds:
        if scaffold.game in by_game:
            raise ValueError(f"two scaffolds given for game {scaffold.game!r}")
        by_game[scaffold.game] = ref
    games = {t.env.split("/", 1)[0] for t in suite.tasks}
    unused = sorted(set(by_game) - games)
    if unused:
        raise ValueError(
            f"suite {suite.name!r} has no task of game(s) {unused} the scaffolds are for"
        )
    tasks = tuple(
        t.model_copy(update={"scaffold": by_game.get(t.env.split("/", 1)[0], t.scaffold)})
        for t in suite.tasks
        if t.env not in skip
    )
    if not tasks:
        raise ValueError(f"every task of suite {suite.name!r} lacks its data; nothing to run")
    skipped = tuple(
        SkippedTask(env=t.env, reason=f"data missing: {skip[t.env].data}")
        for t in suite.tasks
        if t.env in skip
    )
    return RunConfig(model=model, tasks=tasks, skipped=skipped)
