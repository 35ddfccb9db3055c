"""Tool calling on the anthropic backend against a loopback server speaking the Messages API."""

from __future__ import annotations

import pytest

from automem.core import ModelError, Sampling
from automem.models.chat import (
    ChatMessage,
    ChatRequest,
    ToolCall,
    ToolCallError,
    ToolResult,
    validate_call,
)
from tests.models.httpfake import (
    FakeServer,
    Reply,
    anthropic_body,
    anthropic_tool_body,
    anthropic_tool_use,
)
from tests.models.test_anthropic_backend import api_key, model
from tests.models.test_chat import TOOLS, ReadFile, Verdict, user

__all__ = ["api_key"]  # the autouse fixture that sets the test key


def ask(*messages: ChatMessage, **fields: object) -> ChatRequest:
    return ChatRequest(
        messages=messages or (user("Review run a."),),
        system="You review runs.",
        tools=TOOLS,
        sampling=Sampling(max_tokens=400),
        **fields,  # type: ignore[arg-type]
    )


def test_a_round_trip_of_tool_use_and_tool_result() -> None:
    first = anthropic_tool_body(
        anthropic_tool_use("toolu_1", "read_file", {"path": "a.json"}),
        anthropic_tool_use("toolu_2", "read_file", {"path": "nope", "max_lines": 3}),
        text="Reading two files.",
        input_tokens=900,
        output_tokens=40,
        cache_read=100,
    )
    last = anthropic_tool_body(
        anthropic_tool_use("toolu_3", "submit", {"decision": "revert", "reason": "worse"})
    )
    with FakeServer([Reply(body=first), Reply(body=last)]) as server:
        m = model(server.url, "price=3/15/0.3")
        reply = m.chat(ask())
        results = ChatMessage(
            role="tool",
            tool_results=(
                ToolResult(call_id="toolu_1", content='{"progression": 0.4}'),
                ToolResult(call_id="toolu_2", content="no such file: nope", is_error=True),
            ),
        )
        history = (user("Review run a."), reply.message(), results, user("1 turn left."))
        final = m.chat(ask(*history, tool_choice="submit", parallel_tool_calls=False))
    assert server.requests[0].body == {
        "model": "claude-test",
        "max_tokens": 400,
        "messages": [{"role": "user", "content": "Review run a."}],
        "system": "You review runs.",
        "tools": [
            {
                "name": "read_file",
                "description": "Read a text file of the run.",
                "input_schema": ReadFile.model_json_schema(),
            },
            {
                "name": "submit",
                "description": "End the review with a verdict.",
                "input_schema": Verdict.model_json_schema(),
            },
        ],
    }
    assert reply.text == "Reading two files." and reply.finish_reason == "tool_calls"
    assert [validate_call(c, TOOLS) for c in reply.tool_calls] == [
        ReadFile(path="a.json"),
        ReadFile(path="nope", max_lines=3),
    ]
    usage = reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (1000, 40, 100)
    assert usage.cost_usd == pytest.approx((900 * 3 + 100 * 0.3 + 40 * 15) / 1e6)
    assert reply.model == m.identity and reply.raw == first
    sent = server.requests[1].body
    assert sent["messages"] == [
        {"role": "user", "content": "Review run a."},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Reading two files."},
                anthropic_tool_use("toolu_1", "read_file", {"path": "a.json"}),
                anthropic_tool_use("toolu_2", "read_file", {"path": "nope", "max_lines": 3}),
            ],
        },
        {
            "role": "user",
            "content": [  # the results first, then the text of the same turn
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": '{"progression": 0.4}',
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": "no such file: nope",
                    "is_error": True,
                },
                {"type": "text", "text": "1 turn left."},
            ],
        },
    ]
    assert sent["tool_choice"] == {
        "type": "tool",
        "name": "submit",
        "disable_parallel_tool_use": True,
    }
    assert validate_call(final.tool_calls[0], TOOLS) == Verdict(decision="revert", reason="worse")
    assert m.stats == {"calls": 2, "retries": 0, "errors": 0}


