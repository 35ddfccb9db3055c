"""The environment registry: user registrations, built-in games and lookup errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.envs import spec
from automem.envs.nethack.tasks import MINIHACK_TASKS

# Run in a fresh interpreter: whether the built-ins are registered yet depends on what the
# process looked up before, and this checks a registration made before any lookup.
EARLY_REGISTRATION = textwrap.dedent(
    """
    import automem.envs as envs
    from automem.envs.crafter.env import CrafterEnv

    class Mine(CrafterEnv):
        env_id = "crafter"

    envs.register("crafter", Mine, overwrite=True)  # before the first lookup
    envs.register("mine", "automem.envs.crafter.env:CrafterEnv", max_steps=7)
    assert envs.spec("crafter").entry_point is Mine
    assert type(envs.make("crafter")) is Mine
    assert envs.make("mine").max_steps == 7
    ids = {s.env_id for s in envs.registered()}
    assert {"nethack", "crafter", "mine", "minihack/MiniHack-Quest-Easy-v0"} <= ids, ids
    try:
        envs.register("nethack", Mine)
    except ValueError as exc:
        assert "already registered" in str(exc)
    else:
        raise AssertionError("a built-in name was taken without overwrite=True")
    print("ok")
    """
)


def test_registering_before_the_first_lookup_keeps_the_builtins() -> None:
    out = subprocess.run([sys.executable, "-c", EARLY_REGISTRATION], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_game_with_several_tasks_lists_them() -> None:
    with pytest.raises(ValueError) as info:
        spec("minihack")
    message = str(info.value)
    assert "'minihack' has several environments; pick one:" in message
    assert all(f"minihack/{task}" in message for task in MINIHACK_TASKS)
    assert "Did you mean" not in message
    with pytest.raises(ValueError, match="Did you mean 'crafter'"):
        spec("crafterr")


def test_env_show_of_a_game_name_lists_its_tasks() -> None:
    result = CliRunner().invoke(app, ["env", "show", "minihack"])
    assert result.exit_code == 2
    assert "minihack/MiniHack-MazeWalk-9x9-v0" in result.output
    assert "nethack" not in result.output.replace("minihack", "")
