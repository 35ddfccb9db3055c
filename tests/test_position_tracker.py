"""The position tracker on real Crafter and MiniHack positions (fixed seeds, scripted moves)."""

from __future__ import annotations

from pathlib import Path

from automem import envs
from automem.agent.position import PositionParams, PositionTracker
from automem.envs.crafter.env import CrafterEnv
from tests.conftest import LineEnv
from tests.helper_play import CRAFTER_SEED, Driver

# Crafter seed 0 starts at (32, 32) with grass west of it: West and East go back and forth.
BACK_AND_FORTH = ["Move West", "Move East", "Move West", "Move East"]


def tracker(**params) -> PositionTracker:
    return PositionTracker(PositionParams(**params))


def test_visits_and_the_movement_directive(tmp_path: Path) -> None:
    helper = tracker(visits=3)
    driver = Driver(CrafterEnv(), [helper], CRAFTER_SEED, tmp_path / "m")
    assert helper.prompt_context(driver.ctx, "plan") == (
        "Position: x=32, y=32; visited 1 time; 1 distinct cells visited on this map."
    )
    driver.play(BACK_AND_FORTH[:3])
    assert driver.env.position() == (31, 32)
    assert "MOVE" not in (helper.prompt_context(driver.ctx, "plan") or "")
    driver.step(BACK_AND_FORTH[3])
    assert helper.prompt_context(driver.ctx, "plan") == (
        "Position: x=32, y=32; visited 3 times; 2 distinct cells visited on this map.\n"
        "MOVE: you have been on this cell 3 times: you are going in circles. Head for places "
        "you have not been; of the cells around you, the least visited are north (0 visits), "
        "east (0 visits), south (0 visits)."
    )
    assert helper.prompt_context(driver.ctx, "log") is None  # phases
    driver.play(["Move North", "Move East"])  # somewhere new: no directive
    assert "MOVE" not in (helper.prompt_context(driver.ctx, "plan") or "")


def test_parameters_change_what_counts(tmp_path: Path) -> None:
    stays = tracker(visits=3, count_stays=True, show_position=False)
    arrivals = tracker(visits=3, show_position=False)
    recent = tracker(visits=3, window=2)
    diagonal = tracker(visits=2, diagonals=True, show_position=False)
    helpers = [stays, arrivals, recent, diagonal]
    driver = Driver(CrafterEnv(), helpers, CRAFTER_SEED, tmp_path / "m")
    driver.play(["Noop", "Noop"])  # standing still: a visit per step only with count_stays
    assert (stays.prompt_context(driver.ctx, "plan") or "").startswith(
        "MOVE: you have been on this cell 3 times"
    )
    assert arrivals.prompt_context(driver.ctx, "plan") is None
    driver.play(BACK_AND_FORTH)
    assert "3 times" in (arrivals.prompt_context(driver.ctx, "plan") or "")
    # Within the last 2 steps the cell was visited once.
    assert recent.prompt_context(driver.ctx, "plan") == (
        "Position: x=32, y=32; visited 1 time in the last 2 steps; "
        "2 distinct cells visited on this map."
    )
    text = diagonal.prompt_context(driver.ctx, "plan") or ""
    assert text.endswith(
        "north (0 visits), east (0 visits), south (0 visits), northeast (0 visits), "
        "southeast (0 visits), southwest (0 visits), northwest (0 visits)."
    )


def test_minihack_positions_are_per_level(tmp_path: Path) -> None:
    env = envs.make("minihack/MiniHack-MazeWalk-9x9-v0")
    try:
        helper = tracker(visits=2, diagonals=True)
        driver = Driver(env, [helper], 2, tmp_path / "m")
        driver.play(["east", "west"])
        text = helper.prompt_context(driver.ctx, "plan") or ""
    finally:
        env.close()
    assert text.startswith("Position: x=39, y=13 on level 0:1; visited 2 times;")
    # East of the start is the one neighbour visited (once); the maze's walls are not known.
    assert (
        "least visited are north (0 visits), south (0 visits), west (0 visits), northeast" in text
    )
    assert set(helper.counts) == {("0:1", 39, 13), ("0:1", 40, 13)}


def test_silent_without_a_position(tmp_path: Path) -> None:
    helper = tracker(visits=2)
    driver = Driver(LineEnv(), [helper], 0, tmp_path / "m")
    driver.play(["right", "left", "right"])
    assert helper.prompt_context(driver.ctx, "plan") is None
