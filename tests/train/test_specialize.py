"""`automem specialize`: collect, select, train, evaluate, ledger, resume (real Crafter runs).

These tests play the scripted model, which takes no adapter, so they give :func:`specialize`
an ``evaluate`` step that records the spec it is handed and then plays the base spec on the
same seeds. The real evaluation (the embedded model with the trained adapter, through
:func:`evaluate_specialist`) is in tests/train/test_loop2_e2e.py. Everything else is real:
the runs, the selection, and (in the slow test) the LoRA training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from automem.runs.config import RunConfig
from automem.train import read_examples
from automem.train.sft import TrainResult
from automem.train.specialize import Recipe, Settings, specialist_spec, specialize

handed: list[str] = []


def stand_in(config: RunConfig, out: Path, run: Any) -> None:
    """Records the specialist spec, then runs the base spec (what the runtime can run today)."""
    handed.append(config.model)
    base = config.model.split(";action=", 1)[1]
    run(config.model_copy(update={"model": base}), out)


def settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "suite": "crafter",
        "model": "scripted",
        "collect_episodes": 2,
        "eval_episodes": 2,
        "max_steps": 12,
        "recipes": (Recipe(name="r1", data={"top_share": 1.0}, lora={"preset": "cpu-tiny"}),),
    }
    return Settings(**{**values, **changes})


class FakeTrainer:
    """Stands in for LoRA training in the fast test: writes a config, a result, a file."""

    def __init__(self) -> None:
        self.configs: list[Any] = []

    def __call__(self, config: Any) -> TrainResult:
        self.configs.append(config)
        out = config.output_dir
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(config.model_dump_json(), encoding="utf-8")
        (out / "adapter.gguf").write_bytes(b"stand-in")
        return TrainResult(
            output_dir=str(out),
            examples=len(read_examples(config.data)),
            truncated=0,
            steps=2,
            epochs=1.0,
            train_loss=1.0,
            first_loss=1.2,
            last_loss=0.8,
            tokens=10,
            seconds=1.0,
            cpu_seconds=1.0,
            tokens_per_second=10.0,
            resumed_from_step=0,
            adapter=str(out / "adapter"),
            adapter_gguf=str(out / "adapter.gguf"),
        )


def test_the_two_model_spec_names_the_adapter(tmp_path: Path) -> None:
    spec = specialist_spec("local:smollm2-135m", tmp_path / "a.gguf", "r1")
    assert spec == f"memory=local:smollm2-135m,lora={tmp_path / 'a.gguf'};action=local:smollm2-135m"


def test_the_spec_is_what_the_role_parser_reads_with_an_absolute_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automem.models.registry import parse_spec
    from automem.models.roles import RoleSpecs

    monkeypatch.chdir(tmp_path)
    base = "local:smollm2-135m,n_ctx=4096,n_threads=2"
    roles = RoleSpecs.parse(specialist_spec(base, Path("out/adapter.gguf"), "r1"))
    assert roles.two_model and roles.action == base
    memory = parse_spec(str(roles.memory))
    assert memory.name == "smollm2-135m" and memory.options["n_threads"] == "2"
    assert memory.options["lora"] == str(tmp_path / "out" / "adapter.gguf")


@pytest.mark.parametrize(
    ("base", "adapter", "message"),
    [
        ("local:smollm2-135m", "a,b/adapter.gguf", "the path holds ',', which a model spec"),
        ("local:smollm2-135m", "a;b=c/adapter.gguf", "the path holds ';' '=', which a model spec"),
        ("local:smollm2-135m,lora=/x.gguf", "adapter.gguf", "already names a LoRA adapter"),
        ("memory=scripted;action=scripted", "adapter.gguf", "needs one base model"),
    ],
)
def test_a_spec_that_would_not_parse_back_is_refused(
    tmp_path: Path, base: str, adapter: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        specialist_spec(base, tmp_path / adapter, "r1")


def test_an_openai_base_asks_the_server_for_the_adapter_by_its_served_name(
    tmp_path: Path,
) -> None:
    from automem.core import CompletionRequest, Message
    from automem.models import load_model
    from automem.models.roles import RoleSpecs
    from tests.models.httpfake import FakeServer, Reply, openai_body

    with FakeServer([Reply(body=openai_body("<|DONE|>"))]) as server:
        base = f"openai:base-model,base_url={server.url}/v1"
        roles = RoleSpecs.parse(specialist_spec(base, tmp_path / "train" / "adapter", "r16"))
        assert roles.action == base
        model = load_model(str(roles.memory))
        request = CompletionRequest(
            messages=(Message(role="user", content="log"),),
            phase="log",
            allowed_ops=("DONE",),
            actions=(),
        )
        model.complete(request)
        model.close()
    assert server.requests[0].body["model"] == "r16"  # vLLM: the served adapter's name


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("openai:b,base_url=http://127.0.0.1:1/v1,lora_style=llamacpp", "by load order"),
        ("openai:b,base_url=http://127.0.0.1:1/v1", "cannot carry it"),
    ],
)
def test_an_adapter_a_server_cannot_be_asked_for_is_refused(base: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        specialist_spec(base, Path("adapter"), "" if "cannot" in message else "r1")


def test_specialize_runs_every_step_writes_the_ledger_and_resumes(tmp_path: Path) -> None:
    handed.clear()
    trainer = FakeTrainer()
    root = tmp_path / "spec"
    ledger = specialize(settings(), root, trainer=trainer, evaluate=stand_in)
    [entry] = ledger
    assert entry == json.loads((root / "ledger.json").read_text())[0]
    adapter = root / "recipes" / "r1" / "train" / "adapter.gguf"
    assert handed == [f"memory=scripted,lora={adapter};action=scripted"]
    config = trainer.configs[0]
    assert config.data == root / "recipes" / "r1" / "data" / "examples.jsonl"
    assert config.lora_rank == 4  # the recipe's preset, cpu-tiny
    assert entry["lora"]["lora_rank"] == 4 and entry["lora"]["preset"] == "cpu-tiny"
    assert entry["data"]["examples"] == len(read_examples(config.data)) > 0
    assert entry["train"]["last_loss"] == 0.8
    evaluation = entry["eval"]
    assert evaluation["pairs"] == 2 and [r["seed"] for r in evaluation["per_seed"]] == [42, 43]
    assert evaluation["difference"]["mean"] == 0.0  # the stand-in plays the same model
    replies = evaluation["base_behaviour"]["replies"]["agent"]
    assert replies["replies"] > 0 and 0 < replies["well_formed"] <= replies["with_memory_command"]
    assert replies["well_formed_share"] == replies["well_formed"] / replies["replies"]
    assert evaluation["base_behaviour"]["behaviour"]["writes"] > 0
    assert evaluation["specialist_behaviour"] == evaluation["base_behaviour"]  # the same model
    collect = json.loads((root / "collect" / "run.json").read_text())["config"]["tasks"][0]
    assert not set(collect["seeds"]) & set(range(42, 52))
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("result.json")}
    stamps[root / "recipes/r1/data/stats.json"] = (
        (root / "recipes/r1/data/stats.json").stat().st_mtime_ns
    )
    again = specialize(settings(), root, trainer=trainer, evaluate=stand_in)
    assert again == ledger
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing was redone


def test_the_collection_is_drawn_as_asked_and_the_evaluations_as_asked(tmp_path: Path) -> None:
    from automem.runs.config import RoutineOverrides

    root = tmp_path / "spec"
    chosen = settings(
        collect_constrained=True,
        collect_routine=RoutineOverrides(log_min_writes=1, plan_min_reads=1),
        eval_constrained=False,
    )
    specialize(chosen, root, trainer=FakeTrainer(), evaluate=stand_in)
    collect = json.loads((root / "collect" / "run.json").read_text())["config"]
    assert collect["constrained_output"] is True
    assert collect["routine"] == {"log_min_writes": 1, "plan_min_reads": 1, "temperature": None}
    for evaluation in (root / "eval-base", root / "recipes" / "r1" / "eval"):
        config = json.loads((evaluation / "run.json").read_text())["config"]
        assert config["constrained_output"] is False and "routine" not in config


def test_other_settings_in_the_same_folder_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    specialize(settings(), root, trainer=FakeTrainer(), evaluate=stand_in)
    with pytest.raises(ValueError, match=r"other settings \(differs in \['collect_episodes'\]\)"):
        specialize(settings(collect_episodes=3), root, trainer=FakeTrainer(), evaluate=stand_in)


def test_recipes_are_checked() -> None:
    with pytest.raises(ValueError, match="may not set data or output_dir"):
        Recipe(name="x", lora={"output_dir": "/tmp"})
    with pytest.raises(ValueError, match="recipe name"):
        Recipe(name="../up")
    with pytest.raises(ValueError, match="recipe names repeat"):
        settings(recipes=(Recipe(name="a"), Recipe(name="a")))


@pytest.mark.slow
def test_specialize_trains_a_real_adapter(tmp_path: Path) -> None:
    """The real trainer (cpu-tiny, 2 steps) on the selected turns of real Crafter episodes."""
    from automem.train.sft import train

    handed.clear()
    recipe = Recipe(
        name="tiny", data={"top_share": 1.0}, lora={"preset": "cpu-tiny", "max_steps": 2}
    )
    [entry] = specialize(
        settings(recipes=(recipe,)), tmp_path / "s", trainer=train, evaluate=stand_in
    )
    assert entry["train"]["steps"] == 2 and entry["train"]["first_loss"] is not None
    adapter = Path(entry["train"]["adapter_gguf"])
    assert adapter.stat().st_size > 1000 and handed == [
        f"memory=scripted,lora={adapter};action=scripted"
    ]


def test_the_cli_refuses_bad_recipes_in_one_line_before_running_anything(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from automem.cli import app

    recipes = tmp_path / "recipes.yaml"
    recipes.write_text("- name: a\n  lora: {output_dir: /tmp/x}\n", encoding="utf-8")
    out = tmp_path / "spec"
    command = ["specialize", "--suite", "crafter", "--model", "scripted", "--out", str(out)]
    result = CliRunner().invoke(app, [*command, "--recipes", str(recipes)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "may not set data or output_dir" in lines[0]
    recipes.write_text("name: a\n", encoding="utf-8")
    result = CliRunner().invoke(app, [*command, "--recipes", str(recipes)])
    assert result.exit_code == 2 and "a YAML list of recipes expected" in result.output
    assert not out.exists()
