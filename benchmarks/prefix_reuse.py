"""Share of prompt tokens served from the KV cache, per step, for each built-in scaffold.

Every request of an episode goes to the embedded model (``local:smollm2-135m``, one KV cache
per phase), which evaluates the prompt and reports ``Usage.cached_tokens``, the prompt tokens
it took from its cache. The reply the agent gets is the scripted model's (so the episode plays
the reference pattern of memory commands at prompt-evaluation speed). The model is asked for
one token, then evaluates the scripted reply after the prompt, so its cache holds what it
would hold had it generated that reply.

The share of a step is the step's cached tokens over its prompt tokens, over all its calls
(target >= 80%). The built-in templates put the stable text first: each phase's system prompt
(the same every step, the memory files' purposes included) opens every call, and the turn
message that follows changes almost throughout (step line, observation, file sizes). What is
left uncached is mostly the observation itself: MiniHack's holds an 80-column map.

OpenAI-compatible servers report the same figure in ``usage.prompt_tokens_details.
cached_tokens``, which the ``openai`` backend reads into ``Usage.cached_tokens``: pass
``--openai-model openai:NAME,base_url=URL`` to play the same episodes against a server with
prefix caching (vLLM, llama.cpp's llama-server, SGLang) and print its shares too.

    python benchmarks/prefix_reuse.py [--steps 6] [--seed 42]
                                      [--openai-model openai:NAME,base_url=URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from automem import envs
from automem.agent import Episode
from automem.core import ChatModel, Completion, CompletionRequest
from automem.models import ScriptedModel, load_model
from automem.models.local import LocalModel
from automem.scaffold import Scaffold, load
from automem.traces import CallRecord, Trace, TraceWriter

# Each built-in scaffold on one environment of its game.
SCAFFOLDS = {
    "crafter": "crafter-v0",
    "minihack/MiniHack-Quest-Easy-v0": "minihack-v0",
    "nethack": "nethack-v0",
}


class ScriptedReplies(ChatModel):
    """The scripted model's replies, with the usage the measured model reports for the prompt."""

    def __init__(self, measured: ChatModel, seed: int, *, one_token: bool) -> None:
        self.measured, self.one_token = measured, one_token
        self.player = ScriptedModel(seed, slip_rate=0.0)
        self.identity = measured.identity

    def complete(self, request: CompletionRequest) -> Completion:
        probe = request
        if self.one_token:
            sampling = request.sampling.model_copy(update={"max_tokens": 1})
            probe = request.model_copy(update={"sampling": sampling, "constrained": False})
        usage = self.measured.complete(probe).usage
        text = self.player.complete(request).text
        if self.one_token and isinstance(self.measured, LocalModel):
            hold_reply(self.measured, request, text)
        return Completion(text=text, usage=usage)


def hold_reply(model: LocalModel, request: CompletionRequest, text: str) -> None:
    """Evaluate ``text`` after the prompt, so the KV cache holds the reply as if generated."""
    runtime = model.runtime_for(request.phase)
    with runtime.lock:
        llm = runtime.llm
        prompt = runtime.prompt_tokens([m.model_dump() for m in request.messages])
        if llm.n_tokens == len(prompt):  # the probe left exactly the prompt in the cache
            llm.eval(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def shares(trace_path: Path) -> list[float]:
    """Per step: cached prompt tokens over prompt tokens, over all the step's calls."""
    cached: dict[int, int] = {}
    prompt: dict[int, int] = {}
    for call in Trace.read(trace_path).of_type(CallRecord):
        if call.usage is not None:
            cached[call.step] = cached.get(call.step, 0) + call.usage.cached_tokens
            prompt[call.step] = prompt.get(call.step, 0) + call.usage.prompt_tokens
    return [cached[s] / prompt[s] for s in sorted(prompt) if prompt[s]]


def play(game: str, scaffold: Scaffold, model: ChatModel, steps: int, seed: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.jsonl"
        with TraceWriter(path) as trace:
            Episode(
                env=envs.make(game),
                model=model,
                scaffold=scaffold,
                seed=seed,
                episode_id="bench",
                memory_dir=Path(tmp) / "memory",
                trace=trace,
                max_steps=steps,
            ).run()
        return shares(path)


def summary(per_step: list[float]) -> dict[str, Any]:
    return {
        "median_share": round(statistics.median(per_step), 3),
        "min_share": round(min(per_step), 3),
        "steps_at_least_80pct": f"{sum(s >= 0.8 for s in per_step)}/{len(per_step)}",
        "per_step": [round(s, 3) for s in per_step],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model", default="local:smollm2-135m")
    parser.add_argument("--openai-model", help="e.g. openai:NAME,base_url=http://...:8000/v1")
    args = parser.parse_args()
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg(), "steps": args.steps}
    local = load_model(args.model, seed=0)
    for game, name in SCAFFOLDS.items():
        shipped = load(name)
        model = ScriptedReplies(local, args.seed, one_token=True)
        out = {"embedded": summary(play(game, shipped, model, args.steps, args.seed))}
        if args.openai_model:
            server = load_model(args.openai_model, seed=0)
            model = ScriptedReplies(server, args.seed, one_token=False)
            out["openai_server"] = summary(play(game, shipped, model, args.steps, args.seed))
        result[name] = out
        print(name, json.dumps(out), file=sys.stderr)  # as it goes: a run takes minutes
    result["load_average_at_end"] = os.getloadavg()
    result["target_share"] = 0.8
    result["meets_target"] = all(
        result[name]["embedded"]["median_share"] >= 0.8 for name in SCAFFOLDS.values()
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
