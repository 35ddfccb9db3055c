"""`automem optimize` on the command line, with a test reviewer in place of a named one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.optimize import reviewers
from tests.optimize.reviewers import InterruptedReviewer, PlanReviewer
from tests.optimize.support import PLUGIN, read

runner = CliRunner()


def args(out: Path, *extra: str) -> list[str]:
    return [
        "optimize",
        "--suite",
        "minihack",
        "--task",
        "MazeWalk-9x9",
        "--episodes",
        "4",
        "--max-steps",
        "3",
        "--model",
        "marker",
        "--plugin",
        PLUGIN,
        "--reviewer",
        "plan",
        "--versions",
        "1",
        "--screen",
        "0",
        "--out",
        str(out),
        *extra,
    ]


def test_optimize_runs_and_prints_the_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reviewers, "resolve_reviewer", lambda name, **_: PlanReviewer())
    result = runner.invoke(app, args(tmp_path / "o", "--rule", "paired", "--min-gain", "-0.5"))
    assert result.exit_code == 0, result.output
    assert "v1-a1: candidate minihack-v1-a1" in result.output
    assert "finished: 1 round(s) done. Best: v1 minihack-v1-a1" in result.output
    config = read(tmp_path / "o/optimize.json")["config"]
    assert config["suite"] == "minihack" and config["reviewer"] == "plan"
    assert config["tasks"][0]["seeds"] == [42, 43, 44, 45] and config["max_steps"] == 3
    assert config["acceptance"] == {
        "kind": "paired",
        "min_gain": -0.5,
        "confidence": 0.95,
        "resamples": 10000,
        "seed": 0,
    }


def test_a_spent_budget_exits_1_with_the_best_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reviewers, "resolve_reviewer", lambda name, **_: PlanReviewer())
    result = runner.invoke(app, args(tmp_path / "o", "--max-episodes", "4"))
    assert result.exit_code == 1, result.output
    assert "Best: v0 minihack-v0" in result.output
    assert "episode budget spent (4 of 4 episodes;" in result.output
    assert "rerun the same command with a larger budget to continue" in result.output


def test_ctrl_c_exits_130_with_the_resume_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reviewers, "resolve_reviewer", lambda name, **_: InterruptedReviewer())
    result = runner.invoke(app, args(tmp_path / "o"))
    assert result.exit_code == 130
    assert "interrupted" in result.output and "rerun the same command to resume" in result.output


def test_bad_options_name_the_field_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, args(tmp_path / "o", "--episodes", "1"))
    assert result.exit_code == 2
    assert "need at least 2 seeds to keep gate and report seeds disjoint" in result.output
    assert "pydantic" not in result.output and not (tmp_path / "o").exists()
    result = runner.invoke(app, args(tmp_path / "o", "--rule", "best"))
    assert result.exit_code == 2 and "--rule must be mean, paired or pareto" in result.output


def test_a_reviewer_that_is_not_installed_is_named(tmp_path: Path) -> None:
    out = tmp_path / "o"
    result = runner.invoke(app, [*args(out)[:-2], "--reviewer", "nosuch:x", "--out", str(out)])
    assert result.exit_code == 2
    assert "unknown model backend 'nosuch'" in result.output and not out.exists()


def test_compact_review_reaches_the_reviewer_and_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, bool]] = []

    def resolve(name: str, *, compact: bool = False) -> PlanReviewer:
        asked.append((name, compact))
        return PlanReviewer()

    monkeypatch.setattr(reviewers, "resolve_reviewer", resolve)
    result = runner.invoke(
        app, args(tmp_path / "o", "--compact-review", "--rule", "paired", "--min-gain", "-0.5")
    )
    assert result.exit_code == 0, result.output
    assert asked == [("plan", True)]
    assert read(tmp_path / "o/optimize.json")["config"]["compact_review"] is True


def test_compact_review_is_refused_for_the_rules_reviewer(tmp_path: Path) -> None:
    out = tmp_path / "o"
    result = runner.invoke(app, [*args(out), "--reviewer", "rules", "--compact-review"])
    assert result.exit_code == 2
    assert "--compact-review is for a model reviewer" in result.output
