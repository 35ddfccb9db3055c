"""Loop 2 end to end on the CPU with the embedded model, through the CLI: collect constrained
episodes with the collection floor, select (examples, not zero), train a LoRA adapter (loss
logged, weights changed), load the GGUF adapter with ``lora=``, play a two-model episode and
read in its trace which model made which turn, and measure the adapter's effect on the output.

Slow: every model call is SmolLM2-135M in llama.cpp (one process, this one), and the training
is real (a few optimiser steps of TRL + PEFT on real examples).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from automem.cli import app
from automem.traces import CallRecord, EventRecord, Trace
from automem.train import read_examples
from automem.train.verbatim import check_verbatim

pytestmark = pytest.mark.slow
BASE = "local:smollm2-135m,n_ctx=4096"
# crafter-v0 with one LOG turn, two PLAN turns and 128-token replies: seconds per step.
SHORT = Path(__file__).resolve().parents[2] / "examples" / "crafter-short.yaml"


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_collect_select_train_load_and_play_two_models(tmp_path: Path) -> None:
    scaffold = str(SHORT)
    collected = tmp_path / "collect"
    cli(
        *("collect", "--suite", "crafter", "--model", BASE, "--scaffold", scaffold),
        *("--episodes", "2", "--max-steps", "3", "--constrained"),
        *("--log-min-writes", "1", "--plan-min-reads", "1", "--out", str(collected)),
    )
    record = json.loads((collected / "collect.json").read_text())
    assert record["routine"]["log_min_writes"] == 1 and record["constrained_output"] is True

    data = tmp_path / "data"
    shown = cli("select", str(collected), "--out", str(data), "--top-share", "1")
    examples = read_examples(data / "examples.jsonl")
    assert examples, shown  # the floor drew memory turns the signals accept
    assert check_verbatim(examples).ok
    stats = json.loads((data / "stats.json").read_text())
    assert stats["examples"] == len(examples) and stats["accepted"]["log"] > 0

    train = tmp_path / "train"
    cli(
        *("train", "--data", str(data / "examples.jsonl"), "--output-dir", str(train)),
        *("--preset", "cpu-tiny", "--max-steps", "2", "--effective-batch-size", "1"),
    )
    log = [json.loads(line) for line in (train / "log.jsonl").read_text().splitlines()]
    losses = [line["loss"] for line in log if "loss" in line]
    assert len(losses) == 2 and all(math.isfinite(x) and x > 0 for x in losses)
    weights = load_file(str(train / "adapter" / "adapter_model.safetensors"))
    assert all(abs(v).max() > 0 for k, v in weights.items() if ".lora_B." in k)  # init: zeros
    adapter = train / "adapter.gguf"

    # The adapter measurably moves llama.cpp's output toward what it was trained on.
    from automem.models.local import smollm2_path
    from automem.train.base import base_checkpoint
    from automem.train.verify import compare

    probe = [m.model_dump() for m in examples[0].messages]
    checkpoint = base_checkpoint("smollm2-135m")
    moved = compare(checkpoint, train / "adapter", smollm2_path(), adapter, probe)
    assert moved.kl_adapter_llama > 1e-4, moved
    assert moved.target_logprob_lora_llama > moved.target_logprob_base_llama, moved

    two = tmp_path / "two"
    memory = f"{BASE},lora={adapter}"
    cli(
        *("run", "--env", "crafter", "--seeds", "7", "--max-steps", "2", "--constrained"),
        *("--scaffold", scaffold, "--memory-model", memory, "--action-model", BASE),
        *("--out", str(two)),
    )
    trace = Trace.read(two / "episodes" / "crafter__seed7" / "trace.jsonl")
    assert trace.header.roles["memory"].details["adapter_sha256"]
    calls = trace.of_type(CallRecord)
    assert {(c.role, c.model) for c in calls if c.phase == "log"} == {("memory", memory)}
    for step in (0, 1):
        plan = [(c.role, c.model) for c in calls if c.step == step and c.phase == "plan"]
        assert plan[0] == ("memory", memory) and plan[-1] == ("action", BASE), plan
    handoffs = [e for e in trace.of_type(EventRecord) if e.kind == "handoff"]
    assert len(handoffs) == 2
