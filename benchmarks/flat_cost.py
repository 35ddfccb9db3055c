"""Framework overhead per step at step 100 and at step 2,000 of one Crafter episode.

The scripted model of ``agent_overhead.py`` plays the reference pattern of memory commands on
real Crafter for 2,000 agent steps. A random player dies long before that, so the world is
restarted (same seed, from crafter's cached world) under the same agent episode: the memory
files, the journal and the trace keep growing as in a long game. The overhead of a step is its
CPU time minus the CPU time spent in the environment and the model (CPU time, not wall time,
so other processes on a shared machine do not inflate it); each figure is the median over the
50 steps ending at that step, and the ratio is step 2,000 over step 100 (target <= 1.2).

Two patterns: ``reference`` (crafter-v0 as shipped: the model now and then rewrites a file,
so files stay small) and ``append_only`` (WRITE removed from LOG, so every file only grows, to
about 20 KB by step 2,000: the case where rescanning the file costs most). Each is run with
the store as it is (``index``) and with SEARCH/COUNT rescanning the whole file and the line
count counting it (``rescan``, the code before the index), interleaved, in one process.

On a loaded machine the per-step figures move by more than the effect, so the benchmark also
times the commands alone: one APPEND, SEARCH and COUNT on a file of 20 lines (a file's size at
step 100 of the append-only pattern) and of 400 lines (at step 2,000), per variant.

    python benchmarks/flat_cost.py [--steps 2000] [--episodes 3] [--seed 42]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from automem import envs
from automem.agent import Episode
from automem.core import ChatModel, Completion, CompletionRequest, Observation, StepResult, TextEnv
from automem.memory import MEMORY_OPS, Command, MemoryStore
from automem.memory.index import MatchIndex
from automem.memory.text import count_lines
from automem.memory.views import count_matching, last_matching
from automem.models import ScriptedModel
from automem.scaffold import Scaffold, load
from automem.traces import TraceWriter


class CpuTimedModel(ChatModel):
    """Adds up the CPU time spent in the model."""

    def __init__(self, model: ChatModel) -> None:
        self.model, self.seconds = model, 0.0
        self.identity = model.identity

    def complete(self, request: CompletionRequest) -> Completion:
        start = time.process_time()
        try:
            return self.model.complete(request)
        finally:
            self.seconds += time.process_time() - start


class RestartingEnv:
    """Crafter that restarts its world on death, and marks the CPU clock at every step."""

    def __init__(self, env: TextEnv, model: CpuTimedModel) -> None:
        self.env, self.model = env, model
        self.env_cpu = 0.0
        self.marks: list[tuple[float, float, float]] = []  # (cpu, env cpu, model cpu)
        self.seed = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.env, name)

    def reset(self, seed: int) -> Observation:
        self.seed = seed
        start = time.process_time()
        try:
            return self.env.reset(seed)
        finally:
            self.env_cpu += time.process_time() - start

    def step(self, action: str) -> StepResult:
        start = time.process_time()
        result = self.env.step(action)
        if result.terminated:
            result = dataclasses.replace(
                result, terminated=False, observation=self.env.reset(self.seed)
            )
        end = time.process_time()
        self.env_cpu += end - start
        self.marks.append((end, self.env_cpu, self.model.seconds))
        return result


def append_only(scaffold: Scaffold) -> Scaffold:
    log = tuple(op for op in scaffold.vocabulary.log if op != "WRITE")
    vocabulary = scaffold.vocabulary.model_copy(update={"log": log})
    return scaffold.model_copy(update={"vocabulary": vocabulary})


def _whole_file_lookup(self: MatchIndex, name: str, content: str, keyword: str):
    return count_matching(content, keyword), last_matching(content, keyword, self.last_n)


def _whole_file_line_count(self: MemoryStore, name: str) -> int:
    return count_lines(self.read(name))


@contextlib.contextmanager
def rescanning() -> Iterator[None]:
    """The store as before the index: SEARCH/COUNT and line counts scan the whole file."""
    lookup, line_count = MatchIndex.lookup, MemoryStore.line_count
    MatchIndex.lookup = _whole_file_lookup  # type: ignore[method-assign]
    MemoryStore.line_count = _whole_file_line_count  # type: ignore[method-assign]
    try:
        yield
    finally:
        MatchIndex.lookup, MemoryStore.line_count = lookup, line_count  # type: ignore[method-assign]


def overhead_ms(marks: list[tuple[float, float, float]], step: int, window: int = 50) -> float:
    """Median framework CPU ms of the ``window`` steps ending at ``step`` (1-based)."""
    per_step = [
        1000 * ((c1 - c0) - (e1 - e0) - (m1 - m0))
        for (c0, e0, m0), (c1, e1, m1) in zip(
            marks[step - window - 1 : step - 1], marks[step - window : step], strict=True
        )
    ]
    return statistics.median(per_step)


def one_episode(scaffold: Scaffold, steps: int, seed: int) -> dict[str, Any]:
    model = CpuTimedModel(ScriptedModel(seed))
    env = RestartingEnv(envs.make("crafter", max_steps=10 * steps), model)
    with tempfile.TemporaryDirectory() as tmp:
        with TraceWriter(Path(tmp) / "trace.jsonl") as trace:
            end = Episode(
                env=env,  # type: ignore[arg-type]
                model=model,
                scaffold=scaffold,
                seed=seed,
                episode_id="bench",
                memory_dir=Path(tmp) / "memory",
                trace=trace,
                max_steps=steps,
            ).run()
        memory = Path(tmp) / "memory"
        kib = sum(p.stat().st_size for p in memory.iterdir()) / 1024
    if end.steps != steps:
        raise RuntimeError(f"the episode ended after {end.steps} steps: {end.reason}")
    early, late = overhead_ms(env.marks, 100), overhead_ms(env.marks, steps)
    return {"early": early, "late": late, "ratio": late / early, "memory_kib": kib}


def pattern(scaffold: Scaffold, steps: int, episodes: int, seed: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"index": [], "rescan": []}
    for i in range(episodes):
        order = ("index", "rescan") if i % 2 == 0 else ("rescan", "index")
        for variant in order:
            with rescanning() if variant == "rescan" else contextlib.nullcontext():
                runs[variant].append(one_episode(scaffold, steps, seed + i))
    out: dict[str, Any] = {}
    for variant, results in runs.items():
        out[variant] = {
            "overhead_ms_at_step_100": round(statistics.median(r["early"] for r in results), 3),
            f"overhead_ms_at_step_{steps}": round(statistics.median(r["late"] for r in results), 3),
            "ratio": round(statistics.median(r["ratio"] for r in results), 3),
            "ratios": [round(r["ratio"], 3) for r in results],
            f"memory_kib_at_step_{steps}": round(
                statistics.median(r["memory_kib"] for r in results), 1
            ),
        }
    return out


def search_after_append_us(lines: int, repeats: int = 60) -> dict[str, float]:
    """Microseconds of one APPEND, SEARCH and COUNT on a file of ``lines`` lines (+1 line per
    repeat), per variant: medians, the variants alternating every 10 repeats."""
    text = "".join(f"saw: tree {i} steps to your north-west and water\n" for i in range(lines))
    timings: dict[str, list[float]] = {"index": [], "rescan": []}
    commands = [("APPEND", "saw: grass"), ("SEARCH", "tree"), ("COUNT", "saw")]
    with tempfile.TemporaryDirectory() as tmp:
        stores = {v: MemoryStore(Path(tmp) / v, initial_files={"log": text}) for v in timings}
        for block in range(repeats // 10):
            for variant, store in stores.items():
                with rescanning() if variant == "rescan" else contextlib.nullcontext():
                    for _ in range(10):
                        start = time.process_time()
                        for op, arg in commands:
                            command = Command(op=op, args=("log", arg), raw="")
                            store.execute(command, step=block, phase="log", allowed_ops=MEMORY_OPS)
                        timings[variant].append(time.process_time() - start)
    return {v: round(1e6 * statistics.median(t), 1) for v, t in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.steps < 200:
        raise SystemExit("--steps must be at least 200 (a figure is the median of 50 steps)")
    base = load("crafter-v0")
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    for name, scaffold in (("reference", base), ("append_only", append_only(base))):
        result[name] = pattern(scaffold, args.steps, args.episodes, args.seed)
    # Lines of one file at steps 100 and 2,000 of the append-only pattern (~50 bytes a line).
    result["append_search_count_us"] = {
        f"{lines}_lines": search_after_append_us(lines) for lines in (20, 400)
    }
    result["load_average_at_end"] = os.getloadavg()
    result["target_ratio"] = 1.2
    result["meets_target"] = all(
        result[p]["index"]["ratio"] <= 1.2 for p in ("reference", "append_only")
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
