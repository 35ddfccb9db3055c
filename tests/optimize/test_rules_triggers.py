"""Each rule fires on real traces made to show its one bad habit, and its change is valid.

Real episodes (the Line test game and real Crafter) played by a model with one habit
(tests/optimize/habits.py); the rules reviewer reads the run directories, the rule's figure
passes its threshold, and the rule alone composes a candidate that passes check_proposal,
loads and plays a real episode.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from automem import envs
from automem.envs import registry as env_registry
from automem.models import registry as models
from automem.models.registry import register_backend
from automem.optimize.rules_compose import RULES
from automem.scaffold import dump, load, validate_text
from tests.conftest import LineEnv
from tests.optimize.habits import habit_backend
from tests.optimize.rules_fixtures import (
    LINE_LENGTH,
    context,
    evidence,
    habit_run,
    line_scaffold,
    review,
    run_candidate,
)


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_BACKENDS", dict(models._BACKENDS))
    envs.registered()
    monkeypatch.setattr(env_registry, "_REGISTRY", dict(env_registry._REGISTRY))
    register_backend("habit", habit_backend)
    envs.register("line", LineEnv, length=LINE_LENGTH, max_steps=200)


CORRIDOR = "minihack/MiniHack-Corridor-R3-v0"
SCAFFOLDS = {"crafter": "crafter-v0", CORRIDOR: "minihack-v0"}

# habit, env, steps, the rule it triggers, the structural change that rule makes
CASES = [
    ("silent", "line", 12, "silent_log", "helpers: 'auto_log' switched on"),
    ("empty_search", "line", 12, "empty_searches", "helpers: 'inject_tail' switched on"),
    ("redundant", "line", 12, "redundant_writes", "helpers: 'status_file' switched on"),
    ("grow", "line", 12, "growing_file", "helpers: 'prune_file' switched on"),
    ("missing", "line", 12, "missing_files", "files: 'goals' added"),
    ("still", "line", 12, "no_effect", "helpers: 'stuck_detector' switched on"),
    ("invalid", "line", 12, "invalid_actions", "routine.constrained_output: False -> True"),
    ("no_commit", "line", 12, "fallbacks", "routine.plan_turn_cap: 10 -> 15"),
    ("craft", "crafter", 12, "failed_crafts", "helpers: 'craft_gate' switched on"),
    ("pace", "crafter", 24, "circling", "helpers: 'position_tracker' switched on"),
    ("pace", CORRIDOR, 12, "circling", "helpers: 'position_tracker' switched on"),
    ("still", "crafter", 150, "low_vitals", "helpers: 'vitals' switched on"),
    ("silent_do", "crafter", 120, "unlogged_changes", "helpers: 'inventory_diff' switched on"),
]


def test_every_rule_of_the_book_has_a_trigger_case() -> None:
    covered = {case[3] for case in CASES} | {"stagnation", "stairs"}  # test_rules.py: real runs
    assert covered == {rule.id for rule in RULES}


@pytest.mark.parametrize(("habit", "env", "steps", "rule", "change"), CASES)
def test_a_habit_fires_its_rule_and_the_rule_composes_a_valid_change(
    tmp_path: Path, habit: str, env: str, steps: int, rule: str, change: str
) -> None:
    scaffold = str(line_scaffold(tmp_path)) if env == "line" else SCAFFOLDS[env]
    runs = (habit_run(tmp_path / "runs" / habit, habit, env, steps, scaffold),)
    parent_text = dump(load(scaffold))
    game = load(scaffold).game
    ctx = context(game, parent_text, runs)
    _, report = review(ctx, tmp_path / "all")
    found = evidence(report, rule)
    assert found["fires"], found
    assert found["value"] >= found["threshold"] and found["strength"] >= 1
    outcome, alone = review(ctx, tmp_path / "alone", rules=(rule,))
    assert outcome.failure is None, outcome.failure
    assert alone["chosen"]["rule"] == rule and alone["chosen"]["tuning"] == 1
    assert change in alone["chosen"]["changes"]
    assert outcome.description.startswith(f"[rules: {rule}/1] ")
    assert rule in outcome.analysis and found["evidence"] in outcome.analysis
    candidate = validate_text(outcome.scaffold_text or "", "candidate")
    assert candidate.parent == load(scaffold).name and candidate.game == game
    run_candidate(outcome, tmp_path / "candidate", env)
