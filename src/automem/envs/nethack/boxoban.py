"""Boxoban levels for MiniHack's Boxoban tasks, offline and seeded.

minihack's Boxoban environments read DeepMind's public Boxoban level files from
``minihack/dat/boxoban-levels-master``, which minihack only fills when its download script
is run (it needs the internet). Here the levels come from a directory laid out like the
``boxoban-levels`` repository (``hard/*.txt``, ``medium/train/*.txt``, ...), found from, in
order: the ``levels_dir`` argument, the ``AUTOMEM_BOXOBAN_LEVELS`` environment variable,
minihack's own download location. A missing directory raises :class:`BoxobanLevelsMissing`
(one line naming where it looked and how to get the files); :func:`missing_levels` says the
same without raising, for the check a run makes before it starts.

File format (as minihack parses it): levels separated by blank lines, each a header line
(``; 12``) then the rows, with ``#`` wall, ``@`` player, ``$`` box, ``.`` target, space floor.
A level counts once a blank line ends it.

Two fixes over minihack 1.0.2's ``BoxoHack``:

* the level is chosen from the episode seed (files in name order, a SHA-256 of the seed
  picks the index) instead of Python's global ``random`` over ``os.listdir`` order, so that
  ``reset(seed)`` fixes the level;
* minihack 1.0.2's ``reset`` crashes on the first call with NLE 1.x: NLE's ``reset`` now
  asks ``_is_episode_end`` for the reset observation, before minihack has set the goal
  squares (``AttributeError: ... '_goal_pos_set'``); its ``reset`` also rejects the
  ``seed`` keyword that gymnasium passes. Our subclass reports "running" until the goals
  are known and accepts the standard signature.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from automem.core import MissingData

LEVELS_ENV = "AUTOMEM_BOXOBAN_LEVELS"
FETCH_COMMAND = "git clone --depth 1 https://github.com/google-deepmind/boxoban-levels"

# Level files of each task, relative to the levels directory (minihack's level_set/level_mode).
TASK_SUBDIRS: dict[str, str] = {
    "MiniHack-Boxoban-Hard-v0": "hard",
    "MiniHack-Boxoban-Medium-v0": "medium/train",
}


class BoxobanLevelsMissing(FileNotFoundError):
    """The Boxoban level files are not available (they cannot be downloaded offline)."""

    def __init__(self, message: str, missing: MissingData | None = None) -> None:
        super().__init__(message)
        self.missing = missing


def minihack_levels_dir() -> Path | None:
    """Where minihack's own download script puts the levels (None if minihack is absent)."""
    try:
        import minihack
    except ImportError:  # pragma: no cover - minihack is needed for Boxoban anyway
        return None
    return Path(minihack.__file__).resolve().parent / "dat" / "boxoban-levels-master"


def _candidates(levels_dir: str | os.PathLike[str] | None) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if levels_dir is not None:
        found.append(("the levels_dir argument", Path(levels_dir)))
    env = os.environ.get(LEVELS_ENV)
    if env:
        found.append((f"${LEVELS_ENV}", Path(env)))
    default = minihack_levels_dir()
    if default is not None:
        found.append(("minihack's download location", default))
    return found


def how_to_get() -> str:
    """The fix, as one sentence: the public data set, fetched where there is internet."""
    default = minihack_levels_dir()
    there = f", or copy it to {default}" if default is not None else ""
    return (
        "Download the boxoban-levels data set (DeepMind's public level files, e.g. "
        f"`{FETCH_COMMAND}`) on a machine with internet access, copy the folder (it holds "
        f"hard/ and medium/train/) anywhere on this machine, then set {LEVELS_ENV}=DIR to "
        f"it{there}."
    )


