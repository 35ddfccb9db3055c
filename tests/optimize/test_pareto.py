"""The per-instance Pareto pool: a specialist survives and is sampled by its share of wins."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from automem.optimize import MeanGain, ParetoPool
from automem.runs import EpisodeSummary
from tests.conftest import finished_episode as episode


def scored(values: dict[str, list[float]]) -> list[EpisodeSummary]:
    """Episodes of MiniHack-like tasks, seeds 0.. for each task's values."""
    return [
        episode(task, "minihack", seed, v)
        for task, task_values in values.items()
        for seed, v in enumerate(task_values)
    ]


BASE = scored({"room": [0.5, 0.5, 0.5], "maze": [0.5, 0.5, 0.5]})
# Better overall, and best on every maze instance and on room seed 0.
GENERAL = scored({"room": [0.95, 0.6, 0.6], "maze": [0.6, 0.6, 0.6]})
# Worse on average (hurts the maze), but best on room seeds 1 and 2.
SPECIALIST = scored({"room": [0.9, 0.9, 0.9], "maze": [0.0, 0.0, 0.0]})
# Best nowhere: dominated by GENERAL.
DOMINATED = scored({"room": [0.55, 0.55, 0.55], "maze": [0.55, 0.55, 0.55]})


def test_a_specialist_survives_and_is_sampled_by_its_wins() -> None:
    pool = ParetoPool()
    assert pool.admit("base", BASE).accepted
    assert pool.admit("general", GENERAL).accepted
    assert not MeanGain().decide(BASE, SPECIALIST).accepted  # a mean gate would lose it
    specialist = pool.admit("specialist", SPECIALIST)
    assert specialist.accepted and specialist.statistics["instances_best"] == 2
    dominated = pool.admit("dominated", DOMINATED)
    assert not dominated.accepted and dominated.reason == "strictly best on no instance"
    assert pool.candidates == ["base", "general", "specialist", "dominated"]
    assert pool.best_counts() == {"base": 0, "general": 4, "specialist": 2, "dominated": 0}
    assert pool.front() == ["general", "specialist"]
    rng = random.Random(0)
    draws = Counter(pool.sample_parent(rng) for _ in range(3000))
    assert set(draws) == {"general", "specialist"}
    assert draws["specialist"] / 3000 == pytest.approx(1 / 3, abs=0.03)
    replay = random.Random(0)
    assert [pool.sample_parent(replay) for _ in range(3000)].count("specialist") == draws[
        "specialist"
    ]


def test_ties_count_for_every_tied_candidate() -> None:
    pool = ParetoPool()
    pool.add("a", {("room", 0): 0.5, ("room", 1): 0.2})
    pool.add("b", {("room", 0): 0.5, ("room", 1): 0.1})
    assert pool.best_counts() == {"a": 2, "b": 1}
    assert pool.front() == ["a", "b"]


def test_the_pool_refuses_other_instances_and_invalid_candidates() -> None:
    pool = ParetoPool()
    pool.add("a", {("room", 0): 0.5})
    with pytest.raises(ValueError, match=r"candidate 'b' was scored on other instances"):
        pool.add("b", {("room", 1): 0.5})
    with pytest.raises(ValueError, match="already in the pool"):
        pool.add("a", {("room", 0): 0.1})
    broken = [
        episode("room", "minihack", 0, 0.0).model_copy(
            update={"status": "error", "reason": "worker died"}
        )
    ]
    decision = pool.admit("c", broken)
    assert not decision.accepted and "episode room-0 (seed 0) error: worker died" in decision.reason
    assert pool.candidates == ["a"]
    with pytest.raises(ValueError, match="pool is empty"):
        ParetoPool().sample_parent(random.Random(0))