@pytest.mark.parametrize(
    ("choice", "parallel", "sent"),
    [
        ("auto", True, None),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", True, {"type": "any"}),
        ("none", False, {"type": "none"}),
    ],
)
def test_tool_choice_is_sent_only_when_it_is_not_the_default(
    choice: str, parallel: bool, sent: dict[str, object] | None
) -> None:
    with FakeServer(default=Reply(body=anthropic_body("ok"))) as server:
        model(server.url).chat(ask(tool_choice=choice, parallel_tool_calls=parallel))
    assert server.requests[0].body.get("tool_choice") == sent


def test_malformed_input_comes_back_on_the_call_without_a_retry() -> None:
    answer = anthropic_tool_body(
        anthropic_tool_use("t1", "read_file", "a.json"),  # a string, not an object
        {"type": "tool_use", "id": "t2", "name": "read_file"},  # no input at all
        anthropic_tool_use("t3", "submit", {"decision": "maybe"}),  # wrong value, one missing
    )
    with FakeServer([Reply(body=answer)]) as server:
        m = model(server.url)
        reply = m.chat(ask())
    assert len(server.requests) == 1 and m.stats["retries"] == 0
    text, missing, wrong = reply.tool_calls
    assert (text.arguments_json, text.error) == (
        '"a.json"',
        "the arguments are a JSON str, not an object",
    )
    assert missing.error == "the arguments are a JSON null, not an object"
    with pytest.raises(ToolCallError) as error:
        validate_call(wrong, TOOLS)
    assert str(error.value) == (
        "submit: invalid arguments: decision: Input should be 'keep' or 'revert'; "
        "reason: Field required"
    )


def test_a_call_whose_input_did_not_parse_is_sent_back_with_an_empty_object() -> None:
    bad = ToolCall.from_json("t1", "read_file", '{"path": ')
    history = (
        user("Review run a."),
        ChatMessage(role="assistant", tool_calls=(bad,)),
        ChatMessage(
            role="tool",
            tool_results=(ToolResult(call_id="t1", content="invalid JSON", is_error=True),),
        ),
    )
    with FakeServer(default=Reply(body=anthropic_body("sorry"))) as server:
        model(server.url).chat(ask(*history))
    assert server.requests[0].body["messages"][1] == {
        "role": "assistant",
        "content": [anthropic_tool_use("t1", "read_file", {})],
    }


def test_a_model_that_never_calls_a_tool_gives_text_and_stop() -> None:
    with FakeServer([Reply(body=anthropic_body("All good.", stop_reason="end_turn"))]) as server:
        reply = model(server.url).chat(ask())
    assert (reply.text, reply.tool_calls, reply.finish_reason) == ("All good.", (), "stop")


def test_a_tool_use_without_an_id_is_malformed() -> None:
    no_id = anthropic_tool_body({"type": "tool_use", "name": "read_file", "input": {}})
    with FakeServer(default=Reply(body=no_id)) as server:
        m = model(server.url)
        with pytest.raises(ModelError, match=r"content\[0\] \(tool_use\) has no id") as error:
            m.chat(ask())
    assert error.value.kind == "malformed_response" and len(server.requests) == 3


def test_prompt_cache_marks_the_system_and_the_last_block() -> None:
    history = (
        user("Review run a."),
        ChatMessage(role="assistant", tool_calls=(ToolCall.from_value("t1", "read_file", {}),)),
        ChatMessage(role="tool", tool_results=(ToolResult(call_id="t1", content="data"),)),
    )
    with FakeServer(default=Reply(body=anthropic_body())) as server:
        model(server.url, "prompt_cache=on").chat(ask(*history))
    body = server.requests[0].body
    cache = {"type": "ephemeral"}
    assert body["system"] == [{"type": "text", "text": "You review runs.", "cache_control": cache}]
    assert body["messages"][-1] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "data", "cache_control": cache}
        ],
    }
