"""LoRA SFT of a memory specialist with TRL and PEFT: the library function behind ``automem train``.

Each example is given to TRL's ``SFTTrainer`` in its conversational prompt-completion form: the
prompt is every message before the reply, the completion is the reply. TRL renders both with the
base model's own chat template (the GGUF's, so training sees the exact prompt the embedded
runtime renders) and puts the loss on the completion only: the selected, post-processed
assistant turn. Earlier assistant turns of the same call are context, never targets: they were
not reviewed, and may hold an ACTION or a fence the rules removed from the reply.

The output directory::

    config.json        the resolved TrainConfig
    log.jsonl          one line per logged step (loss, learning rate, grad norm, tokens), then
                       the final summary
    checkpoints/       resumable trainer checkpoints (a rerun continues from the last one)
    adapter/           the PEFT adapter (adapter_config.json, adapter_model.safetensors)
    adapter.gguf       the same LoRA for llama.cpp (llama-cpp-python ``lora_path``)
    result.json        the TrainResult; once it exists, a rerun returns it and trains nothing
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from automem.train.base import base_checkpoint, base_gguf
from automem.train.config import ConfigError, TrainConfig
from automem.train.examples import Example, read_examples

CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
ADAPTER_GGUF = "adapter.gguf"
LOG = "log.jsonl"
RESULT = "result.json"
CONFIG = "config.json"


class TrainResult(BaseModel):
    output_dir: str
    examples: int
    truncated: int  # examples longer than max_length (cut there; fully cut ones are dropped)
    steps: int
    epochs: float
    train_loss: float
    first_loss: float | None
    last_loss: float | None
    tokens: int  # tokens the model processed (prompt and completion, no padding, all epochs)
    seconds: float  # wall time of this session's training (after any resume)
    cpu_seconds: float  # CPU time of this process meanwhile, all threads
    tokens_per_second: float  # over the steps of this session (after any resume)
    resumed_from_step: int  # 0 for a run that started fresh
    adapter: str
    adapter_gguf: str | None

    def summary(self) -> str:
        return (
            f"trained {self.steps} steps on {self.examples} examples "
            f"({self.truncated} truncated): loss {self.first_loss} -> {self.last_loss}, "
            f"{self.tokens} tokens in {self.seconds:.0f} s ({self.tokens_per_second:.0f}/s); "
            f"adapter: {self.adapter}" + (f", {self.adapter_gguf}" if self.adapter_gguf else "")
        )


def to_prompt_completion(example: Example) -> dict[str, list[dict[str, str]]]:
    """TRL's conversational prompt-completion record of ``example``."""
    messages = [m.model_dump() for m in example.messages]
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def gradient_accumulation(config: TrainConfig, world_size: int) -> int:
    per_step = config.batch_size * world_size
    if config.effective_batch_size % per_step:
        raise ConfigError(
            f"effective_batch_size {config.effective_batch_size} is not a multiple of "
            f"batch_size {config.batch_size} x {world_size} devices"
        )
    return config.effective_batch_size // per_step


def _check_output_dir(config: TrainConfig) -> TrainResult | None:
    """The stored result if this config already finished here; an error if another one ran."""
    out = config.output_dir
    stored = out / CONFIG
    if stored.is_file():
        before = json.loads(stored.read_text(encoding="utf-8"))
        now = json.loads(config.model_dump_json())
        if before != now:
            changed = sorted(k for k in now if before.get(k) != now[k])
            raise ConfigError(
                f"{out} holds a training run with another config (differs in {changed}); "
                "use a new --output-dir"
            )
        if (out / RESULT).is_file():
            return TrainResult.model_validate_json((out / RESULT).read_text(encoding="utf-8"))
    return None


def train(config: TrainConfig) -> TrainResult:
    """Train (or resume) the LoRA adapter ``config`` describes; see the module docstring."""
    done = _check_output_dir(config)
    if done is not None:
        return done
    examples = read_examples(config.data)
    if not examples:
        raise ConfigError(f"data: {config.data} holds no examples")
    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG).write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
    checkpoint = base_checkpoint(config.base_model)
    trainer = build_trainer(config, examples, checkpoint)
    truncated = count_truncated(trainer, len(examples), config.max_length)
    resume = _last_checkpoint(out / CHECKPOINTS)
    started, cpu_started = time.perf_counter(), time.process_time()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    adapter_dir = out / ADAPTER
    trainer.model.save_pretrained(adapter_dir)
    gguf_path = None
    if config.gguf_adapter:
        from automem.train.gguf_lora import write_gguf_adapter

        _, info = base_gguf(checkpoint)
        gguf_path = write_gguf_adapter(adapter_dir, info, out / ADAPTER_GGUF)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    session = next(c for c in trainer.callback_handler.callbacks if hasattr(c, "start_tokens"))
    session_tokens = tokens - session.start_tokens
    result = TrainResult(
        output_dir=str(out),
        examples=len(examples),
        truncated=truncated,
        steps=trainer.state.global_step,
        epochs=float(trainer.state.epoch or 0.0),
        train_loss=float(output.training_loss),
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        tokens=tokens,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        tokens_per_second=session_tokens / seconds if seconds > 0 else 0.0,
        resumed_from_step=session.start_step,
        adapter=str(adapter_dir),
        adapter_gguf=str(gguf_path) if gguf_path else None,
    )
    _append_log(out / LOG, {"event": "end", **result.model_dump()})
    partial = out / f".{RESULT}.partial"
    partial.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    partial.replace(out / RESULT)
    return result


def count_truncated(trainer: Any, examples: int, max_length: int) -> int:
    """Examples cut at ``max_length`` by TRL, and those it dropped (cut before the reply)."""
    dataset = trainer.train_dataset
    reached = sum(1 for row in dataset if len(row["input_ids"]) >= max_length)
    return reached + examples - len(dataset)


def _last_checkpoint(folder: Path) -> Path | None:
    found = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def _append_log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def build_trainer(config: TrainConfig, examples: list[Example], checkpoint: Path) -> Any:
    """The TRL ``SFTTrainer`` for ``config``: base model, LoRA, data, callbacks."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    dtype = torch.bfloat16 if config.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype, local_files_only=True)
    dataset = Dataset.from_list([to_prompt_completion(e) for e in examples])
    out = config.output_dir

    class JsonlLog(TrainerCallback):  # type: ignore[misc]
        """Each logged step as one JSON line in the output dir, beside the progress bar.

        Also notes where this session started (a resumed run's state holds earlier steps), so
        the speed is measured on this session's steps only.
        """

        start_step = 0
        start_tokens = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            self.start_step = state.global_step
            self.start_tokens = int(state.num_input_tokens_seen or 0)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            if state.is_world_process_zero and logs:
                _append_log(out / LOG, {"step": state.global_step, "epoch": state.epoch, **logs})

    args = SFTConfig(
        output_dir=str(out / CHECKPOINTS),
        learning_rate=config.learning_rate,
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=gradient_accumulation(config, world_size),
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of the total steps
        max_length=config.max_length,
        completion_only_loss=True,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        gradient_checkpointing=config.gradient_checkpointing,
        bf16=config.bf16,
        deepspeed=str(config.deepspeed) if config.deepspeed else None,
        report_to="none",
        disable_tqdm=False,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
    )
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.modules(),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[JsonlLog()],
    )
