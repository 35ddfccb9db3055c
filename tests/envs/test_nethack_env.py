"""The NetHack text environment (real NLE 1.3 NetHackChallenge-v0, BALROG protocol)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import numpy as np
import pytest

from automem.core import StepResult
from automem.envs import make, registered
from automem.envs.nethack import language as L
from automem.envs.nethack import progress
from automem.envs.nethack.actions import NETHACK_NAMES
from automem.envs.nethack.env import MINIHACK_TASKS, NetHackTextEnv
from automem.envs.nle_map import map_lines, neighbours
from tests.conftest import DATA

# BALROG's NetHack action names (balrog/environments/nle/base.py, NLE_ACTIONS_TO_DESCR).
BALROG_NAMES = [
    "north", "east", "south", "west", "northeast", "southeast", "southwest", "northwest",
    "far north", "far east", "far south", "far west",
    "far northeast", "far southeast", "far southwest", "far northwest",
    "up", "down", "wait", "more", "annotate", "apply", "call", "cast", "close", "open", "dip",
    "drop", "droptype", "eat", "esc", "engrave", "enhance", "fire", "fight", "force",
    "inventory", "invoke", "jump", "kick", "look", "loot", "monster", "offer", "pay", "pickup",
    "pray", "puton", "quaff", "quiver", "read", "remove", "rub", "search", "swap", "takeoff",
    "takeoffall", "teleport", "throw", "travel", "twoweapon", "untrap", "wear", "wield", "wipe",
    "zap", "minus", "space", "apos", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
]  # fmt: skip


@pytest.fixture(scope="module")
def env() -> Iterator[NetHackTextEnv]:
    e = make("nethack")
    assert isinstance(e, NetHackTextEnv)
    yield e
    e.close()


def _example(index: int) -> dict:
    return json.loads((DATA / "nle_language_examples.json").read_text())["cases"][index]


def test_all_nine_games_are_registered_lazily() -> None:
    ids = {s.env_id for s in registered()}
    assert "nethack" in ids and "crafter" in ids
    assert {f"minihack/{t}" for t in MINIHACK_TASKS} <= ids
    assert all(s.description for s in registered())
    code = (
        "import sys, automem, automem.envs as e; e.registered(); e.spec('nethack'); "
        "print('nle' in sys.modules or 'minihack' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reset_5_is_the_benchmark_example_exactly(env: NetHackTextEnv) -> None:
    """Seed s is NetHack's (core, disp) = (s, s + 1): seed 5 is the shared example (5, 6)."""
    case = _example(0)
    expected, tty = case["expected"], np.asarray(case["input"]["tty_chars"], dtype=np.uint8)
    obs = env.reset(5)
    assert obs.text == L.hybrid_text(
        expected["message"],
        expected["language_observation"],
        expected["cursor"],
        case["input"]["tty_cursor"],
        L.screen_map(tty),
    )
    assert obs.short_term == f"inventory:\n{expected['inventory']}\n"
    raw = env.raw_observation
    for key in ("glyphs", "blstats", "tty_chars", "inv_strs"):
        assert np.array_equal(raw[key], np.asarray(case["input"][key])), key


def test_actions_are_balrogs_names_with_prompt_letters(env: NetHackTextEnv) -> None:
    names = env.action_names
    assert list(NETHACK_NAMES) == BALROG_NAMES
    named = names[: len(BALROG_NAMES)]
    assert sorted(named) == sorted(BALROG_NAMES)
    # Listed in the order of NetHackChallenge's action set, as BALROG lists them.
    indices = [env._vocab.index[n] for n in named]
    assert indices == sorted(indices)
    letters = names[len(BALROG_NAMES) :]
    assert {"y", "n", "a", "e", "q", "Y"} <= set(letters)
    assert not {"g", "m", "v", "G", "S"} & set(letters)  # keys BALROG's names cannot type
    assert all(len(x) == 1 for x in letters)
    assert env.default_action == "esc"
    assert all(a.description for a in env.actions)
    plain = NetHackTextEnv(prompt_letters=False)
    try:
        assert plain.action_names == named
    finally:
        plain.close()


def test_action_parsing(env: NetHackTextEnv) -> None:
    assert env.parse_action("North") == "north"
    assert env.parse_action("  far   east ") == "far east"
    assert env.parse_action("ESC") == "esc"
    assert env.parse_action("y") == "y" and env.parse_action("Y") == "Y"
    assert env.parse_action("dance") is None
    assert env.parse_action("g") is None


