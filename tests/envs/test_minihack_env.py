"""The MiniHack text environments (real minihack 1.0.2 on NLE 1.3, BALROG protocol)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from automem import envs
from automem.core import StepResult
from automem.envs import make
from automem.envs.nethack import boxoban, progress
from automem.envs.nethack.env import MINIHACK_TASKS, MiniHackTextEnv
from automem.envs.nle_map import neighbours
from tests.envs.test_nethack_env import replay_digests

MOVES = ["north", "east", "south", "west", "northeast", "southeast", "southwest", "northwest"]
QUEST = [
    *MOVES,
    *(f"far {m}" for m in MOVES),
    "down", "wait", "more", "apply", "close", "eat", "force", "kick", "loot", "open",
    "pickup", "pray", "puton", "quaff", "search", "zap",
]  # fmt: skip
VOCABULARY = {
    "MiniHack-Boxoban-Hard-v0": MOVES[:4],
    "MiniHack-Boxoban-Medium-v0": MOVES[:4],
    "MiniHack-MazeWalk-9x9-v0": MOVES,
    "MiniHack-MazeWalk-15x15-v0": MOVES,
    "MiniHack-Corridor-R3-v0": [*MOVES, "open", "kick", "search"],
    "MiniHack-CorridorBattle-Dark-v0": MOVES,
    "MiniHack-Quest-Easy-v0": QUEST,
    "MiniHack-Quest-Medium-v0": QUEST,
}

# Boxoban files as DeepMind publishes them: "; n" header, 10 rows, blank line after each level.
SOLVED_BY_EAST = """; 0
##########
##########
##########
##########
###@$.  ##
##########
##########
##########
##########
##########

"""
SMALL_ROOM = """; 1
##########
#   ######
# $@######
#  .######
##########
##########
##########
##########
##########
##########

