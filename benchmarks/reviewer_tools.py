"""Latency of the reviewer's read tools on a 2,000-step trace (target: each under 50 ms).

Plays one 2,000-step episode of real Crafter with the scripted model and the crafter-v0
scaffold (its memory commands: searches, appends, reads every step), exactly as
benchmarks/report_build.py does, then times through :class:`automem.runs.reader.RunReader`:

- the first index build (the one full pass over the trace);
- from a new reader that loads the stored index (a new process), the first call of each tool;
- warm calls: a 10-step range, the memory at a step, a plain search, a regex search;
- the same through the LLM reviewer's tools (:class:`automem.optimize.reviewer_tools.ReviewTools`,
  which add rendering and the result cap), plus file_history, and list_episodes (its first call
  reads the whole trace for the statistics, timed apart; later calls are cached).

    python benchmarks/reviewer_tools.py [--steps 2000] [--seed 5] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from automem.optimize.review import ReviewContext
from automem.optimize.reviewer_tools import (
    FileHistoryArgs,
    MemoryAtArgs,
    ReadSteps,
    ReviewTools,
    RunArgs,
    SearchArgs,
)
from automem.runs.reader import EpisodeReader, RunReader
from automem.scaffold import dump, load
from report_build import make_long_run

TARGET_MS = 50.0


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return 1000 * (time.perf_counter() - start)


def tools(
    episode: EpisodeReader, rng: random.Random, steps: int
) -> dict[str, Callable[[], object]]:
    """One call of each tool, at a random step, for the given episode."""

    def step_range() -> object:
        k = rng.randrange(steps - 10)
        return episode.steps(k, k + 10)

    return {
        "step_range_10": step_range,
        "memory_at_step": lambda: episode.memory_at(rng.randrange(steps)),
        "search_plain": lambda: episode.search("wood", limit=50),
        "search_plain_rare": lambda: episode.search("diamond", limit=50),
        "search_regex": lambda: episode.search(r"collect_\w+|place_table", regex=True, limit=50),
    }


def tool_calls(
    box: ReviewTools, episode: str, rng: random.Random, steps: int
) -> dict[str, Callable[[], object]]:
    """One call of each reviewer tool through :meth:`ReviewTools.run`, at a random step."""

    def read_steps() -> object:
        k = rng.randrange(steps - 10)
        return box.run(
            "read_steps", ReadSteps(run="parent-0", episode=episode, start=k, stop=k + 10)
        )

    def memory_at() -> object:
        args = MemoryAtArgs(run="parent-0", episode=episode, step=rng.randrange(steps))
        return box.run("memory_at", args)

    def search(pattern: str, regex: bool = False) -> Callable[[], object]:
        args = SearchArgs(run="parent-0", pattern=pattern, regex=regex, ignore_case=False)
        return lambda: box.run("search", args)

    history = FileHistoryArgs(run="parent-0", episode=episode, file="actions_log", start=1000)
    return {
        "tool_read_steps_10": read_steps,
        "tool_memory_at": memory_at,
        "tool_search_plain": search("wood"),
        "tool_search_regex": search(r"collect_\w+|place_table", regex=True),
        "tool_file_history": lambda: box.run("file_history", history),
        "tool_list_episodes_cached": lambda: box.run("list_episodes", RunArgs(run="parent-0")),
    }


def measure(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict[str, float]]:
    """Median and worst of ``repeats`` timed calls of each, after one untimed call of each."""
    for call in calls.values():
        call()
    out: dict[str, dict[str, float]] = {}
    for name, call in calls.items():
        times = [timed(call) for _ in range(repeats)]
        out[name] = {
            "median_ms": round(statistics.median(times), 2),
            "max_ms": round(max(times), 2),
            "max_over_target": round(max(times) / TARGET_MS, 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="automem-reviewer-bench-"))
    try:
        start = time.perf_counter()
        run_dir = make_long_run(work / "run", args.steps, args.seed)
        play_s = time.perf_counter() - start
        episode_id = f"crafter__seed{args.seed}"
        first = RunReader(run_dir).trace(episode_id)
        build_ms = timed(first.index)
        rng = random.Random(0)
        cold = {
            name: round(timed(call), 2)
            for name, call in tools(RunReader(run_dir).trace(episode_id), rng, args.steps).items()
        }
        # Warm, plain searches first (the raw-byte path), then every tool once a regex search
        # has parsed and joined all texts (plain searches then use the joined texts too).
        episode = RunReader(run_dir).trace(episode_id)
        calls = tools(episode, rng, args.steps)
        plain = {f"{k}_bytes": v for k, v in calls.items() if k.startswith("search_plain")}
        warm = {**measure(plain, args.repeats), **measure(calls, args.repeats)}
        context = ReviewContext(
            game="crafter",
            objective="benchmark",
            parent_text=dump(load("crafter-v0")),
            parent_runs=(run_dir,),
        )
        box = ReviewTools(context)
        list_first_ms = timed(lambda: box.run("list_episodes", RunArgs(run="parent-0")))
        tools_warm = measure(tool_calls(box, episode_id, rng, args.steps), args.repeats)
        result = {
            "steps": episode.step_count(),
            "trace_bytes": episode.trace_path.stat().st_size,
            "index_bytes": episode.index_path.stat().st_size,
            "episode_play_s": round(play_s, 1),
            "first_index_build_ms": round(build_ms, 1),
            "first_call_from_stored_index_ms": cold,
            "cold_max_over_target": round(max(cold.values()) / TARGET_MS, 3),
            "warm": warm,
            "target_ms": TARGET_MS,
            "warm_all_under_target": all(v["max_ms"] < TARGET_MS for v in warm.values()),
            "tool_list_episodes_first_call_ms": round(list_first_ms, 1),
            "tools_warm": tools_warm,
            "tools_warm_all_under_target": all(
                v["max_ms"] < TARGET_MS for v in tools_warm.values()
            ),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
