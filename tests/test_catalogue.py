"""The helper catalogue, the CLI listing, and helpers working together in real episodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem import envs
from automem.agent.catalogue import catalogue_text, helper_catalogue, helper_entry
from automem.agent.helpers import build_helpers, helper_class, helper_names
from automem.cli import app
from automem.envs.crafter.env import CrafterEnv
from automem.memory import rebuild
from automem.scaffold import HelperConfig, Scaffold, load
from automem.traces import Trace
from automem.traces.schema import CallRecord
from tests.helper_play import CRAFTER_SEED, THREE_WOOD, episode, replies

CATALOGUE = {
    "status_file": [],
    "prune_file": [],
    "inject_tail": [],
    "auto_log": [],
    "position_tracker": [],
    "stuck_detector": [],
    "achievement_checklist": ["crafter"],
    "craft_gate": ["crafter"],
    "vitals": ["crafter"],
    "inventory_diff": ["crafter"],
    "stairs_finder": ["nethack", "minihack"],
    "neighbour_map": ["nethack", "minihack"],
}
NEW = set(CATALOGUE) - {"stuck_detector", "neighbour_map"}


def test_every_built_in_helper_is_registered_with_its_games() -> None:
    assert set(CATALOGUE) <= set(helper_names())
    entries = {e["name"]: e for e in helper_catalogue()}
    for name, games in CATALOGUE.items():
        assert entries[name]["games"] == games, name
        assert helper_class(name).name == name  # the class answers to its registered name


@pytest.mark.parametrize("name", sorted(NEW))
def test_each_new_helper_is_documented_and_typed(name: str) -> None:
    entry = helper_entry(name)
    assert entry["summary"].endswith(".") and len(entry["summary"]) <= 100
    assert "Helps when" in entry["description"]  # when a reviewer should switch it on
    schema = entry["params"]
    assert schema["additionalProperties"] is False  # a misspelt parameter is an error
    assert schema["properties"]
    for param, spec in schema["properties"].items():
        assert spec.get("description"), f"{name}.{param} has no description"
        if spec.get("type") == "integer":
            assert "minimum" in spec, f"{name}.{param} has no lower bound"
    (helper,) = build_helpers([HelperConfig(name=name)])  # the defaults are valid
    assert helper.name == name


def test_catalogue_for_one_game_and_as_text() -> None:
    crafter = {e["name"] for e in helper_catalogue("crafter")}
    assert {"craft_gate", "status_file", "position_tracker"} <= crafter
    assert "stairs_finder" not in crafter and "neighbour_map" not in crafter
    minihack = {e["name"] for e in helper_catalogue("minihack")}
    assert "stairs_finder" in minihack and "vitals" not in minihack
    text = catalogue_text(helper_catalogue("crafter"))
    assert "vitals (crafter): Warns with an urgency line" in text
    assert "  - drink (integer, >= 0, <= 9, default 3): Warn at or below this drink" in text
    assert '  - scope (string, of any_file|this_file, default "any_file")' in text


def test_cli_lists_the_catalogue() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["scaffold", "list"])
    assert listed.exit_code == 0, listed.output
    assert "  stairs_finder (nethack, minihack): Tells where the nearest staircase" in (
        listed.output
    )
    assert "  auto_log (any game): Appends the last action" in listed.output
    shown = runner.invoke(app, ["scaffold", "helpers", "--json", "--game", "nethack"])
    assert shown.exit_code == 0, shown.output
    entries = {e["name"]: e for e in json.loads(shown.output)}
    assert "stairs_finder" in entries and "craft_gate" not in entries
    assert entries["prune_file"]["params"]["properties"]["max_lines"]["maximum"] == 100_000
    text = runner.invoke(app, ["scaffold", "helpers"])
    assert text.exit_code == 0 and "craft_gate (crafter):" in text.output


# --------------------------------------------------------------------------- episodes


def with_helpers(name: str, *helpers: tuple[str, dict]) -> Scaffold:
    helper_configs = tuple(HelperConfig(name=n, params=p) for n, p in helpers)
    return load(name).model_copy(update={"helpers": helper_configs})


def assert_rebuilds(trace: Trace, memory: Path) -> None:
    rebuilt = rebuild(trace.journal(), trace.header.initial_files, limits=trace.header.limits)
    assert rebuilt == {p.name: p.read_text() for p in memory.iterdir()}


def test_crafter_episode_with_many_helpers(tmp_path: Path) -> None:
    scaffold = with_helpers(
        "crafter-v0",
        ("status_file", {"template": "step {step}, return {return}\n{short_term}"}),
        ("achievement_checklist", {"file": "goals", "phases": ["log"]}),
        ("auto_log", {}),
        ("prune_file", {"files": ["actions_log"], "max_lines": 6, "keep_lines": 3}),
        ("inject_tail", {"file": "actions_log", "lines": 3}),
        ("craft_gate", {}),
        ("vitals", {"drink": 9}),
        ("inventory_diff", {"phases": ["plan"]}),
        ("position_tracker", {"visits": 2}),
        ("stuck_detector", {}),
    )
    logs = {6: "<|READ|>goals<|END|><|DONE|>"}
    script = replies([*THREE_WOOD, "Place Table", "Make Wood Pickaxe"], logs)
    # Step 13: no table yet, so the gate refuses the pickaxe and the model chooses again.
    script.insert(
        script.index("<|ACTION|>Place Table<|END|>"), "<|ACTION|>Make Wood Pickaxe<|END|>"
    )
    env = CrafterEnv(max_steps=len(THREE_WOOD) + 2)
    trace, model = episode(tmp_path, env, scaffold, CRAFTER_SEED, script)
    assert trace.end is not None and trace.end.status == "finished"
    assert trace.end.progression == pytest.approx(3 / 22)

    refused = [c for c in trace.commands if c.op == "ACTION" and not c.ok]
    assert [(c.step, c.result) for c in refused] == [
        (13, "ERROR: ACTION 'Make Wood Pickaxe' rejected by craft_gate: wood pickaxe cannot be "
             "made now: it needs a table nearby.")
    ]  # fmt: skip
    read = next(c for c in trace.commands if c.op == "READ")
    assert read.result.startswith("Achievements: 1 of 22 done.\n[x] collect wood")
    plan_at = {
        call.step: trace.messages[call.prompt[1]].content
        for call in trace.of_type(CallRecord)
        if call.phase == "plan" and call.turn == 0
    }
    assert plan_at[0] == model.requests[0].messages[1].content  # what the model was shown
    assert "Since your last action (Do): wood +1." in plan_at[6]
    assert "URGENT: drink is 9/9" in plan_at[0]
    assert "Position: x=32, y=32; visited 1 time" in plan_at[0]
    assert "The last 3 lines of actions_log:\nstep 10: Move West" in plan_at[13]
    assert "Achievements" not in plan_at[6]  # the checklist is shown in LOG only

    helper_files = {c.file for c in trace.commands if c.phase == "helper"}
    assert helper_files == {"status", "goals", "actions_log"}
    assert all(c.turn == -1 for c in trace.commands if c.phase == "helper")
    memory = tmp_path / "memory"
    assert (memory / "goals").read_text().startswith("Achievements: 3 of 22 done.")
    assert (memory / "status").read_text().startswith("step 15, return 3")
    assert len((memory / "actions_log").read_text().splitlines()) <= 6
    assert_rebuilds(trace, memory)


def test_minihack_episode_finds_the_stairs(tmp_path: Path) -> None:
    scaffold = with_helpers(
        "minihack-v0",
        ("stairs_finder", {"kinds": ["down", "up"]}),
        ("position_tracker", {"diagonals": True}),
        ("auto_log", {}),
        ("status_file", {"template": "{position} on {level}, depth {info.depth}: {outcome}"}),
    )
    env = envs.make("minihack/MiniHack-MazeWalk-9x9-v0")
    try:
        script = ["<|ACTION|>east<|END|>", "<|DONE|>", "<|ACTION|>east<|END|>"]
        trace, model = episode(tmp_path, env, scaffold, 2, script)
    finally:
        env.close()
    assert trace.end is not None and trace.end.reason == "terminated"
    assert trace.end.progression == 1.0  # the stairs reached: solved
    plans = [r.messages[1].content for r in model.requests if r.phase == "plan"]
    assert "Stairs down ('>'): 2 east of you at x=41, y=13 (at least 2 moves)." in plans[0]
    assert "Stairs up ('<'): 1 west of you at x=39, y=13" in plans[1]
    assert "Position: x=40, y=13 on level 0:1; visited 1 time" in plans[1]
    memory = tmp_path / "memory"
    assert (memory / "actions_log").read_text() == "step 0: east -> no reward\n"
    statuses = [c.args[1] for c in trace.commands if c.phase == "helper" and c.file == "status"]
    assert statuses == [
        "39, 13 on 0:1, depth unknown: none",  # no step info before the first step
        "40, 13 on 0:1, depth 1: no reward",
        # NLE's end screen has no map: no position, and the step info's depth is 0.
        "unknown on unknown, depth 0: reward +1; progression 0.0% -> 100.0%; the episode ended",
    ]
    assert_rebuilds(trace, memory)