"""


def write_levels(root: Path, *levels: str) -> Path:
    for subdir in boxoban.TASK_SUBDIRS.values():
        (root / subdir).mkdir(parents=True, exist_ok=True)
        (root / subdir / "000.txt").write_text("".join(levels))
    return root


@pytest.fixture(scope="module")
def levels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_levels(tmp_path_factory.mktemp("boxoban"), SOLVED_BY_EAST, SMALL_ROOM)


def make_task(task: str, levels: Path) -> MiniHackTextEnv:
    kwargs = {"boxoban_levels": levels} if "Boxoban" in task else {}
    env = make(f"minihack/{task}", **kwargs)
    assert isinstance(env, MiniHackTextEnv)
    return env


@pytest.mark.parametrize("task", MINIHACK_TASKS)
def test_each_task_runs_200_random_valid_steps(task: str, levels: Path) -> None:
    env = make_task(task, levels)
    try:
        assert env.env_id == f"minihack/{task}" and env.game == "minihack"
        assert env.default_action == "north" and env.max_steps == 100
        names = env.action_names
        assert names[: len(VOCABULARY[task])] == VOCABULARY[task]
        if "Quest" in task:  # prompt letters for the tasks whose actions ask for items
            assert {"a", "q", "z", "y", "n"} <= set(names[len(QUEST) :])
        else:
            assert names == VOCABULARY[task]
        rng = random.Random(0)
        obs = env.reset(42)
        assert obs.text.startswith("message:\n") and "\nmap:\n" in obs.text
        cells = neighbours(obs.text)
        assert cells is not None and len(cells) == 8
        episodes = 1
        for _ in range(200):
            result = env.step(rng.choice(names))
            assert result.valid and result.progression in (0.0, 1.0)
            assert "--More--" not in result.observation.text
            if result.done:
                # NLE ends the episode: aborted at its 100-step limit (truncated), else the
                # task ended (death or success, terminated).
                aborted = result.info["end_status"] == -1
                assert result.truncated == aborted and result.terminated == (not aborted)
                assert result.info["step"] == 100 if aborted else result.info["step"] < 100
                env.reset(42 + episodes)
                episodes += 1
        assert episodes >= 2  # 100-step cap
    finally:
        env.close()


def test_invalid_action_moves_north(levels: Path) -> None:
    env = make_task("MiniHack-MazeWalk-9x9-v0", levels)
    try:
        env.reset(0)
        result = env.step("open the door")
        assert result.action == "north" and result.valid is False
    finally:
        env.close()


def test_seed_fixes_the_generated_level() -> None:
    env = make("minihack/MiniHack-MazeWalk-15x15-v0")
    try:
        maps = [env.reset(s).text.split("map:\n")[1] for s in (1, 2, 1)]
        assert maps[0] == maps[2] and maps[0] != maps[1]
    finally:
        env.close()


def test_nle_itself_aborts_at_step_100() -> None:
    """As in the benchmark (gym 0.23 hands max_episode_steps to NLE): NLE quits the game."""
    env = make("minihack/MiniHack-MazeWalk-15x15-v0")
    try:
        env.reset(3)
        for step in range(1, 101):
            result = env.step("north" if step % 2 else "south")
            if result.done:
                break
        assert step == 100 and result.truncated and not result.terminated
        assert result.info["end_status"] == -1 and result.progression == 0.0
        # The last observation is NLE's end screen after quitting, not the live maze.
        assert result.observation.text.startswith("message:\nNo  Points     Name")
        assert "quit in The Dungeons of Doom" in result.observation.text
    finally:
        env.close()


# Seed 0 of MazeWalk-9x9: the stairs down are 10 moves away; east of the start is a wall.
MAZE_SOLUTION = ["south", *["west"] * 4, "north", "north", "west", "west", "south"]


def _solve_maze_on_step(env: MiniHackTextEnv, last: int) -> StepResult:
    env.reset(0)
    bumps = ["east"] * (last - len(MAZE_SOLUTION))  # walking into a wall: a step, no move
    for step, action in enumerate(bumps + MAZE_SOLUTION, 1):
        result = env.step(action)
        assert result.done == (step == last)
    return result


def test_a_task_solved_on_step_100_is_not_solved() -> None:
    """NLE checks its step limit before success: the benchmark scores step 100 as 0."""
    env = make("minihack/MiniHack-MazeWalk-9x9-v0")
    try:
        assert isinstance(env, MiniHackTextEnv)
        solved = _solve_maze_on_step(env, 99)
        assert solved.terminated and solved.progression == 1.0 and solved.reward >= 1.0
        late = _solve_maze_on_step(env, 100)
        assert late.truncated and not late.terminated and late.info["end_status"] == -1
        assert late.progression == 0.0 == env.progression
    finally:
        env.close()


def _random_episode(env: MiniHackTextEnv, seed: int) -> StepResult:
    rng = random.Random(1000 + seed)
    env.reset(seed)
    for _ in range(100):
        result = env.step(rng.choice(env.action_names))
        if result.done:
            return result
    raise AssertionError("the episode did not end")


def test_an_end_screen_lists_only_its_own_game() -> None:
    """NetHack's top-ten file is emptied at reset, as in a new NLE per episode."""
    env = make("minihack/MiniHack-Quest-Medium-v0")
    try:
        assert isinstance(env, MiniHackTextEnv)
        first = _random_episode(env, 42)  # killed by a giant rat: 8 points, a top-ten entry
        assert first.terminated and "You made the top ten list!" in first.observation.text
        again = _random_episode(env, 42)
        assert again.observation == first.observation
        message = first.observation.text.split("\n\nlanguage observation:")[0]
        assert message.count(" died in ") == 1  # one game: this one
    finally:
        env.close()


def test_progression_is_one_when_the_step_reward_reaches_one() -> None:
    assert progress.minihack_update(1.0) == 1.0
    assert progress.minihack_update(1.09) == 1.0
    assert progress.minihack_update(0.99) == 0.0
    assert progress.minihack_update(-0.01) == 0.0


def test_solving_boxoban_gives_progression_one(levels: Path) -> None:
    env = make_task("MiniHack-Boxoban-Hard-v0", levels)
    try:
        seed = next(s for s in range(100) if boxoban.level_index(s, 2) == 0)
        obs = env.reset(seed)
        assert "boulder adjacent east" in obs.text and "fountain very near east" in obs.text
        result = env.step("east")  # push the box onto the target
        assert result.reward >= 1.0 and result.progression == 1.0 == env.progression
        assert result.terminated and not result.truncated
    finally:
        env.close()


