"""Where the README's main job spends its time: the embedded model on constrained Crafter.

The job is ``automem run --env crafter --constrained --episodes 1 --max-steps 10``; this plays
the same episode in-process (seed 42, crafter-v0 with constrained output, ``local:smollm2-135m``)
and splits its wall time into: importing the game and runtime, the runtime check, loading the
model (both per-phase contexts), prompt evaluation and generation (llama.cpp's own counters),
the rest of the model calls (sampling under the grammar, compiling grammars, tokenizing), the
environment, and the framework. The machine's load average is printed beside the figures.

    python benchmarks/main_job.py [--max-steps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

started = time.perf_counter()
from automem import envs  # noqa: E402 - the imports are part of what is timed
from automem.agent import Episode  # noqa: E402
from automem.core import ChatModel, Completion, CompletionRequest  # noqa: E402
from automem.models import load_model  # noqa: E402
from automem.models.local import LocalModel  # noqa: E402
from automem.scaffold import load  # noqa: E402
from automem.traces import TraceWriter  # noqa: E402

import_s = time.perf_counter() - started


class Timed(ChatModel):
    def __init__(self, model: ChatModel) -> None:
        self.model, self.seconds = model, 0.0
        self.identity = model.identity

    def complete(self, request: CompletionRequest) -> Completion:
        start = time.perf_counter()
        try:
            return self.model.complete(request)
        finally:
            self.seconds += time.perf_counter() - start


class TimedEnv:
    def __init__(self, env: Any) -> None:
        self.env, self.seconds = env, 0.0

    def __getattr__(self, name: str) -> object:
        return getattr(self.env, name)

    def _timed(self, method: str, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return getattr(self.env, method)(*args)
        finally:
            self.seconds += time.perf_counter() - start

    def reset(self, seed: int) -> Any:
        return self._timed("reset", seed)

    def step(self, action: str) -> Any:
        return self._timed("step", action)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=10)
    args = parser.parse_args()
    import llama_cpp

    result: dict[str, Any] = {"load_average_at_start": os.getloadavg(), "import_s": import_s}
    start = time.perf_counter()
    model = load_model("local:smollm2-135m", seed=0)
    if not isinstance(model, LocalModel):
        raise SystemExit("local:smollm2-135m did not load as a LocalModel")
    model.check_runtime()
    result["runtime_check_s"] = time.perf_counter() - start
    start = time.perf_counter()
    contexts = {phase: model.runtime_for(phase).llm for phase in ("log", "plan")}
    result["model_load_s"] = time.perf_counter() - start
    result["n_threads"] = model.settings.n_threads
    for llm in contexts.values():
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
    base = load("crafter-v0")
    routine = base.routine.model_copy(update={"constrained_output": True})
    scaffold = base.model_copy(update={"routine": routine})
    timed, env = Timed(model), TimedEnv(envs.make("crafter"))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, TraceWriter(Path(tmp) / "t.jsonl") as trace:
        end = Episode(
            env=env,  # type: ignore[arg-type]
            model=timed,
            scaffold=scaffold,
            seed=42,
            episode_id="bench",
            memory_dir=Path(tmp) / "memory",
            trace=trace,
            max_steps=args.max_steps,
        ).run()
    episode_s = time.perf_counter() - start
    p_eval = n_p = gen = n_gen = 0.0
    for llm in contexts.values():
        perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
        p_eval += perf.t_p_eval_ms / 1000
        gen += perf.t_eval_ms / 1000
        n_p += perf.n_p_eval
        n_gen += perf.n_eval
    result.update(
        steps=end.steps,
        model_calls=end.totals.model_calls,
        episode_s=episode_s,
        prompt_eval_s=p_eval,
        prompt_tokens_evaluated=int(n_p),
        prompt_tokens_cached=end.totals.cached_tokens,
        generation_s=gen,
        tokens_generated=int(n_gen),
        model_other_s=timed.seconds - p_eval - gen,
        env_s=env.seconds,
        framework_s=episode_s - timed.seconds - env.seconds,
    )
    result["total_s"] = import_s + result["runtime_check_s"] + result["model_load_s"] + episode_s
    result = {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
    result["load_average_at_end"] = os.getloadavg()
    result["target_s_for_10_steps"] = 60
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
