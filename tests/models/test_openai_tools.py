"""Tool calling on the openai backend against a loopback server speaking chat completions."""

from __future__ import annotations

import pytest

from automem.core import ModelError, Sampling
from automem.models.chat import (
    ChatMessage,
    ChatRequest,
    ToolCallError,
    ToolResult,
    validate_call,
)
from tests.models.httpfake import FakeServer, Reply, openai_body, openai_call, openai_tool_body
from tests.models.test_chat import TOOLS, ReadFile, Verdict, user
from tests.models.test_openai_backend import api_key, model

__all__ = ["api_key"]  # the autouse fixture that sets the test key

SAMPLING = Sampling(temperature=0.2, top_p=1.0, max_tokens=300)


def ask(*messages: ChatMessage, **fields: object) -> ChatRequest:
    return ChatRequest(
        messages=messages or (user("Review run a."),),
        system="You review runs.",
        tools=TOOLS,
        sampling=SAMPLING,
        **fields,  # type: ignore[arg-type]
    )


def test_one_call_sends_the_tools_and_reads_the_call_usage_and_cost() -> None:
    answer = openai_tool_body(
        openai_call("call_1", "read_file", '{"path": "runs/a/summary.json"}'),
        prompt_tokens=1000,
        completion_tokens=20,
    )
    with FakeServer([Reply(body=answer)]) as server:
        m = model(server.url, "price=2/8")
        reply = m.chat(ask())
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].body == {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "You review runs."},
            {"role": "user", "content": "Review run a."},
        ],
        "temperature": 0.2,
        "top_p": 1.0,
        "max_tokens": 300,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "read_file",
                    "description": "Read a text file of the run.",
                    "parameters": ReadFile.model_json_schema(),
                },
            },
            {
                "type": "function",
                "function": {
                    "name": "submit",
                    "description": "End the review with a verdict.",
                    "parameters": Verdict.model_json_schema(),
                },
            },
        ],
    }
    assert reply.text == "" and reply.finish_reason == "tool_calls"
    (call,) = reply.tool_calls
    assert (call.id, call.name, call.arguments_json) == (
        "call_1",
        "read_file",
        '{"path": "runs/a/summary.json"}',
    )
    assert validate_call(call, TOOLS) == ReadFile(path="runs/a/summary.json")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (1000, 20)
    assert reply.usage.cost_usd == pytest.approx((1000 * 2 + 20 * 8) / 1e6)
    assert reply.usage.latency_s > 0
    assert reply.model == m.identity and reply.raw == answer
    assert m.stats == {"calls": 1, "retries": 0, "errors": 0}


def test_parallel_calls_come_back_in_order_with_the_text() -> None:
    answer = openai_tool_body(
        openai_call("call_a", "read_file", '{"path": "a.json"}'),
        openai_call("call_b", "read_file", '{"path": "b.json", "max_lines": 5}'),
        text="Reading both.",
    )
    with FakeServer([Reply(body=answer)]) as server:
        reply = model(server.url).chat(ask())
    assert reply.text == "Reading both."
    assert [c.id for c in reply.tool_calls] == ["call_a", "call_b"]
    assert [validate_call(c, TOOLS) for c in reply.tool_calls] == [
        ReadFile(path="a.json"),
        ReadFile(path="b.json", max_lines=5),
    ]
    assert reply.message().tool_calls == reply.tool_calls


def test_a_round_trip_sends_the_calls_and_results_back_exactly() -> None:
    first = openai_tool_body(
        openai_call("call_a", "read_file", '{"path": "a.json"}'),
        openai_call("call_b", "read_file", '{"path": "nope"}'),
    )
    last = openai_tool_body(openai_call("call_c", "submit", '{"decision":"keep","reason":"ok"}'))
    with FakeServer([Reply(body=first), Reply(body=last)]) as server:
        m = model(server.url)
        reply = m.chat(ask())
        results = ChatMessage(
            role="tool",
            tool_results=(
                ToolResult(call_id="call_a", content='{"progression": 0.4}'),
                ToolResult(call_id="call_b", content="no such file: nope", is_error=True),
            ),
        )
        history = (user("Review run a."), reply.message(), results, user("1 turn left."))
        final = m.chat(ask(*history, tool_choice="submit", parallel_tool_calls=False))
    sent = server.requests[1].body
    assert sent["messages"] == [
        {"role": "system", "content": "You review runs."},
        {"role": "user", "content": "Review run a."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                openai_call("call_a", "read_file", '{"path": "a.json"}'),
                openai_call("call_b", "read_file", '{"path": "nope"}'),
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": '{"progression": 0.4}'},
        {"role": "tool", "tool_call_id": "call_b", "content": "no such file: nope"},
        {"role": "user", "content": "1 turn left."},
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "submit"}}
    assert sent["parallel_tool_calls"] is False
    assert "tool_choice" not in server.requests[0].body
    assert "parallel_tool_calls" not in server.requests[0].body
    assert validate_call(final.tool_calls[0], TOOLS) == Verdict(decision="keep", reason="ok")