def level_files(task: str, levels_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The task's level files, in name order, from the first levels directory given.

    The argument wins over the environment variable, which wins over minihack's location;
    a directory that is given but lacks the task's files is an error, not skipped.
    """
    subdir = TASK_SUBDIRS[task]
    candidates = _candidates(levels_dir)
    explicit = [c for c in candidates if c[0] != "minihack's download location"]
    tried = explicit[:1] if explicit else candidates
    for _, root in tried:
        files = sorted((root / subdir).glob("*.txt"))
        if files:
            return files
    missing = MissingData(
        # The same for both tasks, so that one message covers them (the fix names the subdirs).
        data="the Boxoban level files",
        looked="; ".join(f"{label}: {root}" for label, root in tried) or "nowhere",
        fix=how_to_get(),
    )
    raise BoxobanLevelsMissing(missing.message(task), missing)


def missing_levels(
    task: str, levels_dir: str | os.PathLike[str] | None = None
) -> MissingData | None:
    """What the task lacks, or None when its level files are found (see :func:`level_files`)."""
    try:
        level_files(task, levels_dir)
    except BoxobanLevelsMissing as exc:
        return exc.missing
    return None


def parse_levels(text: str) -> list[str]:
    """Levels of one file as minihack reads them: the rows after the header, newline-ended."""
    levels: list[str] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if line != "\n":
            current.append(line)
        else:
            levels.append("".join(current[1:]))
            current = []
    return levels


def load_levels(task: str, levels_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """All levels of the task, file by file in name order."""
    files = level_files(task, levels_dir)
    levels = [lvl for f in files for lvl in parse_levels(f.read_text(encoding="utf-8"))]
    levels = [lvl for lvl in levels if "@" in lvl]
    if not levels:
        raise BoxobanLevelsMissing(
            f"the Boxoban files for {task} ({files[0].parent}) hold no level with a player '@'"
        )
    return levels


def level_index(seed: int, count: int) -> int:
    """The level an episode seed plays: stable across processes and Python versions."""
    digest = hashlib.sha256(f"boxoban:{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def make_boxoban(task: str, levels: list[str], **kwargs: Any) -> Any:
    """A minihack Boxoban environment over ``levels`` with a seed-chosen level (see module)."""
    from minihack import LevelGenerator, MiniHackNavigation
    from minihack.envs import boxohack

    class SeededBoxoban(boxohack.BoxoHack):
        """``BoxoHack`` of the Hard/Medium tasks with given levels and a chosen level."""

        def __init__(self, levels: list[str], **kw: Any) -> None:
            # As minihack's MiniHackBoxobanHard/Medium and BoxoHack set things up.
            kw.pop("penalty_time", None)
            self._time_penalty = -0.001
            self._reward_shaping_coefficient = 0.1
            self._flags = tuple(kw.pop("flags", []))
            kw["max_episode_steps"] = kw.pop("max_episode_steps", 400)
            kw["actions"] = kw.pop("actions", boxohack.MOVE_ACTIONS)
            self._levels = list(levels)
            self._level = 0
            self._goal_pos_set = None
            MiniHackNavigation.__init__(self, des_file=self.get_lvl_gen().get_des(), **kw)

        def select_level(self, index: int) -> None:
            self._level = int(index) % len(self._levels)

        def get_lvl_gen(self) -> Any:
            rows, info = self.get_env_map(self._levels[self._level].split("\n"))
            flags = [*self._flags, "noteleport", "premapped"]
            gen = LevelGenerator(map=rows, lit=True, flags=flags, solidfill=" ")
            for boulder in info["boulders"]:
                gen.add_boulder(boulder)
            for fountain in info["fountains"]:
                gen.add_fountain(fountain)
            gen.set_start_pos(info["player"])
            return gen

        def reset(self, seed: int | None = None, options: Any = None, **kw: Any) -> Any:
            self._goal_pos_set = None
            self.update(self.get_lvl_gen().get_des())
            result = MiniHackNavigation.reset(
                self, seed=seed, options=options or {"wizkit_items": None}, **kw
            )
            self._goal_pos_set = self._object_positions(self.last_observation, "{")
            return result

        def _is_episode_end(self, observation: Any) -> Any:
            if self._goal_pos_set is None:  # NLE 1.x asks during reset, before goals exist
                return self.StepStatus.RUNNING
            return super()._is_episode_end(observation)

    if task not in TASK_SUBDIRS:
        raise ValueError(f"{task!r} is not a Boxoban task ({', '.join(TASK_SUBDIRS)})")
    return SeededBoxoban(levels, **kwargs)


__all__ = [
    "FETCH_COMMAND",
    "LEVELS_ENV",
    "TASK_SUBDIRS",
    "BoxobanLevelsMissing",
    "how_to_get",
    "level_files",
    "level_index",
    "load_levels",
    "make_boxoban",
    "minihack_levels_dir",
    "missing_levels",
    "parse_levels",
]
