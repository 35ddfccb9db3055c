"""Crafter's helpers on real Crafter states (seed 0, scripted actions through crafter itself)."""

from __future__ import annotations

from pathlib import Path

import pytest
from crafter import constants

from automem.agent.helpers import HelperContext, build_helpers
from automem.envs.crafter.env import ACHIEVEMENTS, CrafterEnv
from automem.envs.crafter.helpers import (
    AchievementChecklist,
    ChecklistParams,
    CraftGate,
    DiffParams,
    GateParams,
    InventoryDiff,
    Vitals,
    VitalsParams,
    recipes,
)
from automem.memory import MemoryStore
from automem.scaffold import HelperConfig
from tests.conftest import LineEnv
from tests.helper_play import CRAFTER_SEED, THREE_WOOD, Driver

TABLE_WOOD = constants.place["table"]["uses"]["wood"]


def drive(tmp_path: Path, *helpers) -> Driver:
    return Driver(CrafterEnv(), helpers, CRAFTER_SEED, tmp_path / "memory")


def test_accessors_follow_the_game(tmp_path: Path) -> None:
    env = CrafterEnv()
    assert env.position() is None and env.inventory() == {} and env.front() is None
    env.reset(CRAFTER_SEED)
    assert env.position() == (32, 32) and env.level() is None
    assert env.inventory()["health"] == 9 and env.inventory()["wood"] == 0
    env.step("Move West")
    assert env.position() == (31, 32)
    for action in THREE_WOOD[1:5]:
        env.step(action)
    assert env.front() == "tree" and "tree" in env.nearby_materials()
    env.step("Do")
    assert env.inventory()["wood"] == 1 and env.front() == "grass"
    env.inventory()["wood"] = 7  # a copy: the game is not changed through it
    assert env.player.inventory["wood"] == 1


def test_checklist_shows_what_real_play_achieved(tmp_path: Path) -> None:
    helper = AchievementChecklist(ChecklistParams())
    missing_only = AchievementChecklist(ChecklistParams(show="missing", phases=("log",)))
    driver = drive(tmp_path, helper, missing_only)
    text = helper.prompt_context(driver.ctx, "plan")
    assert text is not None and text.startswith("Achievements: 0 of 22 done.")
    assert text.count("[ ] ") == 22 and len(ACHIEVEMENTS) == 22
    driver.play(THREE_WOOD)
    text = helper.prompt_context(driver.ctx, "plan")
    assert text is not None and "Achievements: 1 of 22 done." in text
    assert "[x] collect wood" in text and "[ ] place table" in text
    assert "[ ] collect wood" not in text
    assert helper.prompt_context(driver.ctx, "log") is None  # phases
    short = missing_only.prompt_context(driver.ctx, "log")
    assert short is not None and "collect wood" not in short and short.count("[ ] ") == 21


def test_checklist_file_is_rewritten_only_when_it_changes(tmp_path: Path) -> None:
    helper = AchievementChecklist(ChecklistParams(file="checklist"))
    driver = drive(tmp_path, helper)
    driver.play(THREE_WOOD)
    writes = [r for r in driver.ctx.memory.journal if r.file == "checklist"]
    # Once at reset, once when the first tree gave wood (step 6): not at every step.
    assert [(r.step, r.op, r.phase, r.ok) for r in writes] == [
        (0, "WRITE", "helper", True),
        (6, "WRITE", "helper", True),
    ]
    on_disk = (tmp_path / "memory" / "checklist").read_text()
    assert on_disk.startswith("Achievements: 1 of 22 done.\n[x] collect wood\n")


def test_checklist_file_refusal_is_shown_once(tmp_path: Path) -> None:
    helper = AchievementChecklist(ChecklistParams(file="goals"))
    full = {f"f{i}": "" for i in range(32)}  # the store's default file limit
    driver = Driver(CrafterEnv(), [helper], CRAFTER_SEED, tmp_path / "m", initial_files=full)
    first = (helper.prompt_context(driver.ctx, "plan") or "").split("\n")
    assert first[0].startswith(
        "NOTE (achievement_checklist could not write goals): ERROR: cannot create goals: "
        "there are already 32 files"
    )
    assert first[1] == "Achievements: 0 of 22 done."
    assert (helper.prompt_context(driver.ctx, "plan") or "").startswith("Achievements")
    refused = [r for r in driver.ctx.memory.journal if r.file == "goals"]
    assert [(r.phase, r.ok) for r in refused] == [("helper", False)]  # journaled, not hidden


def test_craft_gate_follows_crafters_requirement_table(tmp_path: Path) -> None:
    gate = CraftGate(GateParams())
    driver = drive(tmp_path, gate)
    refusal = driver.refusal("Make Wood Pickaxe")
    assert refusal == (
        "wood pickaxe cannot be made now: it needs 1 more wood (have 0, needs 1); a table nearby."
    )
    assert driver.refusal("make   wood pickaxe") == refusal  # the env's own action parsing
    assert driver.refusal("Move West") is None and driver.refusal("fly away") is None
    driver.play(THREE_WOOD[:-1])  # two trees felled, facing the third
    assert driver.env.front() == "tree" and driver.env.inventory()["wood"] == 2
    refusal = driver.refusal("Place Table")
    assert refusal is not None and "(you face tree)" in refusal
    assert "more wood" not in refusal  # two is enough for a table
    driver.step("Do")
    refusal = driver.refusal("Make Wood Pickaxe")
    assert refusal == "wood pickaxe cannot be made now: it needs a table nearby."
    assert driver.refusal("Place Table") is None
    assert driver.step("Place Table").info["achievements_unlocked"] == ["place_table"]
    assert driver.refusal("Make Wood Pickaxe") is None
    # The gate let it through because crafter agrees: the pickaxe is made.
    assert driver.step("Make Wood Pickaxe").info["achievements_unlocked"] == ["make_wood_pickaxe"]
    refusal = driver.refusal("Make Stone Pickaxe")
    assert refusal is not None and "1 more stone (have 0, needs 1)" in refusal
    assert "table" not in refusal  # the table is right there
    assert "a furnace nearby" in (driver.refusal("Make Iron Sword") or "")


