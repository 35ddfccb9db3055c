"""Registers the built-in games. Each entry point is imported only when the game is made."""

from automem.envs.nethack.tasks import MINIHACK_GOALS
from automem.envs.registry import register

register(
    "crafter",
    "automem.envs.crafter.env:CrafterEnv",
    description="Crafter open-world survival (22 achievements, 2000 steps), BALROG text.",
)

register(
    "nethack",
    "automem.envs.nethack.env:NetHackTextEnv",
    description=(
        "NetHack (NetHackChallenge-v0), BALROG hybrid text; progression from the dungeon "
        "level and experience level table; 100,000 steps, aborted after 150 steps without a new "
        "turn."
    ),
)

for _task, _goal in MINIHACK_GOALS.items():
    register(
        f"minihack/{_task}",
        "automem.envs.nethack.env:MiniHackTextEnv",
        description=f"MiniHack {_task}: {_goal}; BALROG hybrid text, 100 steps, solved or not.",
        task=_task,
    )