def test_prompt_letters_send_the_same_key_as_their_name(env: NetHackTextEnv) -> None:
    index = env._vocab.index
    assert index["y"] == index["northwest"] and index["n"] == index["southeast"]
    assert index["e"] == index["eat"] and index["Y"] == index["far northwest"]


def test_200_random_valid_steps_never_show_more(env: NetHackTextEnv) -> None:
    rng = random.Random(0)
    env.reset(0)
    presses = 0
    for steps in range(1, 201):
        result = env.step(rng.choice(env.action_names))
        assert result.valid
        assert 0.0 <= result.progression <= 1.0
        assert "--More--" not in result.observation.text
        assert result.observation.text.startswith("message:\n")
        assert result.observation.short_term.startswith("inventory:\n")
        presses += result.info["more_dismissed"]
        if result.done:
            env.reset(steps)
    assert presses > 0  # --More-- did come up, and was dismissed every time


def test_invalid_action_runs_esc(env: NetHackTextEnv) -> None:
    env.reset(1)
    result = env.step("dance a jig")
    assert result.action == "esc" and result.valid is False
    assert env.step("search").valid is True


def test_neighbour_map_reads_the_observation(env: NetHackTextEnv) -> None:
    obs = env.reset(5)
    cells = neighbours(obs.text)
    assert cells is not None and len(cells) == 8
    assert cells["north"] == ("d", "monster or pet")  # "tame little dog adjacent north"
    assert cells["south"][0] == "." and cells["east"][0] == "."
    assert map_lines(obs.text)[18 - 1][66] == "@"


def test_progression_takes_the_higher_table_value(env: NetHackTextEnv) -> None:
    table = progress.progression_table()
    blstats = np.zeros(27, dtype=np.int64)
    blstats[progress.DEPTH_INDEX], blstats[progress.XP_INDEX] = 3, 2
    # Dlvl:3 (1.75%) and Xp:2 (1.85%): BALROG keeps the higher one, here the Xp value.
    assert progress.nethack_update(0.0, blstats) == max(table["Dlvl:3"], table["Xp:2"])
    assert progress.nethack_update(0.0, blstats) == table["Xp:2"]
    blstats[progress.DEPTH_INDEX], blstats[progress.XP_INDEX] = 5, 1
    assert progress.nethack_update(0.0, blstats) == table["Dlvl:5"]
    assert progress.nethack_update(0.5, blstats) == 0.5  # the maximum over the run
    assert progress.nethack_update(0.0, np.zeros(27, dtype=np.int64)) == 0.0  # game over
    assert progress.nethack_value(10, 14) == table["Xp:14"]
    assert progress.nethack_value(30, 1) == table["Dlvl:30"]
    assert len(table) == 87 and table["Astral Plane"] > table["Dlvl:50"]


def test_env_reads_depth_and_level_from_each_step(env: NetHackTextEnv) -> None:
    env.reset(2)
    nle_env = env.nle_env
    real_step = nle_env.step

    def deeper(action: int):  # a constructed state: Dlvl 3, Xp 2
        obs, reward, term, trunc, info = real_step(action)
        obs = dict(obs)
        obs["blstats"] = obs["blstats"].copy()
        obs["blstats"][progress.DEPTH_INDEX] = 3
        obs["blstats"][progress.XP_INDEX] = 2
        return obs, reward, term, trunc, info

    nle_env.step = deeper
    try:
        result = env.step("search")
    finally:
        del nle_env.step
    table = progress.progression_table()
    assert result.progression == env.progression == table["Xp:2"]
    assert result.info["depth"] == 3 and result.info["experience_level"] == 2
    assert env.step("search").progression == table["Xp:2"]  # never decreases


def _steps_until_done(env: NetHackTextEnv, action: str, limit: int = 400) -> tuple[int, StepResult]:
    for steps in range(1, limit + 1):
        result = env.step(action)
        if result.done:
            return steps, result
    raise AssertionError(f"{action!r} did not end the episode in {limit} steps")


def test_no_progress_aborts_after_the_benchmarks_151_steps_from_reset(
    env: NetHackTextEnv,
) -> None:
    """balrog-nle 0.9.0 counts once per step; its first step only records the turn."""
    for seed in (3, 4):
        env.reset(seed)
        assert env.raw_observation["blstats"][20] == 1
        steps, result = _steps_until_done(env, "esc")  # esc takes no game time
        assert steps == 151, seed  # NLE 1.3 alone: 75
        assert result.truncated and not result.terminated
        assert result.info["end_status"] == -1 and result.info["turn"] == 0  # game over
        with pytest.raises(RuntimeError, match="episode is over"):
            env.step("esc")