def test_craft_gate_parameters(tmp_path: Path) -> None:
    target_blind = CraftGate(GateParams(check_target=False))
    make_only = CraftGate(GateParams(kinds=("make",)))
    driver = drive(tmp_path, target_blind, make_only)
    driver.play(THREE_WOOD[:-1])  # facing a tree with 2 wood
    assert target_blind.filter_action(driver.ctx, "Place Table") is None
    assert make_only.filter_action(driver.ctx, "Place Stone") is None  # no stone, not checked
    assert "1 more stone" in (target_blind.filter_action(driver.ctx, "Place Stone") or "")
    assert make_only.filter_action(driver.ctx, "Make Wood Pickaxe") is not None


def test_craft_gate_reads_every_recipe_from_crafter() -> None:
    table = recipes()
    assert len(table) == len(constants.make) + len(constants.place)
    assert table["Make Iron Pickaxe"][2] is constants.make["iron_pickaxe"]
    assert set(table) <= {a.name for a in CrafterEnv.actions}


def test_vitals_thresholds_on_a_real_episode(tmp_path: Path) -> None:
    default = Vitals(VitalsParams())
    touchy = Vitals(VitalsParams(health=0, food=8, drink=8, energy=8))
    log_only = Vitals(VitalsParams(food=9, drink=9, phases=("log",)))
    driver = drive(tmp_path, default, touchy, log_only)
    assert touchy.prompt_context(driver.ctx, "plan") is None  # all vitals full at the start
    driver.play(["Noop"] * 50)  # hunger, thirst and fatigue: crafter's own
    vitals = {k: driver.env.inventory()[k] for k in ("health", "food", "drink", "energy")}
    assert vitals == {"health": 9, "food": 8, "drink": 7, "energy": 8}
    assert default.prompt_context(driver.ctx, "plan") is None
    lines = (touchy.prompt_context(driver.ctx, "plan") or "").split("\n")
    assert [line.split(":")[1].strip() for line in lines] == [
        "drink is 7/9",
        "energy is 8/9",
        "food is 8/9",
    ]  # lowest first; health (threshold 0) never
    assert lines[0] == "URGENT: drink is 7/9: drink: face water and Do."
    assert log_only.prompt_context(driver.ctx, "plan") is None
    assert "URGENT: food is 8/9" in (log_only.prompt_context(driver.ctx, "log") or "")


def test_inventory_diff_names_what_an_action_changed(tmp_path: Path) -> None:
    diff = InventoryDiff(DiffParams())
    quiet = InventoryDiff(DiffParams(vitals=False, say_unchanged=True, phases=("plan",)))
    driver = drive(tmp_path, diff, quiet)
    assert diff.prompt_context(driver.ctx, "log") is None  # nothing answered yet
    driver.play(THREE_WOOD[:6])
    assert diff.prompt_context(driver.ctx, "log") == "Since your last action (Do): wood +1."
    driver.play(THREE_WOOD[6:])
    driver.step("Place Table")
    assert diff.prompt_context(driver.ctx, "plan") == (
        f"Since your last action (Place Table): wood -{TABLE_WOOD}."
    )
    driver.step("Make Wood Pickaxe")
    assert diff.prompt_context(driver.ctx, "plan") == (
        "Since your last action (Make Wood Pickaxe): wood -1, wood pickaxe +1."
    )
    assert diff.prompt_context(driver.ctx, "log") is not None
    assert quiet.prompt_context(driver.ctx, "log") is None  # phases
    driver.step("Noop")
    assert diff.prompt_context(driver.ctx, "plan") is None
    assert quiet.prompt_context(driver.ctx, "plan") == (
        "Since your last action (Noop): your inventory did not change."
    )
    while driver.env.inventory()["food"] == 9:  # hunger: food drops while waiting
        driver.step("Noop")
    assert "food -1" in (diff.prompt_context(driver.ctx, "plan") or "")
    assert "food" not in (quiet.prompt_context(driver.ctx, "plan") or "")


def test_crafter_helpers_refuse_another_game(tmp_path: Path) -> None:
    ctx = HelperContext(env=LineEnv(), memory=MemoryStore(tmp_path / "m", initial_files={}))
    ctx.observation = ctx.env.reset(0)
    for name in ("achievement_checklist", "vitals", "inventory_diff", "craft_gate"):
        (helper,) = build_helpers([HelperConfig(name=name)])
        with pytest.raises(ValueError, match=rf"helper '{name}' works on Crafter only.*'line'"):
            helper.on_observation(ctx)  # the hooks that read the game say why they cannot
            helper.prompt_context(ctx, "plan")
            helper.filter_action(ctx, "Make Wood Pickaxe")
