"""Shared settings of the optimiser tests: tiny real MiniHack evaluations with a test agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from automem.optimize.config import OptimizeConfig, PairedRule
from automem.runs import TaskConfig

PLUGIN = str(Path(__file__).with_name("agent_plugin.py").resolve())
TASK = "minihack/MiniHack-MazeWalk-9x9-v0"
ACCEPT_ALL = PairedRule(min_gain=-0.5, resamples=200)  # tiny episodes all score 0: ties pass


def config(**fields: Any) -> OptimizeConfig:
    """Seeds 1-4 (gate 1 and 3, held out 2 and 4), 3 steps, the marker test agent."""
    base: dict[str, Any] = {
        "tasks": (TaskConfig(env=TASK, seeds=(1, 2, 3, 4), max_steps=3),),
        "scaffold": "minihack-v0",
        "model": "marker",
        "reviewer": "plan",
        "versions": 2,
        "fresh_attempts": 2,
        "acceptance": ACCEPT_ALL,
        "screen_size": 1,
        "plugins": (PLUGIN,),
    }
    return OptimizeConfig(**(base | fields))


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def episode_seeds(run_dir: Path) -> set[int]:
    return {read(p)["seed"] for p in (run_dir / "episodes").glob("*/result.json")}


def result_stamps(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every finished episode's result and trace, and of every review."""
    stamps = {}
    patterns = ("**/episodes/*/result.json", "**/episodes/*/trace.jsonl", "**/review.json")
    for pattern in patterns:
        for path in root.glob(pattern):
            info = path.stat()
            stamps[str(path.relative_to(root))] = (info.st_ino, info.st_mtime_ns)
    return stamps
