"""Each game's objective and the method's constraints, as a reviewer is told them."""

from __future__ import annotations

OBJECTIVES = {
    "crafter": (
        "Maximise Crafter progression: the share of the 22 achievements unlocked in an "
        "episode (collect wood, place a table, make a pickaxe, ..., defeat a zombie)."
    ),
    "minihack": (
        "Maximise MiniHack progression: an episode scores 1 when the task is solved (a reward "
        "of at least 1, e.g. reaching the stairs down), else 0; the mean is over tasks."
    ),
    "nethack": (
        "Maximise NetHack progression: the highest value in BALROG's table reached over the "
        "dungeon level and the experience level."
    ),
}

CONSTRAINTS = """Constraints on every revision:
- Memory stays model-driven: the model's own memory commands remain in LOG and PLAN; no helper
  replaces what the model writes with a programmatic buffer or summary.
- The two-phase rule holds: nothing about an action's outcome is written before the environment
  answered it (LOG writes, PLAN only reads and then commits one ACTION).
- Make at least one structural change (memory files, command vocabulary, helpers or their
  parameters, routine settings or limits); wording alone does not count.
- Do not run evaluations yourself: the optimiser evaluates your candidate on its gate seeds."""


def objective(game: str) -> str:
    """The objective of ``game`` followed by the constraints."""
    goal = OBJECTIVES.get(game, f"Maximise {game} progression (in [0, 1], higher is better).")
    return f"{goal}\n\n{CONSTRAINTS}"
