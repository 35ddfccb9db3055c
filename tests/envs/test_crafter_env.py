"""Tests of the Crafter text environment (real crafter simulation, BALROG text format)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import subprocess
import sys
import textwrap

import crafter
import pytest
from crafter import engine, objects

from automem.core import StepResult
from automem.envs import make
from automem.envs.crafter import env as crafter_env
from automem.envs.crafter.env import ACHIEVEMENTS, ACTION_NAMES, CrafterEnv
from automem.envs.crafter.text import DEAD_NOTICE, SLEEPING_NOTICE, describe_offset

EXPECTED_ACTIONS = [
    "Noop",
    "Move West",
    "Move East",
    "Move North",
    "Move South",
    "Do",
    "Sleep",
    "Place Stone",
    "Place Table",
    "Place Furnace",
    "Place Plant",
    "Make Wood Pickaxe",
    "Make Stone Pickaxe",
    "Make Iron Pickaxe",
    "Make Wood Sword",
    "Make Stone Sword",
    "Make Iron Sword",
]
VITAL_LINES = ("- health: ", "- food: ", "- drink: ", "- energy: ")


def _fresh(seed: int = 0, **kwargs) -> CrafterEnv:
    env = CrafterEnv(**kwargs)
    env.reset(seed)
    return env


def _clear_view(env: CrafterEnv, material: str = "grass") -> tuple[int, int]:
    """Remove creatures near the player and paint its surroundings with ``material``."""
    world, player = env.world, env.player
    px, py = (int(v) for v in player.pos)
    for obj in world.objects:
        if obj is not player and abs(int(obj.pos[0]) - px) <= 8 and abs(int(obj.pos[1]) - py) <= 8:
            world.remove(obj)
    for x in range(px - 6, px + 7):
        for y in range(py - 6, py + 7):
            world[(x, y)] = material
    return px, py


def _digest(env: CrafterEnv, seed: int, n_steps: int) -> str:
    h = hashlib.sha256(env.reset(seed).text.encode())
    rng = random.Random(1234 + seed)
    for _ in range(n_steps):
        r = env.step(rng.choice(ACTION_NAMES))
        h.update(f"{r.observation.text}|{r.reward!r}|{r.progression!r}|{r.done}".encode())
        if r.done:
            h.update(env.reset(seed).text.encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- protocol


def test_registry_and_action_set():
    env = make("crafter")
    assert isinstance(env, CrafterEnv)
    assert (env.env_id, env.game, env.default_action, env.max_steps) == (
        "crafter",
        "crafter",
        "Noop",
        2000,
    )
    assert env.action_names == EXPECTED_ACTIONS
    assert all(a.description for a in env.actions)
    descriptions = {a.name: a.description for a in env.actions}
    assert "nearby table and 1 wood" in descriptions["Make Wood Pickaxe"]
    assert "drink water" in descriptions["Do"]
    assert len(ACHIEVEMENTS) == 22
    assert env.progression == 0.0


def test_random_valid_steps():
    env = _fresh(0)
    rng = random.Random(0)
    last = 0.0
    for _ in range(200):
        r = env.step(rng.choice(ACTION_NAMES))
        assert isinstance(r, StepResult) and r.valid
        text, status = r.observation.text, r.observation.short_term
        assert text and "You see" in text and "You face" in text
        assert status.startswith("Your status:\n") and "Your status" not in text
        assert all(line in status for line in VITAL_LINES)
        assert 0.0 <= r.progression <= 1.0 and r.progression >= last
        assert r.progression == env.progression
        assert math.isfinite(r.reward)
        last = r.progression
        if r.done:
            # Killed in its sleep, the player still reads as sleeping (as in the benchmark).
            notice = SLEEPING_NOTICE if env.player.sleeping else DEAD_NOTICE
            assert r.terminated and text.startswith(notice + "\n\n\n\nYou see")
            env.reset(0)
            last = 0.0


def test_invalid_and_case_insensitive_actions():
    env = _fresh(0)
    r = env.step("dance a jig")
    assert (r.action, r.valid) == ("Noop", False)
    r = env.step("  move   WEST ")
    assert (r.action, r.valid) == ("Move West", True)
    assert tuple(env.player.facing) == (-1, 0)
    r = env.step("do")
    assert (r.action, r.valid) == ("Do", True)


def test_truncation_at_max_steps():
    env = _fresh(0, max_steps=5)
    results = [env.step("Noop") for _ in range(5)]
    assert [r.truncated for r in results] == [False] * 4 + [True]
    assert not any(r.terminated for r in results)
    assert results[-1].info["step"] == 5 and env.steps == 5
    with pytest.raises(RuntimeError):
        env.step("Noop")
    env.reset(0)
    assert not env.step("Noop").done


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError):
        CrafterEnv().step("Noop")


def test_death_terminates_with_notice():
    env = _fresh(0)
    env.player.health = 0
    env.player._recover = 0
    r = env.step("Noop")
    assert r.terminated and not r.truncated and r.done
    assert r.observation.text.startswith(DEAD_NOTICE)
    with pytest.raises(RuntimeError):
        env.step("Noop")


# --------------------------------------------------------------------------- text format


def test_describe_offset_words():
    assert describe_offset(0, -1) == "1 step to your north"
    assert describe_offset(-2, -1) == "3 steps to your north-west"
    assert describe_offset(3, 0) == "3 steps to your east"
    assert describe_offset(1, 2) == "3 steps to your south-east"
    assert describe_offset(-1, 4) == "5 steps to your south-west"


def test_text_on_constructed_state():
    env = _fresh(0)
    world, player = env.world, env.player
    px, py = _clear_view(env)
    world[(px - 1, py)] = "tree"  # in front of the player
    world[(px - 3, py - 3)] = "tree"  # a farther tree: only the closest one is listed
    world[(px + 2, py - 2)] = "stone"
    world[(px, py + 3)] = "water"  # bottom row of the 9x7 local view
    world[(px, py - 3)] = "lava"  # top row
    world[(px + 4, py + 3)] = "coal"  # corner of the view
    world[(px + 5, py)] = "iron"  # just east of the view: not seen
    world[(px, py - 4)] = "diamond"  # just north of the view: not seen
    world.add(objects.Cow(world, (px - 2, py + 1)))
    player.facing = (-1, 0)

    obs = env.observe()
    expected_view = textwrap.dedent(
        """\
        You see:
        - grass 1 step to your north
        - tree 1 step to your west
        - cow 3 steps to your south-west
        - lava 3 steps to your north
        - water 3 steps to your south
        - stone 4 steps to your north-east
        - coal 7 steps to your south-east

        You face tree at your front."""
    )
    expected_status = textwrap.dedent(
        """\
        Your status:
        - health: 9/9
        - food: 9/9
        - drink: 9/9
        - energy: 9/9

        You have nothing in your inventory."""
    )
    # The benchmark's long-term and short-term contexts: the view, then status and inventory.
    assert (obs.text, obs.short_term) == (expected_view, expected_status)
    assert obs.render() == expected_view + "\n\n" + expected_status

    player.facing = (0, 1)
    assert "You face grass at your front." in env.observe().text
    player.inventory["wood"] = 3
    player.inventory["wood_pickaxe"] = 1
    player.inventory["food"] = 4
    status = env.observe().short_term
    assert "- food: 4/9" in status
    assert status.endswith("Your inventory:\n- wood: 3\n- wood_pickaxe: 1")


def test_notices_are_followed_by_four_newlines_and_sleep_wins():
    env = _fresh(0)
    view = env.observe().text
    env.player.sleeping = True
    assert env.observe().text == SLEEPING_NOTICE + "\n\n\n\n" + view
    env.player.health = 0  # killed in its sleep (crafter wakes it only on its next update)
    assert env.observe().text == SLEEPING_NOTICE + "\n\n\n\n" + view
    env.player.sleeping = False
    assert env.observe().text == DEAD_NOTICE + "\n\n\n\n" + view


def test_text_at_map_edge():
    env = _fresh(0)
    world, player = env.world, env.player
    py = int(player.pos[1])
    for obj in world.objects:
        if obj is not player and int(obj.pos[0]) <= 6 and abs(int(obj.pos[1]) - py) <= 6:
            world.remove(obj)
    for x in range(0, 6):
        for y in range(py - 5, py + 6):
            world[(x, y)] = "sand"
    world.move(player, (0, py))
    player.facing = (-1, 0)
    text = env.observe().text
    assert "You face nothing at your front." in text
    assert "- sand 1 step to your north" in text
    assert "west" not in text.split("You face")[0]


# --------------------------------------------------------------------------- progression


def test_scripted_achievements_progression():
    env = _fresh(0)
    world, player = env.world, env.player
    px, py = _clear_view(env)
    world[(px - 1, py)] = "tree"
    player.facing = (-1, 0)

    r = env.step("Do")
    assert r.info["achievements_unlocked"] == ["collect_wood"]
    assert r.info["achievements"] == ["collect_wood"]
    assert r.progression == pytest.approx(1 / 22) and r.reward >= 0.9
    assert r.info["inventory"]["wood"] == 1 and "- wood: 1" in r.observation.short_term

    player.inventory["wood"] = 5
    r = env.step("Place Table")  # the tree left grass in front of the player
    assert r.info["achievements_unlocked"] == ["place_table"]
    assert "You face table at your front." in r.observation.text
    r = env.step("Make Wood Pickaxe")
    assert r.info["achievements_unlocked"] == ["make_wood_pickaxe"]
    assert r.progression == pytest.approx(3 / 22)
    r = env.step("Noop")
    assert r.info["achievements_unlocked"] == [] and r.progression == pytest.approx(3 / 22)

    player.achievements["eat_cow"] = 1
    player.achievements["defeat_zombie"] = 2
    assert env.progression == pytest.approx(5 / 22)
    r = env.step("Noop")
    assert sorted(r.info["achievements_unlocked"]) == ["defeat_zombie", "eat_cow"]
    assert len(r.info["achievements"]) == 5

    for name in ACHIEVEMENTS:
        player.achievements[name] = 1
    assert env.progression == 1.0


# --------------------------------------------------------------------------- no rendering


def test_never_renders(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("rendering was called")

    monkeypatch.setattr(crafter.Env, "render", boom)
    monkeypatch.setattr(engine.Textures, "__init__", boom)
    monkeypatch.setattr(engine.LocalView, "__call__", boom)
    monkeypatch.setattr(engine.ItemView, "__call__", boom)
    monkeypatch.setattr(engine.SemanticView, "__call__", boom)
    env = CrafterEnv()
    env.reset(0)
    env.reset(5)  # a seed not yet generated in this process: goes through crafter's reset
    rng = random.Random(5)
    for _ in range(100):
        if env.step(rng.choice(ACTION_NAMES)).done:
            env.reset(5)


# --------------------------------------------------------------------------- determinism


def test_reset_twice_matches_fresh_instance():
    crafter_env._WORLD_CACHE.clear()
    env = CrafterEnv()
    first = _digest(env, 0, 150)  # world generated from scratch
    again = _digest(env, 0, 150)  # same instance, world from the cache
    other = _digest(CrafterEnv(), 0, 150)
    assert first == again == other
    assert _digest(CrafterEnv(), 1, 30) != first


_DETERMINISM_SCRIPT = """
import hashlib, json, random, sys
from automem.envs.crafter.env import ACTION_NAMES, CrafterEnv
seeds = json.loads(sys.argv[1])
out = {}
for seed in seeds:
    env = CrafterEnv()
    h = hashlib.sha256(env.reset(seed).text.encode())
    rng = random.Random(seed)
    for _ in range(300):
        r = env.step(rng.choice(ACTION_NAMES))
        h.update(f"{r.observation.text}|{r.reward!r}|{r.progression!r}|{r.done}".encode())
        if r.done:
            h.update(env.reset(seed).text.encode())
    out[str(seed)] = h.hexdigest()
print(json.dumps(out, sort_keys=True))
"""


@pytest.mark.slow
def test_determinism_across_processes():
    """Same seeds and actions in two processes (different hash seeds, different seed order,
    so objects sit at different addresses) must give identical episodes."""
    runs = []
    for hash_seed, seeds in (("0", [0, 1, 2]), ("12345", [2, 1, 0])):
        environ = {**os.environ, "PYTHONHASHSEED": hash_seed}
        runs.append(
            subprocess.Popen(
                [sys.executable, "-c", _DETERMINISM_SCRIPT, json.dumps(seeds)],
                env=environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    for proc in runs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        outputs.append(json.loads(stdout))
    assert outputs[0] == outputs[1]
