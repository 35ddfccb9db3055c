"""Paired comparison: a known answer on constructed runs, and the command on real runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from automem.cli import app
from automem.runs import RunConfig, run
from automem.runs.compare import ComparisonError, compare_episodes, compare_runs
from automem.scaffold import dump, load
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
    assert "differs: model: scripted:slip=0.0 [seed=0, slip_rate=0.0] (A) vs " in result.output


def scripted_run(
    out: Path, *, seeds: tuple[int, ...] = (1,), max_steps: int = 4, **kw: str
) -> Path:
    """A real scripted Crafter run (``kw``: model, scaffold)."""
    settings = {"model": "scripted", **kw}
    run(RunConfig(env="crafter", seeds=seeds, max_steps=max_steps, **settings), out)
    return out


def compare(*args: Path | str) -> Result:
    return CliRunner().invoke(app, ["compare", *map(str, args), "--resamples", "200"])


def test_episodes_with_different_step_caps_are_not_compared(tmp_path: Path) -> None:
    short = scripted_run(tmp_path / "short", max_steps=4)
    long = scripted_run(tmp_path / "long", max_steps=8)
    refused = compare(short, long)
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"error: cannot compare {short} with {long}: paired episodes ran under different "
        "settings (max steps of crafter: 4 (A) vs 8 (B)). Rerun one with the other's settings, "
        "or add --allow-mismatch to compare anyway."
    ]
    allowed = compare(short, long, "--allow-mismatch")
    assert allowed.exit_code == 0, allowed.output
    assert allowed.output.startswith("differs: max steps of crafter: 4 (A) vs 8 (B)\n")
    assert "B - A mixes their effects" in allowed.output and "overall" in allowed.output


def test_runs_with_no_episode_in_common_fail_before_printing(tmp_path: Path) -> None:
    a = scripted_run(tmp_path / "a", seeds=(1,))
    b = scripted_run(tmp_path / "b", seeds=(2,))
    result = compare(a, b)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {a} and {b} share no finished episode (same task and seed) to compare"
    ]


def test_a_comparison_is_about_the_scaffold_or_the_model_not_both(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(dump(load("crafter-v0")).replace("name: crafter-v0", "name: crafter-mine"))
    base = scripted_run(tmp_path / "base")
    scaffold = scripted_run(tmp_path / "scaffold", scaffold=str(mine))
    digests = (load("crafter-v0").digest()[:12], load(mine).digest()[:12])
    one = compare(base, scaffold)
    assert one.exit_code == 0, one.output
    assert one.output.startswith(
        f"differs: scaffold of crafter: crafter-v0 (digest {digests[0]}) (A) vs "
        f"crafter-mine (digest {digests[1]}) (B)\n"
    )
    both = scripted_run(tmp_path / "both", model="scripted:slip=0.5", scaffold=str(mine))
    with pytest.raises(ComparisonError, match="differ in both scaffold and model"):
        compare_runs(base, both, resamples=200)
    result = compare_runs(base, both, resamples=200, allow_mismatch=True)
    assert [d.setting for d in result.differences] == ["model", "scaffold"]
    same = compare(base, base)
    assert same.output.startswith("The runs have the same model, scaffolds and step caps.\n")
