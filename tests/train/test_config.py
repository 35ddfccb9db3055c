"""TrainConfig: presets, precedence defaults < preset < YAML < flags, errors, the CLI's help."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.train.config import (
    ALL_MODULES,
    ATTENTION_MODULES,
    PRESETS,
    ConfigError,
    TrainConfig,
    resolve_config,
)
from automem.train.sft import gradient_accumulation

BASE = {"data": Path("d.jsonl"), "output_dir": Path("out")}


def test_reference_presets_are_the_methods_recipes() -> None:
    got = {
        name: resolve_config({**BASE, "preset": name})
        for name in ("crafter", "minihack", "nethack")
    }
    expected = {
        "crafter": (256, 512, 4, 32, list(ATTENTION_MODULES)),
        "minihack": (128, 256, 3, 16, list(ALL_MODULES)),
        "nethack": (256, 512, 1, 32, list(ALL_MODULES)),
    }
    for name, config in got.items():
        row = (
            config.lora_rank,
            config.lora_alpha,
            config.num_epochs,
            config.effective_batch_size,
            config.modules(),
        )
        assert row == expected[name], name
        assert config.learning_rate == 5e-5
        assert (config.lr_scheduler, config.warmup_ratio, config.max_length) == (
            "cosine",
            0.05,
            16384,
        )


def test_precedence(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("preset: crafter\nlora_rank: 64\nlearning_rate: 1.0e-4\n", encoding="utf-8")
    config = resolve_config({**BASE, "learning_rate": 3e-4, "lora_alpha": None}, path)
    assert config.learning_rate == 3e-4  # flag over file
    assert config.lora_rank == 64  # file over preset
    assert config.lora_alpha == 512  # preset (a None flag is "not given")
    assert config.lora_dropout == TrainConfig.model_fields["lora_dropout"].default
    # A preset named by a flag beats the file's.
    assert resolve_config({**BASE, "preset": "minihack"}, path).num_epochs == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lora_rnak: 4\n", "unknown field(s) ['lora_rnak']"),
        ("- a\n", "a mapping of field: value"),
        ("preset: [\n", "not valid YAML"),
        ("preset: chess\n", "preset: unknown preset 'chess'"),
        ("lora_rank: 0\n", "lora_rank: Input should be greater than or equal to 1"),
        ("batch_size: 3\neffective_batch_size: 8\n", "not a multiple of batch_size 3"),
    ],
)
def test_bad_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve_config(BASE, path)
    assert message in str(info.value)


def test_gradient_accumulation_makes_up_the_effective_batch() -> None:
    config = resolve_config({**BASE, "preset": "crafter", "batch_size": 4})
    assert gradient_accumulation(config, world_size=1) == 8
    assert gradient_accumulation(config, world_size=2) == 4
    with pytest.raises(ConfigError, match="not a multiple of batch_size 4 x 3 devices"):
        gradient_accumulation(config, world_size=3)


def test_target_modules_names() -> None:
    config = resolve_config({**BASE, "target_modules": "q_proj, v_proj"})
    assert config.modules() == ["q_proj", "v_proj"]
    with pytest.raises(ConfigError, match="target_modules"):
        resolve_config({**BASE, "target_modules": " , "}).modules()


def test_help_is_the_field_descriptions() -> None:
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("lora_rank", "effective_batch_size", "gguf_adapter"):
        assert "--" + name.replace("_", "-") in result.output
    description = TrainConfig.model_fields["warmup_ratio"].description
    assert description in " ".join(result.output.split())
    assert "(default: 0.05)" in result.output
    assert all(name in result.output for name in PRESETS)


def test_cli_reports_a_bad_config_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--data", "d.jsonl", "--output-dir", str(tmp_path), "--preset", "chess"]
    )
    assert result.exit_code == 2
    assert "unknown preset 'chess'" in result.output
    missing = CliRunner().invoke(app, ["train", "--output-dir", str(tmp_path)])
    assert missing.exit_code == 2
    assert "data: Field required" in missing.output
