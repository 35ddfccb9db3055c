"""The stairs finder on real MiniHack and NetHack maps (fixed seeds, scripted moves)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from automem import envs
from automem.agent.helpers import HelperContext
from automem.envs.nethack.env import MiniHackTextEnv, NetHackTextEnv
from automem.envs.nethack.helpers import StairsFinder, StairsParams, offset, stair_glyphs
from automem.memory import MemoryStore
from tests.conftest import LineEnv
from tests.helper_play import Driver

MAZE = "minihack/MiniHack-MazeWalk-9x9-v0"
# MazeWalk 9x9: seed 2 starts on the stairs up at (39, 13), the stairs down 2 cells east;
# on seed 0 no stairs are in sight.
STAIRS_SEED, DARK_SEED = 2, 0


@pytest.fixture(scope="module")
def maze() -> Iterator[MiniHackTextEnv]:
    env = envs.make(MAZE)
    yield env  # type: ignore[misc]
    env.close()


@pytest.fixture(scope="module")
def nethack() -> Iterator[NetHackTextEnv]:
    env = envs.make("nethack")
    yield env  # type: ignore[misc]
    env.close()


def finder(**params) -> StairsFinder:
    return StairsFinder(StairsParams(**params))


def test_accessors_read_blstats_and_glyphs(maze: MiniHackTextEnv) -> None:
    observation = maze.reset(STAIRS_SEED)
    assert maze.position() == (39, 13) and maze.level() == "0:1"
    glyphs = maze.glyphs()
    assert glyphs.shape == (21, 79)
    assert np.argwhere(np.isin(glyphs, stair_glyphs("down", True))).tolist() == [[13, 41]]
    lines = observation.text.split("\n")
    grid = lines[lines.index("map:") + 1 :]
    assert grid[13][41] == ">"  # glyph row y is screen row y + 1, which is map line y
    glyphs[0, 0] = -1  # a copy: the env's observation is not changed through it
    assert maze.glyphs()[0, 0] != -1


def test_stairs_in_sight_are_located(maze: MiniHackTextEnv, tmp_path: Path) -> None:
    helper = finder()
    driver = Driver(maze, [helper], STAIRS_SEED, tmp_path / "m")
    assert helper.prompt_context(driver.ctx, "plan") == (
        "Stairs down ('>'): 2 east of you at x=41, y=13 (at least 2 moves)."
    )
    assert helper.prompt_context(driver.ctx, "log") is None  # phases


def test_unseen_stairs_are_said_to_be_unseen(maze: MiniHackTextEnv, tmp_path: Path) -> None:
    loud, quiet = finder(), finder(say_unseen=False)
    driver = Driver(maze, [loud, quiet], DARK_SEED, tmp_path / "m")
    assert loud.prompt_context(driver.ctx, "plan") == (
        "Stairs down ('>'): not seen yet on this level; explore to find them."
    )
    assert quiet.prompt_context(driver.ctx, "plan") is None


def test_stairs_hidden_under_the_hero_are_remembered(maze: MiniHackTextEnv, tmp_path: Path) -> None:
    both = finder(kinds=("up", "down"))
    forgetful = finder(kinds=("up",), remember=False)
    driver = Driver(maze, [both, forgetful], STAIRS_SEED, tmp_path / "m")
    # At the start the hero stands on the stairs up, so the map does not show them.
    assert "Stairs up ('<'): not seen yet" in (both.prompt_context(driver.ctx, "plan") or "")
    driver.step("east")
    assert both.prompt_context(driver.ctx, "plan") == (
        "Stairs up ('<'): 1 west of you at x=39, y=13 (at least 1 move).\n"
        "Stairs down ('>'): 1 east of you at x=41, y=13 (at least 1 move)."
    )
    driver.step("west")
    text = both.prompt_context(driver.ctx, "plan") or ""
    # MazeWalk has no "up" action, so none is named.
    assert text.startswith("You are standing on the stairs up ('<').\n")
    assert forgetful.prompt_context(driver.ctx, "plan") == (
        "Stairs up ('<'): not seen yet on this level; explore to find them."
    )


def test_nethack_stairs_and_the_action_that_takes_them(
    nethack: NetHackTextEnv, tmp_path: Path
) -> None:
    helper = finder(kinds=("up", "down"))
    driver = Driver(nethack, [helper], 42, tmp_path / "m")
    assert nethack.level() == "0:1"
    driver.step("north")  # off the stairs up the game starts on
    text = helper.prompt_context(driver.ctx, "plan") or ""
    assert text.startswith("Stairs up ('<'): 1 south of you at x=68, y=8 (at least 1 move).")
    assert "Stairs down ('>'): not seen yet" in text
    driver.step("south")
    text = helper.prompt_context(driver.ctx, "plan") or ""
    assert text.startswith("You are standing on the stairs up ('<'): the 'up' action takes them.")


def test_offset_words() -> None:
    assert offset(2, 0) == "2 east"
    assert offset(-12, 3) == "3 south and 12 west"
    assert offset(0, -1) == "1 north"


def test_stairs_finder_refuses_an_env_without_glyphs(tmp_path: Path) -> None:
    ctx = HelperContext(env=LineEnv(), memory=MemoryStore(tmp_path / "m", initial_files={}))
    with pytest.raises(ValueError, match=r"works on NetHack and MiniHack only.*'line'"):
        finder().on_observation(ctx)


def test_ladders_parameter_adds_the_ladder_glyph() -> None:
    from nle import nethack

    stairs, with_ladder = stair_glyphs("down", False), stair_glyphs("down", True)
    assert with_ladder[: len(stairs)] == stairs and len(with_ladder) == len(stairs) + 1
    ladder = with_ladder[-1]
    assert nethack.glyph_is_cmap(ladder)
    assert nethack.glyph_to_cmap(ladder) == 26  # NetHack 3.6's S_dnladder
    assert nethack.glyph_to_cmap(stairs[0]) == 24  # S_dnstair
