"""`automem train` on the real SmolLM2-135M on the CPU: a tiny LoRA, a few steps.

One session-scoped run through the CLI (``run`` in conftest: a config file plus flags) serves
most tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from automem.cli import app
from automem.train.config import resolve_config
from automem.train.sft import build_trainer, count_truncated
from tests.train.conftest import RUN_FLAGS, STEPS, training_examples

pytestmark = pytest.mark.slow


def test_config_precedence_preset_file_flags(run: Path) -> None:
    config = json.loads((run / "config.json").read_text())
    assert config["lora_rank"] == 8  # flag over file
    assert config["max_steps"] == STEPS  # flag over file
    assert config["learning_rate"] == 0.005  # file over preset
    assert config["max_length"] == 1024  # preset over default
    assert config["target_modules"] == "all"  # flag over preset


def test_loss_is_logged_per_step_and_falls(run: Path) -> None:
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [line["loss"] for line in lines if "loss" in line]
    assert len(losses) == STEPS
    assert losses[-1] < losses[0]
    end = lines[-1]
    assert end["event"] == "end"
    assert end["steps"] == STEPS
    assert end["tokens"] > 0
    assert end["tokens_per_second"] > 0


def test_adapter_weights_changed_from_their_init(run: Path) -> None:
    weights = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    b_keys = [k for k in weights if ".lora_B." in k]
    # 30 layers x q, k, v, o, gate, up, down; PEFT initialises every lora_B to zeros.
    assert len(b_keys) == 30 * 7
    assert all(abs(weights[k]).max() > 0 for k in b_keys)
    config = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (8, 16)
    assert (run / "adapter.gguf").stat().st_size > 0


def test_rerun_returns_the_result_without_training(run: Path) -> None:
    before = (run / "log.jsonl").read_text()
    result = CliRunner().invoke(
        app,
        ["train", "--config", str(run.parent / "train.yaml"), "--output-dir", str(run), *RUN_FLAGS],
    )
    assert result.exit_code == 0, result.output
    assert (run / "log.jsonl").read_text() == before
    # Another config in the same folder is refused, naming what differs.
    other = CliRunner().invoke(
        app, ["train", "--config", str(run.parent / "train.yaml"), "--output-dir", str(run)]
    )
    assert other.exit_code == 2
    assert "another config" in other.output and "lora_rank" in other.output


def test_a_crashed_run_resumed_from_its_last_checkpoint(run: Path) -> None:
    # The run (see conftest) was killed after the checkpoint of step 3, then rerun.
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [line["step"] for line in lines if "loss" in line]
    assert steps == [1, 2, 3, 4, 5, 6]  # not 1, 2, 3, 1, ...: it went on from step 3
    summaries = [line for line in lines if "train_loss" in line and "event" not in line]
    assert len(summaries) == 1  # only the resumed run finished
    assert lines[-1]["resumed_from_step"] == 3
    checkpoints = sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-3", "checkpoint-6"]


def test_loss_is_on_the_reply_only(tmp_path: Path, base_ckpt: Path) -> None:
    examples = training_examples()
    config = resolve_config(
        {"data": tmp_path / "unused.jsonl", "output_dir": tmp_path / "out", "preset": "cpu-tiny"}
    )
    trainer = build_trainer(config, examples, base_ckpt)
    row = trainer.train_dataset[0]
    ids, labels = row["input_ids"], row["labels"]
    trained = [i for i, label in enumerate(labels) if label != -100]
    assert trained, "no token carries loss"
    first = trained[0]
    # Every prompt token is masked, every token from the reply on carries loss.
    assert all(label == -100 for label in labels[:first])
    assert labels[first:] == ids[first:]
    tokenizer = trainer.processing_class
    prompt = tokenizer.decode(ids[:first])
    assert prompt.endswith("<|im_start|>assistant\n")
    assert examples[0].messages[1].content in prompt
    reply = tokenizer.decode(ids[first:])
    assert reply.startswith(examples[0].reply + "<|im_end|>")
    # A cutoff inside the reply truncates (and counts) both examples; before it, drops them.
    short = config.model_copy(update={"max_length": first + 3})
    assert count_truncated(build_trainer(short, examples, base_ckpt), 2, first + 3) == 2
    assert count_truncated(trainer, 2, config.max_length) == 0
