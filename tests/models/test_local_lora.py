"""The embedded model with a LoRA adapter beside its base: spec options, identity, and a real
two-model episode in which one loaded SmolLM2 serves both roles (slow: the real runtime)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from automem.core import CompletionRequest, Message, Sampling
from automem.models import load_model
from automem.models.local import _RUNTIMES, LocalModel, release_runtimes, smollm2_path
from automem.models.roles import combine
from automem.runs import RunConfig, run
from automem.scaffold import dump
from automem.scaffold import load as load_scaffold
from automem.traces import CallRecord, EventRecord, Trace
from automem.train.gguf_lora import BaseInfo, write_gguf_adapter

# SmolLM2-135M: 30 blocks, 9 query heads of 64 dims, 3 KV heads, hidden size 576.
SMOLLM2_HEADS = {"arch": "llama", "n_head": 9, "n_head_kv": 3, "n_blocks": 30}
LAYERS = range(0, 30, 3)


def make_adapter(folder: Path, *, scale: float = 0.3, seed: int = 0) -> Path:
    """A rank-4 LoRA on q and v of every third block of SmolLM2, random but fixed, written
    by the project's own PEFT-to-GGUF converter (no training needed to move the output)."""
    shapes: dict[str, tuple[int, ...]] = {}
    tensors: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(seed)
    for layer in LAYERS:
        for module, name, rows in (("q_proj", "attn_q", 576), ("v_proj", "attn_v", 192)):
            shapes[f"blk.{layer}.{name}.weight"] = (rows, 576)
            key = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            a = rng.standard_normal((4, 576)) * scale
            b = rng.standard_normal((rows, 4)) * scale
            tensors[f"{key}.lora_A.weight"] = a.astype(np.float32)
            tensors[f"{key}.lora_B.weight"] = b.astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": 4, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"]}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    info = BaseInfo(file=smollm2_path().name, shapes=shapes, **SMOLLM2_HEADS)  # type: ignore[arg-type]
    return write_gguf_adapter(folder, info, folder / "adapter.gguf")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_adapter(tmp_path_factory.mktemp("adapter"))


def test_the_adapter_s_digest_and_scale_are_in_the_identity(adapter: Path) -> None:
    model = load_model(f"local:smollm2-135m,lora={adapter},lora_scale=0.5")
    assert isinstance(model, LocalModel)
    details = model.identity.details
    assert details["adapter"] == "adapter.gguf" and details["lora_scale"] == 0.5
    assert len(details["adapter_sha256"]) == 64
    assert details["sha256"] == load_model("local:smollm2-135m").identity.details["sha256"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("lora=/nonexistent/a.gguf", "no such adapter file"),
        ("lora_scale=0.5", "lora_scale needs lora=ADAPTER.gguf"),
        ("lora={adapter},lora_scale=big", "lora_scale must be a number"),
        ("lora={adapter},lora_scale=0", r"must be in \(0, 4\]"),
        ("lora={config}", "not a GGUF file"),
    ],
)
def test_bad_adapter_options_say_what_is_wrong(adapter: Path, options: str, message: str) -> None:
    config = adapter.parent / "adapter_config.json"
    with pytest.raises(ValueError, match=message):
        load_model("local:smollm2-135m," + options.format(adapter=adapter, config=config))


GREEDY = Sampling(temperature=0.0, top_p=1.0, max_tokens=12)


def greedy(model: LocalModel, text: str) -> str:
    request = CompletionRequest(
        messages=(Message(role="user", content=text),),
        phase="plan",
        allowed_ops=(),
        actions=(),
        sampling=GREEDY,
    )
    return model.complete(request).text


def short_turns(path: Path) -> Path:
    """crafter-v0 with short replies and few turns, so the real episode takes a minute."""
    scaffold = load_scaffold("crafter-v0")
    routine = scaffold.routine.model_copy(
        update={
            "log_turn_cap": 2,
            "plan_turn_cap": 3,
            "sampling": Sampling(temperature=1.0, top_p=1.0, max_tokens=40),
        }
    )
    path.write_text(dump(scaffold.model_copy(update={"routine": routine, "name": "short"})))
    return path


@pytest.mark.slow
def test_a_two_model_episode_shares_one_loaded_base(adapter: Path, tmp_path: Path) -> None:
    release_runtimes()
    base_spec = "local:smollm2-135m,n_ctx=4096,n_threads=2"
    spec = combine(f"{base_spec},lora={adapter}", base_spec)
    config = RunConfig(
        env="crafter",
        model=spec,
        seeds=[7],
        max_steps=2,
        scaffold=str(short_turns(tmp_path / "short.yaml")),
        constrained_output=True,
    )
    assert run(config, tmp_path / "run").complete  # one worker: in this process
    # One base file loaded, once per phase slot (contexts=2), with the adapter loaded beside it.
    assert {r.settings.path for r in _RUNTIMES.values()} == {str(smollm2_path())}
    assert sorted(r.settings.slot for r in _RUNTIMES.values()) == ["log", "plan"]
    assert all(len(r.adapters) == 1 for r in _RUNTIMES.values())

    trace = Trace.read(tmp_path / "run" / "episodes" / "crafter__seed7" / "trace.jsonl")
    header = trace.header
    assert header.roles["memory"].details["adapter_sha256"] != ""
    assert "adapter" not in header.roles["action"].details
    calls = trace.of_type(CallRecord)
    assert {c.role for c in calls if c.phase == "log"} == {"memory"}
    for step in (0, 1):
        plan = [c.role for c in calls if c.step == step and c.phase == "plan"]
        assert plan[0] == "memory" and plan[-1] == "action", plan
        assert plan == sorted(plan, key=lambda r: r != "memory")  # memory turns, then action
    assert all(c.constrained is True for c in calls)
    memory_spec = next(c.model for c in calls if c.role == "memory")
    assert memory_spec is not None and f"lora={adapter}" in memory_spec
    assert len([e for e in trace.of_type(EventRecord) if e.kind == "handoff"]) == 2

    # The adapter changes the model's output; the base answers as before it was applied.
    plain = load_model(base_spec)
    adapted = load_model(f"{base_spec},lora={adapter}")
    assert isinstance(plain, LocalModel) and isinstance(adapted, LocalModel)
    prompt = "Name three colours."
    before = greedy(plain, prompt)
    after = greedy(adapted, prompt)
    assert after != before, (before, after)
    assert greedy(plain, prompt) == before
