"""Steps per second of our text environments against the raw package environments.

Both sides run in the same process and play the same game: the raw NLE/MiniHack env is
seeded as our text env seeds it, receives the very action indices our env sends for the
same action names, and dismisses --More-- with Enter as the protocol's wrapper does, so it
makes exactly the NLE calls ours makes (checked: the benchmark fails otherwise). Raw
Crafter gets the same action ids. Only steps are timed (episode resets are excluded:
Crafter's world generation alone takes about a second); each side is measured in several
interleaved rounds and the best round counts, so that a busy moment of the machine does not
decide a ratio.

Also reported for NLE games, for context: the raw env fed the same actions without any
--More-- handling. That is a different, cheaper game (an action spent on a --More-- prompt
simulates no turn, and the game soon ends for lack of progress), so it is no baseline.

    python benchmarks/env_speed.py [--steps 3000] [--rounds 3] [--env nethack ...]

Targets (issue 3): at least 0.5x raw speed for NetHack and MiniHack; at least 300 text
steps/s for Crafter.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable

import crafter

from automem import envs
from automem.core import TextEnv

SEEDS = (42, 43, 44)  # games differ in cost: each seed gets an equal share of the steps


def timed_steps(steps: int, reset: Callable[[int], object], step: Callable[[int], bool]) -> float:
    """Steps per second over ``steps`` steps, not counting the resets between episodes.

    The steps are shared out over :data:`SEEDS`; an episode that ends early restarts with
    its seed.
    """
    spent = 0.0
    share = steps // len(SEEDS)
    for k, seed in enumerate(SEEDS):
        reset(seed)
        for i in range(k * share, steps if k == len(SEEDS) - 1 else (k + 1) * share):
            start = time.perf_counter()
            done = step(i)
            spent += time.perf_counter() - start
            if done:
                reset(seed)
    return steps / spent


def best_of(rounds: int, *measures: Callable[[], float]) -> list[float]:
    """The best rate of each measure over interleaved rounds."""
    best = [0.0] * len(measures)
    for _ in range(rounds):
        for i, measure in enumerate(measures):
            best[i] = max(best[i], measure())
    return best


MOVES = ("north", "east", "south", "west", "northeast", "southwest", "northwest", "southeast")
SEQUENCE = "cycle"  # set by main(): "cycle" walks the whole action list, "moves" only moves


def action_sequence(env: TextEnv, steps: int) -> list[str]:
    """A fixed action sequence: the whole action list in a stride, or moves only.

    The whole list includes menu and prompt keys on which NLE simulates no game turn (cheap
    raw steps); moves are what play mostly is: the map changes on about two steps in three.
    """
    if SEQUENCE == "moves" and set(MOVES) <= set(env.action_names):
        return [MOVES[(i * 5 + i // 3) % len(MOVES)] for i in range(steps)]
    names = env.action_names
    return [names[(i * 7 + 3) % len(names)] for i in range(steps)]


class NLEComparison:
    """Our text env and its own NLE env underneath, driven with the same seed and actions."""

    def __init__(self, env_id: str, steps: int) -> None:
        self.env = envs.make(env_id)
        self.raw = self.env.nle_env  # type: ignore[attr-defined]
        self.steps = steps
        self.actions = action_sequence(self.env, steps)
        index = self.env._index  # type: ignore[attr-defined]  # name -> NLE action index
        self.indices = [index[name] for name in self.actions]
        self.enter = self.env._more_index  # type: ignore[attr-defined]
        self.calls = {"text": 0, "raw": 0}
        inner = self.raw.step

        def counted(action: int) -> object:
            self.calls[self.side] += 1
            return inner(action)

        self.side = "text"
        self.raw.step = counted

    def text_rate(self) -> float:
        self.side, self.calls["text"] = "text", 0
        env, actions = self.env, self.actions
        return timed_steps(self.steps, env.reset, lambda i: env.step(actions[i]).done)

    def raw_rate(self, *, dismiss_more: bool = True) -> float:
        """The raw env in the same game: seeded like ours, Enter while --More-- shows.

        Without ``dismiss_more`` the next action is spent on the prompt instead: see the
        module docstring.
        """
        self.side, self.calls["raw"] = "raw", 0
        raw, indices, enter = self.raw, self.indices, self.enter

        def dismiss(obs: dict, terminated: bool, truncated: bool) -> bool:
            presses = 0
            while dismiss_more and not (terminated or truncated) and presses < 256:
                if b"--More--" not in obs["tty_chars"].tobytes():
                    break
                obs, _, terminated, truncated, _ = raw.step(enter)
                presses += 1
            return terminated or truncated

        def reset(seed: int) -> None:
            self.env._seed_game(seed)  # type: ignore[attr-defined]
            obs, _ = raw.reset()
            dismiss(obs, False, False)

        def step(i: int) -> bool:
            obs, _, terminated, truncated, _ = raw.step(indices[i])
            return dismiss(obs, terminated, truncated)

        return timed_steps(self.steps, reset, step)

    def close(self) -> None:
        self.env.close()


def raw_crafter_rate(actions: list[int]) -> float:
    envs_by_seed = {seed: crafter.Env(seed=seed) for seed in SEEDS}
    current = [envs_by_seed[SEEDS[0]]]

    def reset(seed: int) -> None:
        current[0] = envs_by_seed[seed]
        current[0].reset()

    return timed_steps(len(actions), reset, lambda i: current[0].step(actions[i])[2])


def crafter_result(n: int, rounds: int) -> dict[str, object]:
    """Our Crafter text env against crafter.Env with the same action ids."""
    crafter_env = envs.make("crafter")
    crafter_actions = [(i * 7 + 3) % len(crafter_env.action_names) for i in range(n)]
    crafter_names = [crafter_env.action_names[a] for a in crafter_actions]
    raw_crafter, ours = best_of(
        rounds,
        lambda: raw_crafter_rate(crafter_actions),
        lambda: timed_steps(
            n, crafter_env.reset, lambda i: crafter_env.step(crafter_names[i]).done
        ),
    )
    return {
        "raw_steps_per_s": round(raw_crafter),
        "text_steps_per_s": round(ours),
        "ratio_to_raw": round(ours / raw_crafter, 3),
        "target": ">= 300 text steps/s",
        "meets_target": ours >= 300,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per side")
    parser.add_argument(
        "--env", action="append", help="only these env ids (repeatable); default: all"
    )
    args = parser.parse_args()
    n = args.steps
    nle_games = (
        "nethack",
        "minihack/MiniHack-MazeWalk-15x15-v0",
        "minihack/MiniHack-Quest-Easy-v0",
    )
    global SEQUENCE
    results: dict[str, dict[str, object]] = {}
    wanted = set(args.env or (*nle_games, "crafter"))
    for env_id, SEQUENCE in itertools.product(nle_games, ("cycle", "moves")):
        if env_id not in wanted:
            continue
        game = NLEComparison(env_id, n)
        try:
            raw, ours = best_of(args.rounds, game.raw_rate, game.text_rate)
            if game.calls["raw"] != game.calls["text"]:
                raise SystemExit(
                    f"{env_id} [{SEQUENCE}]: the raw env made {game.calls['raw']} NLE calls and "
                    f"ours {game.calls['text']}: not the same game, so no comparison"
                )
            no_more = game.raw_rate(dismiss_more=False)
        finally:
            game.close()
        results[f"{env_id} [{SEQUENCE}]"] = {
            "raw_steps_per_s": round(raw),
            "text_steps_per_s": round(ours),
            "ratio_to_raw": round(ours / raw, 3),
            "nle_steps_per_text_step": round(game.calls["text"] / n, 3),
            "raw_without_more_handling_steps_per_s": round(no_more),
            "target": ">= 0.5x raw",
            "meets_target": ours / raw >= 0.5,
        }
    if "crafter" in wanted:
        results["crafter"] = crafter_result(n, args.rounds)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
