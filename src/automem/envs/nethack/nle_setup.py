"""Building NLE environments that end episodes where the benchmark's NLE ends them.

The benchmark runs balrog-nle 0.9.0 (NLE 0.9 on gym 0.23); we run nle 1.3 on gymnasium. Two
differences of those packages change when an episode ends, and both are undone here:

* **Step limit.** gym 0.23's ``make`` hands every keyword to the environment, so the
  benchmark's ``max_episode_steps`` (100 for MiniHack, 100,000 for NetHack) is NLE's own
  limit: NLE aborts the game at that step, quits it and returns the end screen, and a task
  solved on that very step is not counted (NLE checks the limit before success).
  gymnasium's ``make`` takes ``max_episode_steps`` for a ``TimeLimit`` wrapper instead and
  the task keeps its own limit (e.g. 1000 steps for MazeWalk). :func:`make_task` builds the
  task from its registered entry point with every keyword reaching NLE.
* **No-progress timeout.** NetHackChallenge aborts when the in-game turn counter has not
  changed for ``no_progress_timeout`` checks. NLE 0.9 checks once per step; NLE 1.3 checks
  twice per step (once for ``truncated``, once for the end status) and once more in
  ``reset``. With the benchmark's 150, a game without new turns (menus, prompts, ``esc``)
  ends after 151 steps from reset and 150 steps after the last new turn in the benchmark,
  after 75 in plain NLE 1.3. :func:`challenge_class` counts once per step, as NLE 0.9 does.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def challenge_class() -> type:
    """NetHackChallenge whose no-progress counter advances once per step (NLE 0.9's rule)."""
    from nle.env.tasks import NetHackChallenge

    class BenchmarkChallenge(NetHackChallenge):
        def reset(self, *args: Any, **kwargs: Any) -> Any:
            # NLE 0.9's reset makes no check: the first step only records the turn.
            self._checked_step = 0
            self._aborting = False
            return super().reset(*args, **kwargs)

        def _check_abort(self, observation: Any) -> bool:
            # NLE 1.3 asks before and after counting the step; only a new step counts.
            if self._steps != self._checked_step:
                self._checked_step = self._steps
                self._aborting = bool(super()._check_abort(observation))
            return self._aborting

    return BenchmarkChallenge


def make_task(task: str, **kwargs: Any) -> Any:
    """The unwrapped NLE environment of a registered task, every keyword reaching it."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    spec = gym.spec(task)
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = load_env_creator(creator)
    if task == "NetHackChallenge-v0":
        creator = challenge_class()
    return creator(**{**spec.kwargs, **kwargs})


__all__ = ["challenge_class", "make_task"]
