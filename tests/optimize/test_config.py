"""OptimizeConfig: seed splits per task, step caps, one game, what a resume may change."""

from __future__ import annotations

import pytest

from automem.optimize.config import OptimizeConfig
from automem.runs import TaskConfig

MAZE = TaskConfig(env="minihack/MiniHack-MazeWalk-9x9-v0", seeds=(42, 43, 44, 45), max_steps=100)
QUEST = TaskConfig(env="minihack/MiniHack-Quest-Easy-v0", seeds=(42, 43, 44, 45))


def make(**fields: object) -> OptimizeConfig:
    base = {"tasks": (MAZE, QUEST), "scaffold": "minihack-v0", "model": "scripted"}
    return OptimizeConfig(**(base | {"reviewer": "rules"} | fields))  # type: ignore[arg-type]


def test_each_task_splits_into_disjoint_gate_and_heldout_seeds() -> None:
    gate, held = make(gate_seeds=(42, 44), max_steps=30).split()
    assert [(t.seeds, t.max_steps) for t in gate] == [((42, 44), 30), ((42, 44), 30)]
    assert [t.seeds for t in held] == [(43, 45), (43, 45)]
    shuffled_gate, shuffled_held = make().split()
    for g, h, task in zip(shuffled_gate, shuffled_held, (MAZE, QUEST), strict=True):
        assert not set(g.seeds) & set(h.seeds) and set(g.seeds) | set(h.seeds) == set(task.seeds)
    gate, held = make(reuse_gate_seeds=True).split()
    assert [t.seeds for t in gate] == [MAZE.seeds, QUEST.seeds] and held == ()


def test_bad_splits_and_mixed_games_are_refused_with_the_task_named() -> None:
    with pytest.raises(ValueError, match=r"task minihack/MiniHack-MazeWalk-9x9-v0: gate seeds"):
        make(gate_seeds=(1,))
    with pytest.raises(ValueError, match="improves the scaffold of one game"):
        make(tasks=(MAZE, TaskConfig(env="crafter", seeds=(1, 2))))


def test_a_resume_may_change_workers_budgets_and_versions_only() -> None:
    a = make()
    assert a.comparable() == make(workers=4, versions=9, budget={"max_episodes": 3}).comparable()
    assert a.comparable() != make(screen_size=1).comparable()
