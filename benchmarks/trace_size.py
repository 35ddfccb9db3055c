"""Trace bytes per step, per record type: the text table (schema 4) against schema 3.

The scripted model of ``agent_overhead.py`` plays the reference pattern of memory commands on
each game with its built-in scaffold. The episode's trace is written as the framework writes
it (schema 4: prompts as references into the text table), then the same records are written
again in the schema-3 format (every prompt message's content verbatim, no text records), in
the same process; both are counted per record type. "prompts" are the system and user
messages (schema 3: ``message`` records of those roles; schema 4: ``prompt`` and ``text``
records), "replies" the assistant messages. Target (issue 13): at most 3-6 KB per step.

    python benchmarks/trace_size.py [--steps 300] [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from automem import envs
from automem.agent import Episode
from automem.models import ScriptedModel
from automem.scaffold import load
from automem.traces import Header, TextRecord, TraceWriter, iter_records

GAMES = {  # one environment of each game, with its built-in scaffold
    "crafter": "crafter-v0",
    "minihack/MiniHack-Quest-Easy-v0": "minihack-v0",
    "nethack": "nethack-v0",
}
TARGET_KB = 6.0  # the goal's upper end, per step


def category(kind: str, role: str | None) -> str:
    if kind in ("prompt", "text") or (kind == "message" and role != "assistant"):
        return "prompts"
    return "replies" if kind == "message" else kind


def schema_3_line(record: BaseModel) -> bytes | None:
    """The line the schema-3 writer wrote for ``record`` (as read back: prompts resolved)."""
    if isinstance(record, TextRecord):
        return None  # schema 3 had no text table
    if isinstance(record, Header):
        record = record.model_copy(update={"schema_version": 3})
    return record.model_dump_json().encode() + b"\n"


def measure(env_id: str, scaffold: str, steps: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.jsonl"
        with TraceWriter(path) as trace:
            end = Episode(
                env=envs.make(env_id),
                model=ScriptedModel(seed),
                scaffold=load(scaffold),
                seed=seed,
                episode_id="bench",
                memory_dir=Path(tmp) / "memory",
                trace=trace,
                max_steps=steps,
            ).run()
        now: Counter[str] = Counter()
        for line in path.read_bytes().splitlines(keepends=True):
            fields = json.loads(line)
            now[category(fields["type"], fields.get("role"))] += len(line)
        before: Counter[str] = Counter()
        for record in iter_records(path):
            line = schema_3_line(record)
            if line is not None:
                before[category(str(record.type), getattr(record, "role", None))] += len(line)
    per_step = {
        kind: {
            "schema_3_bytes": round(before[kind] / end.steps),
            "schema_4_bytes": round(now[kind] / end.steps),
            "ratio": round(now[kind] / before[kind], 3) if before[kind] else None,
        }
        for kind in sorted(before.keys() | now.keys(), key=lambda k: -before[k])
    }
    total_before, total_now = sum(before.values()), sum(now.values())
    return {
        "steps": end.steps,
        "schema_3_kb_per_step": round(total_before / 1024 / end.steps, 2),
        "schema_4_kb_per_step": round(total_now / 1024 / end.steps, 2),
        "ratio": round(total_now / total_before, 3),
        "bytes_per_step_by_record_type": per_step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    for env_id, scaffold in GAMES.items():
        result[scaffold] = measure(env_id, scaffold, args.steps, args.seed)
    result["target_kb_per_step"] = TARGET_KB
    result["meets_target"] = all(
        result[s]["schema_4_kb_per_step"] <= TARGET_KB for s in GAMES.values()
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