def test_boxoban_level_is_chosen_by_the_seed(levels: Path) -> None:
    assert [boxoban.level_index(s, 2) for s in range(6)] == [0, 0, 0, 0, 1, 1]
    env = make_task("MiniHack-Boxoban-Medium-v0", levels)
    try:
        first, small = env.reset(0).text, env.reset(4).text
        assert "boulder adjacent east" in first and "boulder adjacent west" in small
        assert env.reset(0).text.split("map:")[1] == first.split("map:")[1]
    finally:
        env.close()


def test_boxoban_levels_from_the_environment_variable(
    levels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(boxoban.LEVELS_ENV, str(levels))
    env = make("minihack/MiniHack-Boxoban-Hard-v0")
    try:
        assert "boulder" in env.reset(1).text
    finally:
        env.close()
    assert boxoban.level_files("MiniHack-Boxoban-Medium-v0") == [
        levels / "medium" / "train" / "000.txt"
    ]


def test_missing_boxoban_levels_say_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(boxoban.LEVELS_ENV, raising=False)
    with pytest.raises(boxoban.BoxobanLevelsMissing) as info:
        make("minihack/MiniHack-Boxoban-Hard-v0", boxoban_levels=tmp_path)
    message = str(info.value)
    assert "\n" not in message and f"the levels_dir argument: {tmp_path}" in message
    # The public data set by name, fetched where there is internet, then pointed to.
    assert "Download the boxoban-levels data set" in message
    assert "on a machine with internet access" in message
    assert f"then set {boxoban.LEVELS_ENV}=DIR" in message
    monkeypatch.setenv(boxoban.LEVELS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="AUTOMEM_BOXOBAN_LEVELS"):
        boxoban.load_levels("MiniHack-Boxoban-Medium-v0")
    default = boxoban.minihack_levels_dir()
    if default is not None and not (default / "hard").exists():
        monkeypatch.delenv(boxoban.LEVELS_ENV)
        with pytest.raises(boxoban.BoxobanLevelsMissing, match="minihack's download location"):
            boxoban.load_levels("MiniHack-Boxoban-Hard-v0")


def test_the_data_check_says_what_is_missing_before_an_env_is_made(
    levels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(boxoban.LEVELS_ENV, str(tmp_path / "empty"))
    hard = envs.missing_data("minihack/MiniHack-Boxoban-Hard-v0")
    assert hard is not None and hard.data == "the Boxoban level files"
    assert hard.looked == f"${boxoban.LEVELS_ENV}: {tmp_path / 'empty'}"
    assert hard == envs.missing_data("minihack/MiniHack-Boxoban-Medium-v0")  # one fix for both
    assert envs.missing_data("minihack/MiniHack-MazeWalk-9x9-v0") is None
    assert envs.missing_data("crafter") is None
    monkeypatch.setenv(boxoban.LEVELS_ENV, str(levels))
    assert envs.missing_data("minihack/MiniHack-Boxoban-Hard-v0") is None


def test_boxoban_files_parse_like_minihack() -> None:
    levels = boxoban.parse_levels(SOLVED_BY_EAST + SMALL_ROOM + "; 2\n##\n")  # last: no blank
    assert len(levels) == 2
    assert levels[0].startswith("##########\n") and levels[0].count("\n") == 10


def test_replay_is_exact_across_processes(levels: Path) -> None:
    first = replay_digests("minihack/MiniHack-Quest-Medium-v0", [42, 43, 44], "3")
    second = replay_digests("minihack/MiniHack-Quest-Medium-v0", [44, 42, 43], "4")
    assert first == second and len(set(first.values())) == 3
    box = {"boxoban_levels": str(levels)}
    assert replay_digests("minihack/MiniHack-Boxoban-Hard-v0", [1, 5], "5", **box) == (
        replay_digests("minihack/MiniHack-Boxoban-Hard-v0", [5, 1], "6", **box)
    )