@pytest.mark.parametrize("choice", ["required", "none"])
def test_required_and_none_are_sent_as_strings(choice: str) -> None:
    with FakeServer(default=Reply(body=openai_body("I will not call."))) as server:
        model(server.url).chat(ask(tool_choice=choice))
    assert server.requests[0].body["tool_choice"] == choice


def test_malformed_arguments_come_back_on_the_call_without_a_retry() -> None:
    answer = openai_tool_body(
        openai_call("c1", "read_file", '{"path": "a.json"'),  # cut off
        openai_call("c2", "read_file", '["a.json"]'),  # JSON, not an object
        openai_call("c3", "read_file", '{"path": 7, "max_lines": "many"}'),  # wrong types
        openai_call("c4", "rm_rf", "{}"),  # a tool that was never offered
    )
    with FakeServer([Reply(body=answer)]) as server:
        m = model(server.url)
        reply = m.chat(ask())
    assert len(server.requests) == 1 and m.stats["retries"] == 0
    cut, listed, typed, _unknown = reply.tool_calls
    assert cut.arguments is None and cut.error is not None and "invalid JSON" in cut.error
    assert cut.arguments_json == '{"path": "a.json"'
    assert listed.error == "the arguments are a JSON list, not an object"
    assert typed.arguments == {"path": 7, "max_lines": "many"} and typed.error is None
    problems = []
    for call in reply.tool_calls:
        with pytest.raises(ToolCallError) as error:
            validate_call(call, TOOLS)
        problems.append(str(error.value))
    assert problems[1].startswith("read_file: the arguments must be one JSON object")
    assert problems[2] == (
        "read_file: invalid arguments: path: Input should be a valid string; "
        "max_lines: Input should be a valid integer, unable to parse string as an integer"
    )
    assert problems[3] == "unknown tool 'rm_rf'; the tools are: read_file, submit"


def test_the_unparsed_arguments_are_sent_back_verbatim() -> None:
    broken = openai_tool_body(openai_call("c1", "read_file", '{"path": '))
    with FakeServer([Reply(body=broken), Reply(body=openai_body("sorry"))]) as server:
        m = model(server.url)
        reply = m.chat(ask())
        results = ChatMessage(
            role="tool",
            tool_results=(ToolResult(call_id="c1", content="bad JSON", is_error=True),),
        )
        m.chat(ask(user("Review run a."), reply.message(), results))
    sent = server.requests[1].body["messages"][2]
    assert sent["tool_calls"][0]["function"]["arguments"] == '{"path": '


def test_a_model_that_never_calls_a_tool_gives_text_and_stop() -> None:
    with FakeServer([Reply(body=openai_body("The run looks fine.", prompt_tokens=50))]) as server:
        reply = model(server.url, name="gpt-4o-mini").chat(ask())
    assert (reply.text, reply.tool_calls, reply.finish_reason) == (
        "The run looks fine.",
        (),
        "stop",
    )
    assert reply.usage.cost_usd == pytest.approx((50 * 0.15 + 3 * 0.60) / 1e6)  # price table


def test_a_call_without_an_id_is_malformed_and_retried_by_the_transport() -> None:
    no_id = openai_tool_body({"type": "function", "function": {"name": "read_file"}})
    good = openai_tool_body(openai_call("c1", "read_file", '{"path": "a"}'))
    with FakeServer([Reply(body=no_id), Reply(status=429, body={}), Reply(body=good)]) as server:
        m = model(server.url)
        reply = m.chat(ask())
    assert reply.tool_calls[0].id == "c1" and len(server.requests) == 3
    assert m.stats == {
        "calls": 1,
        "retries": 2,
        "errors": 0,
        "retries.malformed_response": 1,
        "retries.rate_limited": 1,
    }


def test_a_call_that_fails_for_good_is_a_model_error() -> None:
    no_name = openai_tool_body({"id": "c1", "type": "function", "function": {"arguments": "{}"}})
    with FakeServer(default=Reply(body=no_name)) as server:
        m = model(server.url)
        with pytest.raises(ModelError, match=r"tool_calls\[0\] has no function name") as error:
            m.chat(ask())
    assert error.value.kind == "malformed_response" and len(server.requests) == 3


def test_an_assistant_turn_without_calls_is_sent_as_plain_text() -> None:
    with FakeServer(default=Reply(body=openai_body())) as server:
        assistant = ChatMessage(role="assistant", content="Thinking aloud.")
        model(server.url).chat(ask(user("a"), assistant, user("b")))
    assert server.requests[0].body["messages"][2] == {
        "role": "assistant",
        "content": "Thinking aloud.",
    }
