"""What the reviewer tests share: a real small MiniHack run, contexts, and proposals.

The run is made once per test session with :func:`automem.runs.run` and the scripted agent
model (2 seeds, 20 steps at most), and copied for a test that changes it.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest

from automem.optimize.review import ReviewContext, ReviewLimits
from automem.runs import RunConfig, run
from automem.scaffold import HelperConfig, Scaffold, dump, load

ENV = "minihack/MiniHack-MazeWalk-9x9-v0"
SEEDS = (1, 2)
EPISODES = tuple(f"minihack__MiniHack-MazeWalk-9x9-v0__seed{s}" for s in SEEDS)
OBJECTIVE = "Reach the staircase down in each MiniHack task (progression 1.0 when solved)."


@pytest.fixture(scope="session")
def minihack_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reviewer") / "parent-run"
    config = RunConfig(env=ENV, model="scripted", seeds=SEEDS, max_steps=20)
    run(config, out)
    return out


def parent() -> Scaffold:
    return load("minihack-v0")


def context(runs: tuple[Path, ...], **fields: Any) -> ReviewContext:
    values: dict[str, Any] = {
        "game": "minihack",
        "objective": OBJECTIVE,
        "parent_text": dump(parent()),
        "parent_runs": runs,
        "limits": ReviewLimits(max_turns=20),
    }
    values.update(fields)
    return ReviewContext(**values)


def child(name: str = "minihack-v1", helpers: tuple[HelperConfig, ...] | None = None) -> Scaffold:
    """A structural revision of the parent: auto_log switched on (or the given helpers)."""
    chosen = helpers if helpers is not None else (HelperConfig(name="auto_log"),)
    return parent().model_copy(update={"name": name, "parent": "minihack-v0", "helpers": chosen})


def child_yaml(**kwargs: Any) -> str:
    return dump(child(**kwargs))


def child_patch(**kwargs: Any) -> str:
    """The revision as a unified diff of the parent's normalised YAML."""
    lines = difflib.unified_diff(
        dump(parent()).splitlines(keepends=True),
        child_yaml(**kwargs).splitlines(keepends=True),
        fromfile="parent",
        tofile="child",
    )
    return "".join(lines)


def wording_only() -> str:
    """A renamed copy of the parent with reworded help only: no structural change."""
    scaffold = parent().model_copy(
        update={"name": "minihack-v1", "parent": "minihack-v0", "description": "reworded"}
    )
    return dump(scaffold)


def submit(scaffold: str, analysis: str = "The log is sparse.", description: str = "auto_log on"):
    return ("submit", {"scaffold": scaffold, "analysis": analysis, "description": description})


def events(attempt: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (attempt / "transcript.jsonl").read_text().splitlines()]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
