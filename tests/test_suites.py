"""Evaluation suites: the reference protocol, user suites, scaffolds per game, and `eval`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.runs.suites import BUILTIN, MINIHACK_TASKS, limit_suite, load_suite, suite_config
from automem.scaffold import dump, load

runner = CliRunner()


def test_builtin_suites_match_the_reference_protocol() -> None:
    crafter = BUILTIN["crafter"]
    assert [(t.env, t.seeds, t.max_steps) for t in crafter.tasks] == [
        ("crafter", tuple(range(42, 52)), 2000)
    ]
    minihack = BUILTIN["minihack"]
    assert [t.env for t in minihack.tasks] == [f"minihack/{t}" for t in MINIHACK_TASKS]
    assert all(t.seeds == (42, 43, 44, 45, 46) and t.max_steps == 100 for t in minihack.tasks)
    assert minihack.episodes == 40
    nethack = BUILTIN["nethack"]
    assert [(t.env, len(t.seeds), t.max_steps) for t in nethack.tasks] == [("nethack", 5, 100_000)]
    assert BUILTIN["all"].episodes == 10 + 40 + 5


def test_scaffolds_are_assigned_by_game(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(dump(load("minihack-v0")).replace("name: minihack-v0", "name: minihack-mine"))
    config = suite_config(BUILTIN["all"], "scripted", [(str(mine), load(mine))])
    scaffolds = {t.env: t.scaffold_ref for t in config.tasks}
    assert scaffolds["crafter"] == "crafter-v0"
    assert scaffolds["nethack"] == "nethack-v0"
    assert all(ref == str(mine) for env, ref in scaffolds.items() if env.startswith("minihack/"))
    with pytest.raises(ValueError, match="no task of game"):
        suite_config(BUILTIN["crafter"], "scripted", [(str(mine), load(mine))])


def test_user_suite_yaml_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "quick.yaml"
    path.write_text(
        "name: quick\nversion: 2\ntasks:\n  - env: crafter\n    seeds: [1, 2]\n    max_steps: 15\n"
    )
    suite = load_suite(path)
    assert (suite.name, suite.version, suite.episodes) == ("quick", 2, 2)
    path.write_text("name: quick\ntasks: []\n")
    with pytest.raises(ValueError, match="invalid suite: tasks"):
        load_suite(path)
    with pytest.raises(ValueError, match="built-in suites are crafter, minihack"):
        load_suite("crafterr")


def test_eval_runs_a_user_suite_as_one_run(tmp_path: Path) -> None:
    suite = tmp_path / "quick.yaml"
    suite.write_text(
        "name: quick\ntasks:\n  - env: crafter\n    seeds: [1, 2]\n    max_steps: 15\n"
    )
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        ["eval", "--suite", str(suite), "--model", "scripted", "--out", str(out), "--workers", "2"],
    )
    assert result.exit_code == 0, result.output
    assert "Suite quick v1: 2 episodes." in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["tasks"]["crafter"]["steps"]["mean"] == 15


def test_suite_yaml_takes_the_command_line_seed_syntax(tmp_path: Path) -> None:
    path = tmp_path / "ranges.yaml"
    seeds = {"42-46": (42, 43, 44, 45, 46), '"1,5-7"': (1, 5, 6, 7), '[1, "3-4"]': (1, 3, 4)}
    seeds["7"] = (7,)
    for text, expected in seeds.items():
        path.write_text(f"name: r\ntasks:\n  - env: crafter\n    seeds: {text}\n")
        assert load_suite(path).tasks[0].seeds == expected, text
    bad = {
        "46-42": "seed range '46-42' runs backwards",
        "4x": "bad seed '4x': use a number, a list '42,43' or a range '42-51'",
        "1.5": "bad seeds 1.5: use a number, a list '42,43' or a range '42-51'",
        "[1, true]": "bad seeds True: use a number",
    }
    for text, message in bad.items():
        path.write_text(f"name: r\ntasks:\n  - env: crafter\n    seeds: {text}\n")
        with pytest.raises(ValueError) as info:
            load_suite(path)
        assert str(info.value).startswith(f"{path}: invalid suite: tasks.0.seeds: {message}")
        assert "tuple" not in str(info.value) and "Value error" not in str(info.value)


def test_a_suite_is_limited_by_task_episodes_and_steps() -> None:
    everything = BUILTIN["all"]
    quests = limit_suite(everything, patterns=["MiniHack-Quest-*", "CRAFTER"])
    assert [t.env for t in quests.tasks] == [
        "crafter",
        "minihack/MiniHack-Quest-Easy-v0",
        "minihack/MiniHack-Quest-Medium-v0",
    ]
    mazes = limit_suite(everything, patterns=["maze"], episodes=2, max_steps=50)
    assert [(t.env, t.seeds, t.max_steps) for t in mazes.tasks] == [
        ("minihack/MiniHack-MazeWalk-9x9-v0", (42, 43), 50),
        ("minihack/MiniHack-MazeWalk-15x15-v0", (42, 43), 50),
    ]
    # A cap only lowers: crafter's 2000 becomes 500, never the other way round.
    assert limit_suite(BUILTIN["crafter"], max_steps=500).tasks[0].max_steps == 500
    assert limit_suite(BUILTIN["minihack"], max_steps=500).tasks[0].max_steps == 100
    with pytest.raises(ValueError, match="--task 'sokoban' matches no task of suite 'all'"):
        limit_suite(everything, patterns=["maze", "sokoban"])
    with pytest.raises(ValueError, match="--episodes must be at least 1"):
        limit_suite(everything, episodes=0)


def test_eval_limits_are_part_of_the_config_a_resume_must_match(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = ["eval", "--suite", "crafter", "--model", "scripted", "--out", str(out)]
    first = runner.invoke(app, [*args, "--episodes", "2", "--max-steps", "3"])
    assert first.exit_code == 0, first.output
    assert "Suite crafter v1: 2 episodes." in first.output
    config = json.loads((out / "run.json").read_text())["config"]
    assert [(t["seeds"], t["max_steps"]) for t in config["tasks"]] == [([42, 43], 3)]
    assert "skipped" not in config  # run.json as before when nothing is skipped
    again = runner.invoke(app, [*args, "--episodes", "2", "--max-steps", "3"])
    assert again.exit_code == 0 and "Nothing to do" in again.output
    more = runner.invoke(app, [*args, "--episodes", "3", "--max-steps", "3"])
    assert more.exit_code == 2 and "different config" in more.output
    nothing = runner.invoke(app, [*args, "--task", "nethack"])
    assert nothing.exit_code == 2
    assert "--task 'nethack' matches no task of suite 'crafter'" in nothing.output


def test_eval_without_boxoban_levels_fails_in_one_line_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMEM_BOXOBAN_LEVELS", str(tmp_path / "no-levels"))
    out = tmp_path / "eval"
    result = runner.invoke(
        app, ["eval", "--suite", "minihack", "--model", "scripted", "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    line = lines[0]
    assert (
        "minihack/MiniHack-Boxoban-Hard-v0, minihack/MiniHack-Boxoban-Medium-v0 need the "
        f"Boxoban level files (looked in $AUTOMEM_BOXOBAN_LEVELS: {tmp_path / 'no-levels'})"
    ) in line
    assert "on a machine with internet access" in line and "AUTOMEM_BOXOBAN_LEVELS=DIR" in line
    assert line.endswith("Or add --skip-missing to run the suite without these tasks.")
    assert not out.exists()


def test_eval_skip_missing_runs_the_rest_and_records_what_it_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMEM_BOXOBAN_LEVELS", str(tmp_path / "no-levels"))
    out = tmp_path / "eval"
    args = ["eval", "--suite", "minihack", "--model", "scripted", "--out", str(out)]
    args += ["--skip-missing", "--task", "boxoban", "--task", "MazeWalk-9*"]
    args += ["--episodes", "1", "--max-steps", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Suite minihack v1: 1 episodes, 2 task(s) skipped." in result.output
    reason = "data missing: the Boxoban level files"
    skipped = [
        {"env": "minihack/MiniHack-Boxoban-Hard-v0", "reason": reason},
        {"env": "minihack/MiniHack-Boxoban-Medium-v0", "reason": reason},
    ]
    assert json.loads((out / "run.json").read_text())["config"]["skipped"] == skipped
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["tasks"]) == ["minihack/MiniHack-MazeWalk-9x9-v0"]
    assert summary["tasks"]["minihack/MiniHack-MazeWalk-9x9-v0"]["steps"]["mean"] == 2
    shown = runner.invoke(app, ["summary", str(out)])
    for output in (result.output, shown.output):
        assert "Skipped tasks (not run, so not in the means above):" in output
        assert f"minihack/MiniHack-Boxoban-Hard-v0: {reason}" in output
        assert f"minihack/MiniHack-Boxoban-Medium-v0: {reason}" in output
    assert runner.invoke(app, args).output.count("Nothing to do") == 1  # resumes as is
