"""Gate rules, screening, seed splits and validity on constructed summaries with known answers."""

from __future__ import annotations

import pytest

from automem.optimize import (
    MeanGain,
    PairedGain,
    check_valid,
    screen,
    screening_subset,
    split_seeds,
)
from automem.runs import EpisodeSummary, summarise
from automem.traces import EpisodeTotals
from tests.conftest import finished_episode as episode

PARENT = [0.10, 0.40, 0.05, 0.60, 0.30, 0.20, 0.55, 0.15, 0.35, 0.25]
# Differences that swing widely by seed and average +0.014: a lucky revision.
NOISE = [0.30, -0.28, 0.25, -0.22, 0.20, -0.18, 0.15, -0.15, 0.12, -0.05]


def run_of(values: list[float], task: str = "crafter") -> list[EpisodeSummary]:
    return [episode(task, "crafter", 42 + i, v) for i, v in enumerate(values)]


def stopped(task: str, seed: int, reason: str = "model error: timed out") -> EpisodeSummary:
    return episode(task, "crafter", seed, 0.0).model_copy(
        update={"status": "stopped", "reason": reason}
    )


def test_a_lucky_gain_passes_the_mean_gate_and_fails_the_paired_one() -> None:
    parent, child = run_of(PARENT), run_of([p + d for p, d in zip(PARENT, NOISE, strict=True)])
    mean = MeanGain().decide(parent, child)
    assert mean.accepted and mean.rule == "mean"
    assert mean.statistics["gain"] == pytest.approx(0.014)
    paired = PairedGain(resamples=2000).decide(parent, child)
    assert not paired.accepted and paired.rule == "paired"
    assert paired.statistics["gain"] == pytest.approx(0.014)
    assert paired.statistics["low"] < 0 < paired.statistics["high"]
    assert "lower bound not above +0.0000" in paired.reason


def test_a_consistent_gain_passes_the_paired_gate_above_its_minimum_only() -> None:
    parent, child = run_of(PARENT), run_of([p + 0.05 for p in PARENT])
    decision = PairedGain(resamples=1000).decide(parent, child)
    assert decision.accepted
    assert decision.statistics["low"] == pytest.approx(0.05)
    assert not PairedGain(min_gain=0.06, resamples=1000).decide(parent, child).accepted
    assert not MeanGain().decide(parent, parent).accepted  # equal is not strictly higher


def test_paired_decisions_are_deterministic_given_the_seed() -> None:
    parent, child = run_of(PARENT), run_of([p + d for p, d in zip(PARENT, NOISE, strict=True)])
    first = PairedGain(resamples=500, seed=3).decide(parent, child)
    assert first == PairedGain(resamples=500, seed=3).decide(parent, child)


def test_a_stopped_episode_makes_the_child_invalid_not_zero() -> None:
    parent = run_of(PARENT)
    child = [*run_of([0.9] * 9), stopped("crafter", 51)]
    for rule in (MeanGain(), PairedGain(resamples=200)):
        decision = rule.decide(parent, child)
        assert not decision.accepted and decision.statistics == {}
        assert decision.reason == (
            "child invalid: episode crafter-51 (seed 51) stopped: model error: timed out"
        )


def test_validity_of_episodes_and_run_summaries() -> None:
    errors = episode("crafter", "crafter", 7, 0.5).model_copy(
        update={"totals": EpisodeTotals(model_errors=2)}
    )
    episodes = [episode("crafter", "crafter", 5, 0.5), stopped("crafter", 6, "budget"), errors]
    expected = [("crafter", s) for s in (5, 6, 7, 8)]
    reasons = [
        "episode crafter-6 (seed 6) stopped: budget",
        "episode crafter-7 (seed 7) hit 2 model error(s)",
        "episode of crafter seed 8 was not run",
    ]
    assert check_valid(episodes, expected=expected).reasons == tuple(reasons)
    assert check_valid(summarise(episodes), expected=expected).reasons == tuple(reasons)
    assert check_valid(episodes, allow_model_errors=True).reasons == tuple(reasons[:1])
    assert check_valid(episodes[:1], expected=expected[:1]).valid


def test_screening_on_a_subset() -> None:
    parent = run_of(PARENT)
    child = run_of([0.0, 0.9, *PARENT[2:]])  # worse on seed 42, better on 43
    assert screen(parent, child, [("crafter", 43)]).accepted
    worse = screen(parent, child, [("crafter", 42)])
    assert not worse.accepted and worse.reason == "worse on the subset: 0.0000 < 0.1000"
    missing = screen(parent, child[:1], [("crafter", 42), ("crafter", 43)])
    assert not missing.accepted
    assert missing.reason == "child did not run the subset's [('crafter', 43)]"
    keys = [("crafter", 42 + i) for i in range(10)]
    subset = screening_subset(keys, 3, seed=1)
    assert len(subset) == 3 and set(subset) <= set(keys)
    assert subset == screening_subset(list(reversed(keys)), 3, seed=1)


def test_gate_and_report_seeds_are_disjoint_and_deterministic() -> None:
    seeds = list(range(42, 52))
    split = split_seeds(seeds)
    assert len(split.gate) == 5 and len(split.report) == 5
    assert set(split.gate).isdisjoint(split.report)
    assert set(split.gate) | set(split.report) == set(seeds)
    assert split == split_seeds(list(reversed(seeds)))
    assert split != split_seeds(seeds, shuffle_seed=1)
    assert split_seeds(seeds, 0.3).gate.__len__() == 3
    explicit = split_seeds(seeds, gate=[44, 42])
    assert explicit.gate == (42, 44) and 42 not in explicit.report
    with pytest.raises(ValueError, match=r"gate seeds \[7\] are not among"):
        split_seeds(seeds, gate=[7])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        split_seeds([42])


def test_runs_on_different_instances_are_not_compared() -> None:
    parent, child = run_of(PARENT), run_of(PARENT[:9])
    for rule in (MeanGain(), PairedGain(resamples=200)):
        decision = rule.decide(parent, child)
        assert not decision.accepted
        assert decision.reason == (
            "parent and child ran different instances (task, seed): [('crafter', 51)]"
        )
