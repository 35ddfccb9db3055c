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


def test_150_no_progress_checks_end_the_episode(env: NetHackTextEnv) -> None:
    """NLE counts two checks per step: 75 steps without a new turn abort the game."""
    env.reset(3)
    steps = 0
    while steps < 100:
        result = env.step("esc")  # esc takes no game time
        steps += 1
        if result.done:
            break
    assert steps == 75
    assert result.truncated and not result.terminated
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step("esc")


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
