"""Paired comparison: a known answer on constructed runs, and the command on real runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.runs import RunConfig, run
from automem.runs.compare import compare_episodes
from tests.conftest import finished_episode as episode


def test_known_differences_and_benchmark_aggregation() -> None:
    a = [episode("x", "g1", s, 0.0) for s in range(4)]
    a += [episode("y", "g1", 0, 0.0), episode("y", "g1", 1, 0.0)]
    a += [episode("z", "g2", s, 0.5) for s in range(3)] + [episode("z", "g2", 9, 0.1)]
    b = [episode("x", "g1", s, 1.0) for s in range(4)]
    b += [episode("y", "g1", 0, 0.0), episode("y", "g1", 1, 1.0)]
    b += [episode("z", "g2", s, 0.5) for s in range(3)] + [episode("w", "g2", 0, 0.3)]
    result = compare_episodes(a, b, resamples=2000)
    by_task = {t.task: t for t in result.tasks}
    assert by_task["x"].difference.mean == 1.0
    assert (by_task["x"].difference.low, by_task["x"].difference.high) == (1.0, 1.0)
    assert by_task["y"].difference.mean == 0.5
    assert by_task["y"].difference.low == 0.0 and by_task["y"].difference.high == 1.0
    assert by_task["z"].pairs == 3 and by_task["z"].difference.mean == 0.0
    # g1: mean over tasks (1.0 and 0.5) = 0.75; g2: 0.0; over games: 0.375.
    assert result.overall is not None
    assert result.overall.mean == pytest.approx(0.375)
    assert result.overall.low <= 0.375 <= result.overall.high
    assert result.overall.excludes_zero
    assert result.only_in_a == ["z-9"] and result.only_in_b == ["w-0"]


def test_identical_runs_differ_by_nothing() -> None:
    a = [episode("x", "g", s, s / 10) for s in range(5)]
    result = compare_episodes(a, a, resamples=500)
    assert result.overall is not None
    assert (result.overall.mean, result.overall.low, result.overall.high) == (0.0, 0.0, 0.0)
    assert not result.overall.excludes_zero


def test_compare_command_on_two_real_runs(tmp_path: Path) -> None:
    for name, slip in (("a", "0.0"), ("b", "0.5")):
        config = RunConfig(env="crafter", model=f"scripted:slip={slip}", seeds=(1, 2), max_steps=15)
        run(config, tmp_path / name)
    result = CliRunner().invoke(
        app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--resamples", "500"]
    )
    assert result.exit_code == 0, result.output
    assert "overall" in result.output and "redundant_write_rate" in result.output
