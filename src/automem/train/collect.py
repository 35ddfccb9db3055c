"""Collection for loop 2: episodes on seeds disjoint from every evaluation and gate seed known.

The known seeds are those of the built-in suites, of the suite collected from, of any other
suite named, and of every run directory under the paths given (an optimisation folder holds
its gate and report runs as run directories; any folder with a ``run.json`` counts). They are
kept per environment id: the same seed in another environment is another instance.

Seeds are drawn reproducibly from 1000..99999 (the reference's range), by a generator seeded
with the draw seed and the environment id; seeds already drawn or known are skipped, so the
draw for N episodes is the first N of the draw for more. Explicit seeds are checked instead:
any overlap is refused, naming the seeds and where they are used. By default each task gets
the reference's number of episodes for its game (method.md: Crafter 100, MiniHack 50 per
task, NetHack 50).

The collection is an ordinary run (:func:`automem.runs.run`): resumable by rerunning the same
command. ``collect.json`` beside ``run.json`` records the draw.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automem.runs.config import RunConfig
from automem.runs.directory import RunDir, write_json_atomic
from automem.runs.suites import BUILTIN, Suite

REFERENCE_EPISODES = {"crafter": 100, "minihack": 50, "nethack": 50}  # per task
SEED_RANGE = (1000, 99999)
RECORD = "collect.json"

Known = dict[str, dict[int, list[str]]]  # env id -> seed -> where it is used


def _game(env: str) -> str:
    return env.split("/", 1)[0]


def _add(known: Known, env: str, seeds: Sequence[int], source: str) -> None:
    for seed in seeds:
        where = known.setdefault(env, {}).setdefault(seed, [])
        if source not in where:
            where.append(source)


def run_dirs(path: Path) -> list[Path]:
    """``path`` if it is a run directory, else every run directory under it (sorted)."""
    if (path / "run.json").is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"--avoid {path}: no such folder (give a run or optimisation folder)")
    found = sorted(
        p.parent
        for p in path.rglob("run.json")
        if "episodes" not in p.relative_to(path).parts and not p.parent.is_symlink()
    )
    if not found:
        raise ValueError(f"--avoid {path}: no run directory (a folder with run.json) under it")
    return found


def known_seeds(suites: Sequence[Suite] = (), avoid: Sequence[Path] = ()) -> Known:
    """Every evaluation and gate seed known: built-in suites, ``suites``, runs under ``avoid``."""
    known: Known = {}
    for suite in (*BUILTIN.values(), *suites):
        for task in suite.tasks:
            _add(known, task.env, task.seeds, f"suite {suite.name} v{suite.version}")
    for path in avoid:
        for root in run_dirs(path):
            for task in RunDir(root).config().tasks:
                _add(known, task.env, task.seeds, f"run {root}")
    return known


def overlaps(config: RunConfig, known: Known) -> list[str]:
    """One line per task whose seeds are known evaluation or gate seeds."""
    lines = []
    for task in config.tasks:
        clash = sorted(s for s in task.seeds if s in known.get(task.env, {}))
        if clash:
            sources = sorted({src for s in clash for src in known[task.env][s]})
            shown = ", ".join(map(str, clash[:20])) + (" ..." if len(clash) > 20 else "")
            lines.append(f"{task.env} seeds {shown} (used by {'; '.join(sources)})")
    return lines


def draw_seeds(
    env: str, count: int, draw_seed: int, avoid: set[int], low: int, high: int
) -> tuple[int, ...]:
    """``count`` distinct seeds of low..high not in ``avoid``, reproducibly."""
    free = (high - low + 1) - len({s for s in avoid if low <= s <= high})
    if count < 1 or count > free:
        raise ValueError(f"cannot draw {count} seeds for {env}: {free} free in {low}..{high}")
    rng = random.Random(f"automem-collect:{draw_seed}:{env}")
    drawn: list[int] = []
    taken = set(avoid)
    while len(drawn) < count:
        seed = rng.randint(low, high)
        if seed not in taken:
            taken.add(seed)
            drawn.append(seed)
    return tuple(drawn)


@dataclass(frozen=True)
class CollectPlan:
    config: RunConfig
    record: dict[str, Any]


def plan_collection(
    suite: Suite,
    config: RunConfig,
    *,
    known: Known,
    episodes: int | None = None,
    seeds: Sequence[int] | None = None,
    draw_seed: int = 0,
    seed_range: tuple[int, int] = SEED_RANGE,
) -> CollectPlan:
    """``config`` (the suite's run) with collection seeds instead of the suite's.

    ``seeds`` are used as given (every task) and refused on any overlap; otherwise each task
    draws ``episodes`` (default: the reference size of its game) seeds avoiding ``known``.
    """
    low, high = seed_range
    if not 0 <= low <= high:
        raise ValueError(f"bad seed range {low}..{high}")
    tasks = []
    for task in config.tasks:
        if seeds is not None:
            chosen = tuple(seeds)
        else:
            count = episodes if episodes is not None else REFERENCE_EPISODES.get(_game(task.env))
            if count is None:
                raise ValueError(f"no reference collection size for {task.env}; give --episodes")
            avoid = set(known.get(task.env, {}))
            chosen = draw_seeds(task.env, count, draw_seed, avoid, low, high)
        tasks.append(task.model_copy(update={"seeds": chosen}))
    planned = config.model_copy(update={"tasks": tuple(tasks)})
    if clash := overlaps(planned, known):
        raise ValueError(
            "collection seeds overlap evaluation or gate seeds, refusing: " + "; ".join(clash)
        )
    record = {
        "suite": {"name": suite.name, "version": suite.version},
        "draw_seed": None if seeds is not None else draw_seed,
        "seed_range": [low, high],
        "explicit_seeds": seeds is not None,
        "episodes": {t.env: len(t.seeds) for t in planned.tasks},
        # How the episodes were drawn from the model (None: the scaffold's own setting).
        "constrained_output": config.constrained_output,
        "routine": config.routine.model_dump(),
        "avoided": {env: sorted(known[env]) for env in sorted(known)},
        "avoided_sources": sorted({s for env in known.values() for w in env.values() for s in w}),
    }
    return CollectPlan(config=RunConfig.model_validate(planned.model_dump()), record=record)


def write_record(out: Path, plan: CollectPlan) -> None:
    """Record the draw beside run.json (once the run directory exists)."""
    if (out / "run.json").is_file():
        write_json_atomic(out / RECORD, plan.record)
