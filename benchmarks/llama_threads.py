"""Prompt and generation tokens/s: our backend against plain llama-cpp-python's best setting.

Each configuration runs in a fresh process (OpenMP reads its settings when llama.cpp loads),
on the same real request (the first PLAN request of a crafter-v0 episode), round-robin, so
the machine's load drifts alike for all of them:

* ``plain`` is ``llama_cpp.Llama`` with every thread count from 1 to the usable cores, under
  each OpenMP wait setting: the default (idle threads spin about 300,000 times before they
  sleep), ``OMP_WAIT_POLICY=PASSIVE`` (they sleep at once) and ``GOMP_SPINCOUNT`` of 1,000,
  10,000 and 100,000 (a bounded spin); the fastest of these is the baseline;
* ``ours`` is ``local:smollm2-135m`` through ``LocalModel.complete`` with its default threads
  (:func:`automem.models.threads.model_threads`) in a worker's environment, generating on
  the cores no other task holds at each call (:func:`automem.models.threads.generation_threads`).

Prompt speed is a fresh context evaluating the whole prompt; generation speed is 64 tokens
sampled with the prompt cached. Ratios are ours over the best plain (target >= 0.9).

``--other-build LIB_DIR`` also runs plain llama.cpp on another build's libraries (through
``LLAMA_CPP_LIB_PATH``), e.g. the portable one without CPU variants, and reports this build's
speed-up over it. ``--busy N`` runs N busy-looping processes throughout: a machine shared
with other work, where a spinning OpenMP thread takes the core the thread it waits for needs.

    python benchmarks/llama_threads.py [--rounds 3] [--busy 0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GENERATE = 64
# OpenMP wait settings of the plain runs: name -> environment (libgomp reads it at load).
WAIT_SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    **{f"spin{n}": {"GOMP_SPINCOUNT": str(n)} for n in (1_000, 10_000, 100_000)},
}


def child(config: dict[str, Any], request_json: str) -> dict[str, float]:
    """Run in the child process: time prompt evaluation and generation for ``config``."""
    from automem.core import CompletionRequest
    from automem.models import load_model
    from automem.models.local import smollm2_path

    request = CompletionRequest.model_validate_json(request_json)
    prompt_only = request.sampling.model_copy(update={"max_tokens": 1, "temperature": 0.0})
    generating = request.sampling.model_copy(update={"max_tokens": GENERATE})
    free: dict[str, Any] = {"constrained": False}  # plain llama-cpp-python has no grammar here
    if config["kind"] == "ours":
        model = load_model("local:smollm2-135m", seed=0)
        model.runtime_for(request.phase).llm  # noqa: B018 - load outside the timings
        start = time.perf_counter()
        first = model.complete(request.model_copy(update={"sampling": prompt_only, **free}))
        prompt_s = time.perf_counter() - start
        start = time.perf_counter()
        second = model.complete(request.model_copy(update={"sampling": generating, **free}))
        gen_s = time.perf_counter() - start
        return {
            "prompt_tps": first.usage.prompt_tokens / prompt_s,
            "gen_tps": second.usage.completion_tokens / gen_s,
            "threads": model.settings.n_threads,
            "generating_threads": model.runtime_for(request.phase).generating_threads,
        }
    import llama_cpp
    from llama_cpp import Llama

    from automem.models.llama_backends import load_cpu_backends

    load_cpu_backends(llama_cpp)  # what any llama.cpp program does with a build of variants
    n = config["threads"]
    llm = Llama(str(smollm2_path()), n_ctx=8192, n_threads=n, n_threads_batch=n, verbose=False)
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    start = time.perf_counter()
    out = llm.create_chat_completion(messages, max_tokens=1, temperature=0.0)
    prompt_s = time.perf_counter() - start
    start = time.perf_counter()
    gen = llm.create_chat_completion(
        messages, max_tokens=GENERATE, temperature=1.0, top_k=0, min_p=0.0, seed=1
    )
    gen_s = time.perf_counter() - start
    return {
        "prompt_tps": out["usage"]["prompt_tokens"] / prompt_s,
        "gen_tps": gen["usage"]["completion_tokens"] / gen_s,
        "threads": n,
    }


def configurations(cpus: int, other_build: str | None) -> list[dict[str, Any]]:
    plain = [
        {"kind": "plain", "threads": n, "omp": omp}
        for n in range(1, cpus + 1)
        for omp in WAIT_SETTINGS
    ]
    from automem.models.threads import BOUNDED_SPIN

    ours_spin = f"spin{BOUNDED_SPIN['GOMP_SPINCOUNT']}"  # the other build at our setting too
    other = [
        {"kind": "other", "threads": cpus, "omp": omp, "lib": other_build}
        for omp in ("default", ours_spin)
        if other_build
    ]
    return [{"kind": "ours", "omp": "worker"}, *plain, *other]


def label(config: dict[str, Any]) -> str:
    if config["kind"] == "ours":
        return "ours"
    return f"{config['kind']}_threads{config['threads']}_omp_{config['omp'].lower()}"


def run_child(config: dict[str, Any], request_json: str) -> dict[str, float]:
    from automem.models.threads import worker_environment

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if config["omp"] == "worker":
        env.update(worker_environment(1))  # what a run of one worker gives its process
    else:
        env.update(WAIT_SETTINGS[config["omp"]])
    if config.get("lib"):
        env["LLAMA_CPP_LIB_PATH"] = config["lib"]  # llama_cpp loads that build's libraries
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)],
        input=request_json,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{label(config)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes beside")
    parser.add_argument(
        "--other-build",
        metavar="LIB_DIR",
        help="another llama.cpp build's library folder (e.g. a portable one) to run plainly too",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child), sys.stdin.read())))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from automem.models.threads import usable_cpus
    from local_model import real_requests

    request = next(r for r in real_requests(2) if r.phase == "plan")
    request_json = request.model_dump_json()
    configs = configurations(usable_cpus(), args.other_build)
    runs: dict[str, list[dict[str, float]]] = {label(c): [] for c in configs}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    result: dict[str, Any] = {"busy_processes": args.busy, "cpus": usable_cpus()}
    result["load_average_at_start"] = os.getloadavg()
    try:
        for _ in range(args.rounds):
            for config in configs:
                runs[label(config)].append(run_child(config, request_json))
        result["load_average_at_end"] = os.getloadavg()
    finally:
        for process in busy:
            process.kill()
    table = {
        name: {
            "prompt_tokens_per_s": round(statistics.median(r["prompt_tps"] for r in rs), 1),
            "generation_tokens_per_s": round(statistics.median(r["gen_tps"] for r in rs), 1),
            "threads": rs[0]["threads"],
        }
        for name, rs in runs.items()
    }
    # how many threads ours generated with in each round (fewer when other tasks held cores)
    table["ours"]["generating_threads"] = [r["generating_threads"] for r in runs["ours"]]
    plain = {k: v for k, v in table.items() if k.startswith("plain")}
    best_prompt = max(plain, key=lambda k: plain[k]["prompt_tokens_per_s"])
    best_gen = max(plain, key=lambda k: plain[k]["generation_tokens_per_s"])
    ours = table["ours"]
    result.update(
        configurations=table,
        best_plain_prompt=best_prompt,
        best_plain_generation=best_gen,
        prompt_ratio=round(
            ours["prompt_tokens_per_s"] / plain[best_prompt]["prompt_tokens_per_s"], 3
        ),
        generation_ratio=round(
            ours["generation_tokens_per_s"] / plain[best_gen]["generation_tokens_per_s"], 3
        ),
        target_ratio=0.9,
    )
    result["meets_target"] = min(result["prompt_ratio"], result["generation_ratio"]) >= 0.9
    other = {k: v for k, v in table.items() if k.startswith("other")}
    if other:  # how much faster this build is than the other, each at its best
        for key, name in (("prompt_tokens_per_s", "prompt"), ("generation_tokens_per_s", "gen")):
            mine = max(v[key] for v in plain.values())
            result[f"{name}_speedup_over_other_build"] = round(
                mine / max(v[key] for v in other.values()), 3
            )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
