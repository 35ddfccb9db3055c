"""Adapters beside one base on OpenAI-compatible servers: the exact request fields per server
style, against a loopback server, and a two-model episode whose roles reach the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automem.core import CompletionRequest, Message, Sampling
from automem.models import load_model
from automem.models.openai_chat import OpenAIChatModel
from automem.models.roles import combine
from automem.runs import RunConfig, run
from automem.traces import CallRecord, Trace
from tests.models.httpfake import FakeServer, Received, Reply, openai_body

REQUEST = CompletionRequest(
    messages=(Message(role="user", content="Say ok."),),
    phase="plan",
    allowed_ops=("READ", "ACTION"),
    actions=("Noop",),
    sampling=Sampling(temperature=0.5, top_p=1.0, max_tokens=8),
)


def sent_body(extra: str) -> dict[str, Any]:
    """The request body one call of ``openai:base-model,<extra>`` sends to the server."""
    with FakeServer([Reply(body=openai_body("ok"))]) as server:
        model = load_model(f"openai:base-model,base_url={server.url}/v1,{extra}")
        assert isinstance(model, OpenAIChatModel)
        model.complete(REQUEST)
        model.close()
    return server.requests[0].body


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ("lora=specialist", {"model": "specialist"}),  # vLLM: the adapter is the model
        ("lora=specialist,lora_style=vllm", {"model": "specialist"}),
        ("lora=specialist,lora_style=sglang", {"model": "base-model", "lora_path": "specialist"}),
        ("lora=specialist,lora_style=sglang-model", {"model": "base-model:specialist"}),
        (
            "lora=1,lora_style=llamacpp,lora_scale=0.5",
            {"model": "base-model", "lora": [{"id": 1, "scale": 0.5}]},
        ),
        ("lora=0,lora_style=llamacpp", {"model": "base-model", "lora": [{"id": 0, "scale": 1.0}]}),
        ("lora_style=llamacpp", {"model": "base-model", "lora": []}),  # the base, adapters off
        ("max_retries=0", {"model": "base-model"}),  # no adapter: nothing added
    ],
)
def test_each_style_names_the_adapter_as_its_server_expects(
    extra: str, fields: dict[str, Any]
) -> None:
    body = sent_body(extra)
    assert {k: body[k] for k in fields} == fields
    assert not {"lora", "lora_path"} - set(fields) & set(body)  # no other adapter field


def test_the_adapter_is_part_of_the_identity() -> None:
    model = load_model("openai:base-model,base_url=http://127.0.0.1:9/v1,lora=specialist")
    details = model.identity.details
    assert (details["lora"], details["lora_style"]) == ("specialist", "vllm")
    plain = load_model("openai:base-model,base_url=http://127.0.0.1:9/v1")
    assert "lora" not in plain.identity.details


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("lora=x,lora_style=tgi", "lora_style='tgi' must be one of vllm, sglang"),
        ("lora_style=vllm", "lora_style=vllm needs lora=NAME"),
        ("lora=specialist,lora_style=llamacpp", "give the number, e.g. lora=0"),
        ("lora=specialist,lora_scale=0.5", "lora_scale is for lora_style=llamacpp"),
    ],
)
def test_bad_adapter_options_say_what_is_wrong(extra: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_model(f"openai:base-model,base_url=http://127.0.0.1:9/v1,{extra}")


class TwoRoleServer:
    """One vLLM-like server holding a base and an adapter: the adapter reads, then tries to
    commit; the base commits. LOG replies are DONE."""

    def __call__(self, received: Received) -> Reply:
        body = received.body
        messages = body["messages"]
        if "This is the LOG phase" in messages[0]["content"]:
            return Reply(body=openai_body("<|DONE|>"))
        if body["model"] == "specialist":
            read = any(m["role"] == "assistant" for m in messages)
            text = "<|ACTION|>Do<|END|>" if read else "<|READ|>strategy<|END|>"
            return Reply(body=openai_body(text))
        return Reply(body=openai_body("<|ACTION|>Noop<|END|>"))


def test_a_two_model_episode_sends_each_role_s_turns_to_its_adapter(tmp_path: Path) -> None:
    with FakeServer(respond=TwoRoleServer()) as server:
        url = f"base_url={server.url}/v1"
        spec = combine(f"openai:base-model,{url},lora=specialist", f"openai:base-model,{url}")
        config = RunConfig(env="crafter", model=spec, seeds=[1], max_steps=2)
        assert run(config, tmp_path / "run").complete
    models = [r.body["model"] for r in server.requests]
    # step 0 PLAN: read, would-be commit (dropped), base commits; step 1: LOG, then the same
    step0 = ["specialist", "specialist", "base-model"]
    step1 = ["specialist", "specialist", "specialist", "base-model"]
    assert models == step0 + step1
    trace = Trace.read(tmp_path / "run" / "episodes" / "crafter__seed1" / "trace.jsonl")
    roles = [(c.step, c.phase, c.role) for c in trace.of_type(CallRecord)]
    assert roles == [
        (0, "plan", "memory"),
        (0, "plan", "memory"),
        (0, "plan", "action"),
        (1, "log", "memory"),
        (1, "plan", "memory"),
        (1, "plan", "memory"),
        (1, "plan", "action"),
    ]
    assert [s.proposed for s in trace.steps] == ["Noop", "Noop"]
    assert trace.header.roles["memory"].details["lora"] == "specialist"
    assert "lora" not in trace.header.roles["action"].details
    assert all(c.constrained is False for c in trace.of_type(CallRecord))  # guided=off
