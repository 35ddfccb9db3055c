"""Framework overhead per agent step on each game, with the scripted model.

Everything the framework does per step (prompt rendering, parsing, memory commands, helper
hooks, trace writing) is timed as the episode's time minus the time spent inside the
environment and inside the model, in wall time and in CPU time (the CPU figure is the one to
read on a shared machine: other processes do not inflate it). The scripted model plays the
reference pattern of memory commands with each game's built-in scaffold. Crafter's own cost
per step is measured in the same process and reported beside it as the baseline.

``--against SRC`` also measures another source tree (say a checkout of the commit before a
change: ``git worktree add /tmp/before HEAD~1``, then ``--against /tmp/before/src``): each
round runs this benchmark once on each tree in a subprocess, in alternating order, and the
medians per game are reported with the ratio this tree / that one.

    python benchmarks/agent_overhead.py [--steps 500] [--seed 42] [--games crafter nethack]
                                        [--against SRC --rounds 5]

Target (issue 13): at most 0.3 ms per step, excluding the environment and the model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from automem import envs
from automem.agent import Episode
from automem.core import (
    ChatModel,
    Completion,
    CompletionRequest,
    Observation,
    StepResult,
    TextEnv,
)
from automem.models import ScriptedModel
from automem.scaffold import load
from automem.traces import TraceWriter

GAMES = {  # a short name: (environment, built-in scaffold)
    "crafter": ("crafter", "crafter-v0"),
    "minihack": ("minihack/MiniHack-Quest-Easy-v0", "minihack-v0"),
    "nethack": ("nethack", "nethack-v0"),
}
TARGET_MS = 0.3


class Clock:
    """Wall and CPU seconds spent inside one component."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def add(self, wall: float, cpu: float) -> None:
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu


class TimedEnv:
    """Wraps an env, adding up the time spent in reset and step."""

    def __init__(self, env: TextEnv) -> None:
        self.env, self.clock = env, Clock()

    def __getattr__(self, name: str) -> object:
        return getattr(self.env, name)

    def reset(self, seed: int) -> Observation:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return self.env.reset(seed)
        finally:
            self.clock.add(wall, cpu)

    def step(self, action: str) -> StepResult:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return self.env.step(action)
        finally:
            self.clock.add(wall, cpu)


class TimedModel(ChatModel):
    def __init__(self, model: ChatModel) -> None:
        self.model, self.clock, self.calls = model, Clock(), 0
        self.identity = model.identity

    def complete(self, request: CompletionRequest) -> Completion:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return self.model.complete(request)
        finally:
            self.clock.add(wall, cpu)
            self.calls += 1


def raw_env_seconds_per_step(steps: int, seed: int) -> float:
    env = envs.make("crafter")
    env.reset(seed)
    names = env.action_names
    start = time.perf_counter()
    for i in range(steps):
        if env.step(names[(i * 7 + 3) % len(names)]).done:
            env.reset(seed)
    return (time.perf_counter() - start) / steps


def agent_overhead(game: str, steps: int, seed: int) -> dict[str, float]:
    """Play episodes (seed, seed+1, ...) of ``game`` until ``steps`` agent steps are taken."""
    env_id, scaffold_name = GAMES[game]
    env = TimedEnv(envs.make(env_id))
    model = TimedModel(ScriptedModel(seed))
    scaffold = load(scaffold_name)
    done = commands = trace_bytes = episodes = 0
    wall = cpu = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        while done < steps:
            folder = Path(tmp) / str(episodes)
            folder.mkdir()
            with TraceWriter(folder / "trace.jsonl") as trace:
                episode = Episode(
                    env=env,  # type: ignore[arg-type]
                    model=model,
                    scaffold=scaffold,
                    seed=seed + episodes,
                    episode_id="bench",
                    memory_dir=folder / "memory",
                    trace=trace,
                    max_steps=steps - done,
                )
                start, start_cpu = time.perf_counter(), time.process_time()
                end = episode.run()
                wall += time.perf_counter() - start
                cpu += time.process_time() - start_cpu
            trace_bytes += (folder / "trace.jsonl").stat().st_size
            done += end.steps
            commands += end.totals.commands
            episodes += 1
    env.env.close()
    return {
        "steps": done,
        "episodes": episodes,
        "wall_ms_per_step": 1000 * wall / done,
        "env_ms_per_step": 1000 * env.clock.wall / done,
        "model_ms_per_step": 1000 * model.clock.wall / done,
        "overhead_ms_per_step": 1000 * (wall - env.clock.wall - model.clock.wall) / done,
        "overhead_cpu_ms_per_step": 1000 * (cpu - env.clock.cpu - model.clock.cpu) / done,
        "model_calls_per_step": model.calls / done,
        "commands_per_step": commands / done,
        "trace_kib_per_step": trace_bytes / 1024 / done,
    }


def measure(games: list[str], steps: int, seed: int) -> dict[str, Any]:
    result: dict[str, Any] = {game: agent_overhead(game, steps, seed) for game in games}
    result["baseline_crafter_env_ms_per_step"] = 1000 * raw_env_seconds_per_step(steps, seed)
    return result


def against(source: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Rounds of this benchmark on this tree and on ``source``, alternating, in subprocesses."""
    here = Path(__file__).resolve().parents[1] / "src"
    trees = {"this": here, "against": source.resolve()}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for i in range(args.rounds):
        for name in list(trees) if i % 2 == 0 else list(trees)[::-1]:
            command = [sys.executable, __file__, "--steps", str(args.steps)]
            command += ["--seed", str(args.seed), "--games", *args.games]
            env = {**os.environ, "PYTHONPATH": str(trees[name])}
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            runs[name].append(json.loads(out.stdout))
    summary: dict[str, Any] = {"against": str(source), "rounds": args.rounds}
    for game in args.games:
        row: dict[str, Any] = {}
        for key in ("overhead_ms_per_step", "overhead_cpu_ms_per_step", "trace_kib_per_step"):
            medians = {n: statistics.median(r[game][key] for r in runs[n]) for n in trees}
            ratios = [a[game][key] / b[game][key] for a, b in zip(*runs.values(), strict=True)]
            row[key] = {
                "this": round(medians["this"], 3),
                "against": round(medians["against"], 3),
                "ratio": round(medians["this"] / medians["against"], 3),
                "ratios_per_round": [round(r, 3) for r in ratios],
            }
        summary[game] = row
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--games", nargs="+", choices=sorted(GAMES), default=list(GAMES))
    parser.add_argument("--against", type=Path, help="another source tree to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --against")
    args = parser.parse_args()
    if args.against is not None:
        result = {"load_average_at_start": os.getloadavg(), **against(args.against, args)}
        result["load_average_at_end"] = os.getloadavg()
    else:
        result = measure(args.games, args.steps, args.seed)
        result["target_ms"] = TARGET_MS
        result["meets_target"] = all(
            result[g]["overhead_cpu_ms_per_step"] <= TARGET_MS for g in args.games
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
