"""NetHack (NetHackChallenge-v0) and MiniHack tasks as text environments, BALROG protocol.

Observation: BALROG's "hybrid" text for text-only models (see
:mod:`automem.envs.nethack.language`): ``Observation.text`` is its long-term context
(``message:``, ``language observation:``, ``cursor:``, ``map:`` sections) and
``Observation.short_term`` its ``inventory:`` section, character for character.

Environment settings are BALROG's (``config.yaml``), and NLE ends episodes where the
benchmark's NLE (balrog-nle 0.9.0) ends them (:mod:`automem.envs.nethack.nle_setup`):

* NetHack: ``NetHackChallenge-v0`` with ``character="@"`` (random role),
  ``max_episode_steps`` = ``max_steps`` (100,000) and ``no_progress_timeout=150``: the game is
  aborted when the in-game turn counter (``blstats[20]``) has not changed for 150 steps,
  counted once per NLE step as in the benchmark (151 steps from reset, 150 after the last new
  turn; dismissing a --More-- is such a step). Plain NLE 1.3 would abort after 75.
* MiniHack: the task with ``character="@"``, ``max_episode_steps`` = ``max_steps`` (100),
  ``penalty_step=-0.01``, ``penalty_time=0.0``, ``penalty_mode="constant"``,
  ``autopickup=False``. NLE itself aborts at step 100 and quits the game, so the last
  observation is the end screen and a task solved on step 100 is not solved.

An aborted episode is reported as ``truncated``; death (or a solved MiniHack task) as
``terminated``. NetHack's top-ten file is emptied at every reset, as the benchmark's new NLE
per episode has it, so an end screen lists the episode's own game only.

``--More--``: like BALROG's ``AutoMore`` wrapper (``skip_more: True``), after each action
the env presses Enter while the message shows ``--More--`` and the game goes on; each
``--More--`` in the message becomes a line break and the following text is appended, and
the rewards of those steps are added to the step's reward. Unlike BALROG it also does so
after ``reset`` and whenever ``--More--`` is still visible elsewhere on the screen, so an
observation never shows one. (MiniHack dismisses ``--More--`` inside NLE itself.)

Actions are BALROG's names (:mod:`automem.envs.nethack.actions`), plus single-letter aliases
for answering questions where some action asks for an item; invalid text runs the default
(``esc`` for NetHack, ``north`` for MiniHack) with ``valid=False``. Progression is BALROG's
(:mod:`automem.envs.nethack.progress`): the best table value of the dungeon level and the
experience level for NetHack; 1.0 for MiniHack when the step reward reaches 1.0 (solved).

Seeding: ``reset(seed)`` seeds NetHack's core and display RNGs with ``(seed, seed + 1)``
(no reseeding, the level generator on the core RNG) and derives the time-based effects
(moon phase, night, Friday 13th) from the seed instead of the wall clock
(``fix_moon_phase=True``), so an episode depends only on the seed and the actions; Boxoban
levels are chosen from the seed as well (:mod:`automem.envs.nethack.boxoban`). BALROG does
not seed (each episode is random), so seeds do not change any protocol number.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from automem.core import ActionSpec, MissingData, Observation, StepResult, TextEnv
from automem.envs.nethack import boxoban, nle_setup, progress
from automem.envs.nethack.actions import (
    MINIHACK_DEFAULT,
    MINIHACK_NAMES,
    NETHACK_DEFAULT,
    NETHACK_NAMES,
    Vocabulary,
    vocabulary,
)
from automem.envs.nethack.language import (
    describe_cursor,
    describe_map,
    has_more,
    hybrid_text,
    inventory_text,
    map_of_screen,
    screen_message,
    text_inventory,
)
from automem.envs.nethack.tasks import MINIHACK_TASKS

OBSERVATION_KEYS = ("glyphs", "blstats", "tty_chars", "tty_cursor", "inv_strs", "inv_letters")
MAX_SEED = 2**63 - 2
_MORE_LIMIT = 256  # safety cap on --More-- presses after one action
_ABORTED = -1  # NLE StepStatus.ABORTED
_COLUMNS = 80  # terminal width
_TIME = 20  # blstats index of the in-game turn counter (NLE_BL_TIME)
_X, _Y, _DNUM, _DLEVEL = 0, 1, 23, 24  # blstats: NLE_BL_X, NLE_BL_Y, NLE_BL_DNUM, NLE_BL_DLEVEL


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be in [0, {MAX_SEED}], got {seed}")
    return int(seed)


def _check_max_steps(max_steps: int) -> int:
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    return int(max_steps)


class _NLETextEnv(TextEnv):
    """Shared machinery: text observations, --More-- dismissal, steps, seeding."""

    env_id: str
    game: str

    def __init__(self, *, max_steps: int, vocab: Vocabulary, env: Any) -> None:
        # NLE warns when it cannot quit a game it ends at its step limit; the episode ends
        # all the same, so the warning is noise.
        warnings.filterwarnings("ignore", message="Warning: smooth quitting of game failed")
        self.max_steps = _check_max_steps(max_steps)
        self._env = env
        self._vocab = vocab
        self.actions: tuple[ActionSpec, ...] = vocab.specs
        self.default_action = vocab.default
        self._index = vocab.index
        self._exact = {name: name for name in vocab.index}
        self._folded = {name.lower(): name for name in vocab.index if len(name) > 1}
        try:
            self._more_index: int | None = [int(a) for a in env.actions].index(13)
        except ValueError:
            self._more_index = None
        self._steps = 0
        self._started = False
        self._done = True
        self._progression = 0.0
        self._depth_and_level: tuple[int, int] | None = None  # NetHack's, last seen
        self._last_obs: dict[str, Any] | None = None
        self._observation: Observation | None = None
        self._glyph_key: tuple[bytes, int, int] | None = None
        self._glyph_text = ""
        self._inv_key: tuple[bytes, bytes] | None = None
        self._inv_text = ""

    # ----------------------------------------------------------------- hooks

    def _seed_game(self, seed: int) -> None:
        raise NotImplementedError

    def _update_progression(self, blstats: list[int], reward: float) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- protocol

    def parse_action(self, text: str) -> str | None:
        """Exact names first (``y`` and ``Y`` are different keys), then case and spacing."""
        name = self._exact.get(text)
        if name is not None:
            return name
        wanted = " ".join(text.split())
        name = self._exact.get(wanted)
        if name is not None:
            return name
        return self._folded.get(wanted.lower())

    def reset(self, seed: int) -> Observation:
        seed = _check_seed(seed)
        self._seed_game(seed)
        # NetHack keeps its top-ten list in a file of the NLE instance, and the end screen
        # shows it. The benchmark plays each episode in a new NLE (an empty list), and an
        # episode must not depend on the ones before it: empty the file for every game.
        (Path(self._env.nethack._vardir) / "record").write_bytes(b"")
        obs, _info = self._env.reset()
        self._steps = 0
        self._progression = 0.0
        self._depth_and_level = None
        self._started = True
        screen = obs["tty_chars"].tobytes()
        more = has_more(screen)
        message = screen_message(screen, _COLUMNS, more)
        if more and self._more_index is not None:
            obs, _reward, self._done, _end, _presses, message, screen = self._dismiss_more(
                message, screen
            )
        else:
            self._done = False
        self._last_obs = obs
        self._observation = self._observe(obs, message, screen, obs["blstats"].tolist())
        return self._observation

    def step(self, action: str) -> StepResult:
        if not self._started:
            raise RuntimeError("call reset(seed) before step()")
        if self._done:
            raise RuntimeError("the episode is over; call reset(seed) to start another")
        name = self._exact.get(action) or self.parse_action(action)
        valid = name is not None
        if name is None:
            name = self.default_action
        obs, reward, terminated, truncated, info = self._env.step(self._index[name])
        self._steps += 1
        done = terminated or truncated
        end = info["end_status"]
        screen = obs["tty_chars"].tobytes()
        more = has_more(screen)
        message = screen_message(screen, _COLUMNS, more)
        presses = 0
        if more and not done and self._more_index is not None:
            obs, extra, done, end, presses, message, screen = self._dismiss_more(message, screen)
            reward += extra
        blstats = obs["blstats"].tolist()
        self._update_progression(blstats, reward)
        aborted = end == _ABORTED
        terminated = done and not aborted
        truncated = (done and aborted) or (not done and self._steps >= self.max_steps)
        self._done = terminated or truncated
        self._last_obs = obs
        self._observation = self._observe(obs, message, screen, blstats)
        return StepResult(
            observation=self._observation,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            progression=self._progression,
            action=name,
            valid=valid,
            info={
                "step": self._steps,
                "end_status": int(end),
                "more_dismissed": presses,
                "turn": blstats[_TIME],
                "depth": blstats[progress.DEPTH_INDEX],
                "experience_level": blstats[progress.XP_INDEX],
            },
        )

    @property
    def progression(self) -> float:
        return self._progression if self._started else 0.0

    def close(self) -> None:
        self._done = True
        env, self._env = self._env, None
        if env is not None:
            env.close()

    # ----------------------------------------------------------------- extras

    def observe(self) -> Observation:
        """The observation of the current state (what the last reset/step returned)."""
        if self._observation is None:
            raise RuntimeError("call reset(seed) first")
        return self._observation

    @property
    def steps(self) -> int:
        """Agent steps taken since the last reset."""
        return self._steps

    @property
    def raw_observation(self) -> dict[str, Any]:
        """The last NLE observation (arrays owned by NLE: copy them to keep them)."""
        if self._last_obs is None:
            raise RuntimeError("call reset(seed) first")
        return self._last_obs

    def position(self) -> tuple[int, int] | None:
        """The hero's ``(x, y)`` on the level map (blstats; x is the column, y the row).

        None before reset and on the end screen of a finished game (NLE zeroes its blstats).
        """
        blstats = self._blstats()
        return None if blstats is None else (int(blstats[_X]), int(blstats[_Y]))

    def level(self) -> str | None:
        """The level the hero is on, as ``"dungeon:level"`` (blstats' dungeon and level numbers)."""
        blstats = self._blstats()
        return None if blstats is None else f"{int(blstats[_DNUM])}:{int(blstats[_DLEVEL])}"

    def _blstats(self) -> np.ndarray | None:
        if self._last_obs is None or not self._last_obs["blstats"].any():
            return None
        return self._last_obs["blstats"]

    def glyphs(self) -> np.ndarray:
        """A copy of the level map's glyphs (21 rows x 79 columns), indexed ``[y, x]``."""
        return self.raw_observation["glyphs"].copy()

    @property
    def nle_env(self) -> Any:
        """The underlying (unwrapped) NLE environment."""
        return self._env

    def _dismiss_more(
        self, message: str, screen: bytes
    ) -> tuple[dict[str, Any], float, bool, Any, int, str, bytes]:
        """Press Enter while --More-- shows: BALROG's AutoMore, then anywhere on screen.

        Called when the screen shows --More--; returns the new (observation, summed reward,
        done, end status, presses, message, screen bytes).
        """
        reward, presses, done, end = 0.0, 0, False, 0
        obs: dict[str, Any] = {}
        while not done and presses < _MORE_LIMIT:
            if "--More--" in message:
                message = message.replace("--More--", "\n")
            elif presses and not has_more(screen):
                break
            obs, rew, term, trunc, info = self._env.step(self._more_index)
            presses += 1
            done = term or trunc
            end = info["end_status"]
            reward += rew
            screen = obs["tty_chars"].tobytes()
            message += screen_message(screen, _COLUMNS, has_more(screen))
        return obs, reward, done, end, presses, message, screen

    def _observe(
        self, obs: dict[str, Any], message: str, screen: bytes, blstats: list[int]
    ) -> Observation:
        glyphs = obs["glyphs"]
        x, y = blstats[0], blstats[1]
        key = (glyphs.tobytes(), x, y)
        flat = glyphs.reshape(-1)
        if key != self._glyph_key:
            self._glyph_key = key
            self._glyph_text = describe_map(flat, x, y)
        letters, strs = obs["inv_letters"], obs["inv_strs"]
        inv_key = (letters.tobytes(), strs.tobytes())
        if inv_key != self._inv_key:
            self._inv_key = inv_key
            self._inv_text = inventory_text(text_inventory(strs, letters))
        row, column = obs["tty_cursor"].tolist()
        cursor = describe_cursor(flat, x, y, column, row)
        text = hybrid_text(
            message, self._glyph_text, cursor, (row, column), map_of_screen(screen, _COLUMNS)
        )
        return Observation(text=text, short_term=self._inv_text)


class NetHackTextEnv(_NLETextEnv):
    """NetHackChallenge-v0 through BALROG's hybrid text (see the module docstring)."""

    env_id = "nethack"
    game = "nethack"
    title = "NetHack"
    task = "NetHackChallenge-v0"

    def __init__(
        self,
        *,
        max_steps: int = 100_000,
        no_progress_timeout: int = 150,
        prompt_letters: bool | None = None,
    ) -> None:
        import nle  # noqa: F401  (registers the NetHack environments)

        env = nle_setup.make_task(
            self.task,
            character="@",
            max_episode_steps=_check_max_steps(max_steps),
            no_progress_timeout=no_progress_timeout,
            savedir=None,
            save_ttyrec_every=0,
            observation_keys=OBSERVATION_KEYS,
            fix_moon_phase=True,
        )
        vocab = vocabulary(
            tuple(env.actions), NETHACK_NAMES, NETHACK_DEFAULT, prompt_letters=prompt_letters
        )
        super().__init__(max_steps=max_steps, vocab=vocab, env=env)

    def _seed_game(self, seed: int) -> None:
        # NetHackChallenge replaces nethack.set_initial_seeds with a function that raises;
        # the underlying binding is the same call NLE.seed makes for other tasks.
        self._env.nethack._pynethack.set_initial_seeds(seed, seed + 1, False, None)

    def _update_progression(self, blstats: list[int], reward: float) -> None:
        levels = (blstats[progress.DEPTH_INDEX], blstats[progress.XP_INDEX])
        if levels != self._depth_and_level:  # the table is read only when a level changes
            self._depth_and_level = levels
            self._progression = max(self._progression, progress.nethack_value(*levels))


class MiniHackTextEnv(_NLETextEnv):
    """One MiniHack task through BALROG's hybrid text (see the module docstring).

    ``boxoban_levels`` (or ``$AUTOMEM_BOXOBAN_LEVELS``) is the Boxoban levels directory,
    used by the two Boxoban tasks only.
    """

    game = "minihack"
    title = "MiniHack"

    def __init__(
        self,
        task: str = "MiniHack-Quest-Easy-v0",
        *,
        max_steps: int = 100,
        prompt_letters: bool | None = None,
        boxoban_levels: str | os.PathLike[str] | None = None,
    ) -> None:
        if task not in MINIHACK_TASKS:
            raise ValueError(f"unknown MiniHack task {task!r}; known: {', '.join(MINIHACK_TASKS)}")
        import minihack  # noqa: F401  (registers the MiniHack environments)

        self.task = task
        self.env_id = f"minihack/{task}"
        kwargs: dict[str, Any] = {
            "observation_keys": list(OBSERVATION_KEYS),
            "character": "@",
            "max_episode_steps": _check_max_steps(max_steps),
            "penalty_step": -0.01,
            "penalty_time": 0.0,
            "penalty_mode": "constant",
            "savedir": None,
            "save_ttyrec_every": 0,
            "autopickup": False,
            "fix_moon_phase": True,
        }
        self._levels: list[str] | None = None
        if task in boxoban.TASK_SUBDIRS:
            self._levels = boxoban.load_levels(task, boxoban_levels)
            env = boxoban.make_boxoban(task, self._levels, **kwargs)
        else:
            env = nle_setup.make_task(task, **kwargs)
        vocab = vocabulary(
            tuple(env.actions), MINIHACK_NAMES, MINIHACK_DEFAULT, prompt_letters=prompt_letters
        )
        super().__init__(max_steps=max_steps, vocab=vocab, env=env)

    @classmethod
    def missing_data(
        cls,
        task: str = "MiniHack-Quest-Easy-v0",
        boxoban_levels: str | os.PathLike[str] | None = None,
        **_: Any,
    ) -> MissingData | None:
        """The Boxoban tasks need the level files; the other tasks need nothing."""
        if task not in boxoban.TASK_SUBDIRS:
            return None
        return boxoban.missing_levels(task, boxoban_levels)

    def _seed_game(self, seed: int) -> None:
        if self._levels is not None:
            self._env.select_level(boxoban.level_index(seed, len(self._levels)))
        self._env.seed(seed, seed + 1, reseed=False)

    def _update_progression(self, blstats: list[int], reward: float) -> None:
        self._progression = progress.minihack_update(reward)


__all__ = ["MINIHACK_TASKS", "MiniHackTextEnv", "NetHackTextEnv"]
