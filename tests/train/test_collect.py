"""Collection seeds: disjoint from every known evaluation and gate seed, drawn reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.runs.config import RunConfig, TaskConfig
from automem.runs.suites import BUILTIN, load_suite, suite_config
from automem.train.collect import (
    REFERENCE_EPISODES,
    draw_seeds,
    known_seeds,
    plan_collection,
    run_dirs,
)


def write_run(root: Path, env: str, seeds: list[int]) -> Path:
    """A run directory as far as its run.json (what the seed check reads)."""
    root.mkdir(parents=True)
    config = RunConfig(model="scripted", tasks=(TaskConfig(env=env, seeds=tuple(seeds)),))
    record = {"config": config.model_dump(mode="json"), "scaffolds": {}, "attempts": []}
    (root / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return root


def test_known_seeds_hold_the_builtin_suites_and_the_runs_of_an_optimisation_folder(
    tmp_path: Path,
) -> None:
    write_run(tmp_path / "opt" / "v1" / "gate", "crafter", [1000, 1001])
    write_run(tmp_path / "opt" / "v1" / "report", "crafter", [2000])
    known = known_seeds(avoid=[tmp_path / "opt"])
    assert set(range(42, 52)) <= set(known["crafter"])
    assert known["crafter"][42] == ["suite crafter v1", "suite all v1"]
    assert known["crafter"][1001] == [f"run {tmp_path / 'opt' / 'v1' / 'gate'}"]
    assert 2000 in known["crafter"]
    assert set(known["minihack/MiniHack-Quest-Easy-v0"]) == set(range(42, 47))


def test_an_avoid_path_without_runs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no run directory"):
        run_dirs(tmp_path)
    with pytest.raises(ValueError, match="no such folder"):
        run_dirs(tmp_path / "missing")


def test_draws_are_reproducible_distinct_avoid_known_seeds_and_extend_as_prefixes() -> None:
    avoid = {1000, 1001, 1002}
    ten = draw_seeds("crafter", 10, 7, avoid, 1000, 1012)
    assert ten == draw_seeds("crafter", 10, 7, avoid, 1000, 1012)
    assert len(set(ten)) == 10 and not set(ten) & avoid
    assert draw_seeds("crafter", 4, 7, avoid, 1000, 1012) == ten[:4]
    assert draw_seeds("crafter", 10, 8, avoid, 1000, 1012) != ten
    with pytest.raises(ValueError, match="cannot draw 11 seeds for crafter: 10 free"):
        draw_seeds("crafter", 11, 7, avoid, 1000, 1012)


def test_reference_sizes_by_default_and_fewer_on_request() -> None:
    suite = BUILTIN["all"]
    config = suite_config(suite, "scripted")
    known = known_seeds([suite])
    plan = plan_collection(suite, config, known=known, draw_seed=3)
    sizes = {t.env: len(t.seeds) for t in plan.config.tasks}
    assert sizes["crafter"] == REFERENCE_EPISODES["crafter"] == 100
    assert sizes["nethack"] == 50
    minihack = [n for env, n in sizes.items() if env.startswith("minihack/")]
    assert minihack == [50] * 8  # 400 MiniHack episodes, 50 per task
    assert all(1000 <= s <= 99999 for t in plan.config.tasks for s in t.seeds)
    small = plan_collection(suite, config, known=known, episodes=3, draw_seed=3)
    crafter = next(t for t in small.config.tasks if t.env == "crafter")
    assert crafter.seeds == next(t for t in plan.config.tasks if t.env == "crafter").seeds[:3]
    assert small.record["draw_seed"] == 3 and small.record["episodes"]["crafter"] == 3


def test_explicit_seeds_overlapping_a_gate_run_are_refused_naming_them(tmp_path: Path) -> None:
    gate = write_run(tmp_path / "opt" / "gate", "crafter", [1000, 1001])
    suite = load_suite("crafter")
    config = suite_config(suite, "scripted")
    known = known_seeds([suite], [tmp_path / "opt"])
    with pytest.raises(ValueError) as caught:
        plan_collection(suite, config, known=known, seeds=(50, 51, 52, 1001, 1005))
    message = str(caught.value)
    assert "crafter seeds 50, 51, 1001 " in message
    assert f"(used by run {gate}; suite all v1; suite crafter v1)" in message
    fine = plan_collection(suite, config, known=known, seeds=(1002, 1005))
    assert fine.config.tasks[0].seeds == (1002, 1005) and fine.record["explicit_seeds"]


def test_collect_refuses_an_overlap_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "collect"
    command = ["collect", "--suite", "crafter", "--model", "scripted", "--seeds", "45,1000"]
    result = CliRunner().invoke(app, [*command, "--out", str(out)])
    assert result.exit_code == 2
    assert "crafter seeds 45 (used by suite all v1; suite crafter v1)" in result.output
    assert not out.exists()


def test_collection_settings_are_the_users_choice_recorded_and_checked(tmp_path: Path) -> None:
    out = tmp_path / "c"
    base = ["collect", "--suite", "crafter", "--model", "scripted", "--episodes", "1"]
    base += ["--max-steps", "2", "--out", str(out)]
    floors = ["--log-min-writes", "1", "--plan-min-reads", "1", "--temperature", "0.7"]
    free = CliRunner().invoke(app, [*base, *floors])
    assert free.exit_code == 2 and "need routine.constrained_output" in free.output
    assert len(free.output.strip().splitlines()) == 2  # the plan line, then the one-line error
    assert not (out / "run.json").exists()
    result = CliRunner().invoke(app, [*base, *floors, "--constrained"])
    assert result.exit_code == 0, result.output
    stored = json.loads((out / "run.json").read_text())
    wanted = {"log_min_writes": 1, "plan_min_reads": 1, "temperature": 0.7}
    assert stored["config"]["routine"] == wanted
    record = json.loads((out / "collect.json").read_text())
    assert record["routine"] == wanted and record["constrained_output"] is True
    from automem.scaffold import load

    routine = load(out / "scaffolds" / "crafter-v0.yaml").routine
    assert (routine.log_min_writes, routine.plan_min_reads) == (1, 1)
    assert routine.sampling.temperature == 0.7 and routine.constrained_output
    plain = RunConfig(model="scripted", env="crafter", seeds=(1,)).model_dump()
    assert "routine" not in plain  # an evaluation's run.json is as before