def _search_until_a_new_turn(env: NetHackTextEnv) -> None:
    turn = env.raw_observation["blstats"][20]
    for _ in range(5):  # a fast hero may need two searches for one turn
        result = env.step("search")
        assert not result.done
        if result.info["turn"] != turn:
            return
    raise AssertionError("searching did not pass a turn")


def test_a_new_turn_restarts_the_no_progress_count(env: NetHackTextEnv) -> None:
    env.reset(3)
    _search_until_a_new_turn(env)
    for _ in range(100):
        assert not env.step("esc").done
    _search_until_a_new_turn(env)  # progress: counting starts again
    steps, result = _steps_until_done(env, "esc")
    assert steps == 150 and result.truncated  # 150 steps after the last new turn


def test_the_nle_step_limit_is_max_steps() -> None:
    short = NetHackTextEnv(max_steps=30)
    try:
        short.reset(0)
        steps, result = _steps_until_done(short, "search")
        # NLE itself aborts (and quits the game) at the limit, as in the benchmark.
        assert steps == 30 and result.truncated and result.info["end_status"] == -1
    finally:
        short.close()


def _message(text: str) -> str:
    return text.removeprefix("message:\n").split("\n\nlanguage observation:\n")[0]


def test_a_menu_message_leaves_out_its_blank_rows(env: NetHackTextEnv) -> None:
    env.reset(5)
    result = env.step("enhance")  # the skills menu: a title, a blank row, the skill groups
    screen = [bytes(r).decode("latin-1") for r in env.raw_observation["tty_chars"]]
    indent = len(screen[0]) - len(screen[0].lstrip(" "))
    window = [row[indent:].strip() for row in screen]
    end = next(i for i, row in enumerate(window) if row == "(end)" or " of " in row)
    assert "" in window[:end]  # the state has blank rows inside the window
    assert _message(result.observation.text) == "\n".join(row for row in window[: end + 1] if row)
    assert _message(result.observation.text).startswith("Current skills:\nFighting Skills\n")


def test_the_end_screen_message_holds_the_top_ten_list(env: NetHackTextEnv) -> None:
    env.reset(4)
    _, result = _steps_until_done(env, "esc")  # NLE aborts and quits the game
    screen = [bytes(r).decode("latin-1").strip() for r in env.raw_observation["tty_chars"]]
    assert screen[0] == "" and screen[1].startswith("No  Points     Name")
    message = _message(result.observation.text)
    # Its rows up to two blank rows in a row, blank rows left out, each ending in a newline.
    last = next(i for i in range(1, 23) if screen[i] == screen[i + 1] == "")
    assert message == "".join(row + "\n" for row in screen[:last] if row)
    assert message.count("\n") == 3 and " quit in The Dungeons of Doom on\nlevel 1. " in message


def test_seeds_are_checked(env: NetHackTextEnv) -> None:
    with pytest.raises(TypeError):
        env.reset("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        env.reset(-1)
    fresh = NetHackTextEnv()
    try:
        with pytest.raises(RuntimeError, match="reset"):
            fresh.step("north")
    finally:
        fresh.close()


REPLAY = textwrap.dedent(
    """
    import hashlib, json, random, sys
    from automem.envs import make
    env = make(sys.argv[1], **json.loads(sys.argv[3]))
    out = {}
    for seed in json.loads(sys.argv[2]):
        rng = random.Random(1000 + seed)
        h = hashlib.sha256()
        obs = env.reset(seed)
        h.update((obs.text + obs.short_term).encode())
        for _ in range(100):
            r = env.step(rng.choice(env.action_names))
            h.update((r.observation.text + r.observation.short_term).encode())
            h.update(repr((r.reward, r.progression, r.terminated, r.truncated, r.action)).encode())
            if r.done:
                break
        out[seed] = h.hexdigest()
    print(json.dumps(out, sort_keys=True))
    """
)


def replay_digests(env_id: str, seeds: list[int], hash_seed: str, **kwargs: object) -> dict:
    environ = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", REPLAY, env_id, json.dumps(seeds), json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=environ,
        check=True,
    )
    return json.loads(out.stdout)


def test_replay_is_exact_across_processes() -> None:
    first = replay_digests("nethack", [7, 8, 9], "1")
    second = replay_digests("nethack", [9, 7, 8], "2")  # other order, other hash seed
    assert first == second
    assert len(set(first.values())) == 3
