"""The one configuration of ``automem train``: fields, presets, and where each value comes from.

Every field's description is its ``--help`` text. Values are resolved in one place,
:func:`resolve_config`, with the precedence defaults < preset < YAML file < command-line flags;
the preset is named by the flags or else by the YAML file. The reference presets are the
method's per-game recipes; the CPU presets train the embedded model on a laptop in minutes.
This module imports no training library, so the CLI's help stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
ALL_MODULES = (*ATTENTION_MODULES, "gate_proj", "up_proj", "down_proj")


class ConfigError(ValueError):
    """A configuration a user can fix; the message names the field or file."""


class TrainConfig(BaseModel):
    """LoRA SFT of a memory specialist on post-processed examples (chat or ShareGPT JSONL)."""

    model_config = ConfigDict(extra="forbid")

    data: Path = Field(description="Examples file: chat ('messages') or ShareGPT JSON Lines.")
    output_dir: Path = Field(
        description="Where the config, log.jsonl, checkpoints, the PEFT adapter and "
        "adapter.gguf are written; rerun the same command to resume."
    )
    preset: str | None = Field(
        None,
        description="Start from a named recipe: crafter, minihack, nethack, cpu-tiny, cpu-small.",
    )
    base_model: str = Field(
        "smollm2-135m",
        description="The base model: a local model name (smollm2-135m, qwen2.5-coder-0.5b) or a "
        ".gguf path. Its GGUF is dequantised once into a transformers checkpoint (cached).",
    )
    lora_rank: int = Field(16, ge=1, description="LoRA rank r.")
    lora_alpha: float = Field(
        32.0, gt=0, description="LoRA alpha; the update is scaled by alpha/r."
    )
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: str = Field(
        "attention",
        description="Layers to adapt: 'attention' (q,k,v,o projections), 'all' (attention and "
        "MLP) or a comma-separated list of module names.",
    )
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate.")
    num_epochs: float = Field(
        1.0, gt=0, description="Passes over the data (ignored with max_steps)."
    )
    max_steps: int = Field(-1, description="Stop after this many optimiser steps; -1: use epochs.")
    batch_size: int = Field(1, ge=1, description="Examples per device per forward pass.")
    effective_batch_size: int = Field(
        8,
        ge=1,
        description="Examples per optimiser step over all devices; gradient accumulation makes "
        "up the difference (must be a multiple of batch_size x devices).",
    )
    lr_scheduler: str = Field("cosine", description="Learning-rate schedule (transformers name).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps spent warming up.")
    max_length: int = Field(
        8192, ge=16, description="Cutoff in tokens; longer examples are truncated (counted)."
    )
    seed: int = Field(0, description="Seed of the LoRA init, shuffling and dropout.")
    logging_steps: int = Field(1, ge=1, description="Log the loss every N optimiser steps.")
    save_steps: int = Field(50, ge=1, description="Write a resumable checkpoint every N steps.")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept (older ones deleted).")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: all).")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory, slower."
    )
    bf16: bool = Field(False, description="Train in bfloat16 (GPUs); CPU training uses fp32.")
    deepspeed: Path | None = Field(
        None, description="A DeepSpeed JSON config (GPU, launched with accelerate or deepspeed)."
    )
    gguf_adapter: bool = Field(
        True, description="Also write adapter.gguf, the LoRA in llama.cpp's format."
    )

    @model_validator(mode="after")
    def _batches_divide(self) -> TrainConfig:
        if self.effective_batch_size % self.batch_size:
            raise ValueError(
                f"effective_batch_size {self.effective_batch_size} is not a multiple of "
                f"batch_size {self.batch_size}"
            )
        return self

    def modules(self) -> list[str]:
        """The module names ``target_modules`` stands for."""
        named = {"attention": ATTENTION_MODULES, "all": ALL_MODULES}
        if self.target_modules in named:
            return list(named[self.target_modules])
        names = [m.strip() for m in self.target_modules.split(",") if m.strip()]
        if not names:
            raise ConfigError("target_modules: give 'attention', 'all' or module names")
        return names


# The method's reference recipes (method.md, loop 2) and two CPU recipes for the embedded model.
_REFERENCE = {"lr_scheduler": "cosine", "warmup_ratio": 0.05, "max_length": 16384}
PRESETS: dict[str, dict[str, Any]] = {
    "crafter": {
        **_REFERENCE,
        "lora_rank": 256,
        "lora_alpha": 512,
        "learning_rate": 5e-5,
        "num_epochs": 4,
        "effective_batch_size": 32,
        "target_modules": "attention",
    },
    "minihack": {
        **_REFERENCE,
        "lora_rank": 128,
        "lora_alpha": 256,
        "learning_rate": 5e-5,
        "num_epochs": 3,
        "effective_batch_size": 16,
        "target_modules": "all",
    },
    "nethack": {
        **_REFERENCE,
        "lora_rank": 256,
        "lora_alpha": 512,
        "learning_rate": 5e-5,
        "num_epochs": 1,
        "effective_batch_size": 32,
        "target_modules": "all",
    },
    # A smoke test: a few steps of a tiny adapter, a minute on 2 cores.
    "cpu-tiny": {
        "lora_rank": 4,
        "lora_alpha": 8,
        "learning_rate": 1e-3,
        "max_steps": 8,
        "batch_size": 1,
        "effective_batch_size": 2,
        "target_modules": "attention",
        "max_length": 1024,
        "warmup_ratio": 0.0,
        "save_steps": 4,
    },
    # A real but small run of the embedded model on a CPU.
    "cpu-small": {
        "lora_rank": 16,
        "lora_alpha": 32,
        "learning_rate": 2e-4,
        "num_epochs": 1,
        "batch_size": 1,
        "effective_batch_size": 8,
        "target_modules": "all",
        "max_length": 4096,
        "save_steps": 25,
    },
}


def load_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML config file (keys are TrainConfig field names)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a training config is a mapping of field: value")
    unknown = sorted(set(data) - set(TrainConfig.model_fields))
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {unknown}; see `automem train --help`")
    return data


def resolve_config(
    flags: dict[str, Any] | None = None, config_file: Path | None = None
) -> TrainConfig:
    """defaults < preset < YAML file < flags (a flag of None counts as not given)."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    from_file = load_yaml(config_file) if config_file is not None else {}
    preset_name = given.get("preset", from_file.get("preset"))
    preset: dict[str, Any] = {}
    if preset_name is not None:
        if preset_name not in PRESETS:
            known = ", ".join(PRESETS)
            raise ConfigError(f"preset: unknown preset {preset_name!r}; known: {known}")
        preset = PRESETS[preset_name]
    merged = {**preset, **from_file, **given}
    try:
        return TrainConfig.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        source = f" (from {config_file})" if config_file is not None else ""
        raise ConfigError(f"{where}: {first['msg']}{source}") from None


def describe(name: str) -> str:
    """The help text of a field, with its default."""
    field = TrainConfig.model_fields[name]
    text = field.description or ""
    if not field.is_required() and field.default not in (None, False):
        text += f" (default: {field.default})"
    return text
