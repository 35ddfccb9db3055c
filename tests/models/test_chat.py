"""Tool-calling types: calls as written, conversations that the APIs accept, argument checks,
the default of a backend without tool calling, and the scripted chat model."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from automem.core import ModelError, Sampling
from automem.models import ScriptedModel
from automem.models.chat import (
    ChatMessage,
    ChatRequest,
    Tool,
    ToolCall,
    ToolCallError,
    ToolResult,
    validate_call,
)
from automem.models.pricing import Price
from automem.models.scripted import ScriptedChatModel, ScriptedReply


class ReadFile(BaseModel):
    path: str = Field(description="A file of the run directory.")
    max_lines: int = Field(50, ge=1)


class Verdict(BaseModel):
    decision: Literal["keep", "revert"]
    reason: str


READ = Tool(name="read_file", description="Read a text file of the run.", params=ReadFile)
SUBMIT = Tool(name="submit", description="End the review with a verdict.", params=Verdict)
TOOLS = (READ, SUBMIT)


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def call(call_id: str, name: str = "read_file", arguments: str = '{"path": "a"}') -> ToolCall:
    return ToolCall.from_json(call_id, name, arguments)


# --------------------------------------------------------------------------- calls and tools


def test_arguments_are_kept_as_written_and_parsed_or_explained() -> None:
    good = ToolCall.from_json("c1", "read_file", '{"path": "x", "max_lines": 3}')
    assert good.arguments == {"path": "x", "max_lines": 3} and good.error is None
    broken = ToolCall.from_json("c2", "read_file", '{"path": "x"')
    assert broken.arguments is None and broken.arguments_json == '{"path": "x"'
    assert broken.error is not None and broken.error.startswith("invalid JSON")
    listed = ToolCall.from_json("c3", "read_file", '["x"]')
    assert listed.error == "the arguments are a JSON list, not an object"
    decoded = ToolCall.from_value("c4", "read_file", {"path": "é"})
    assert decoded.arguments_json == '{"path": "é"}' and decoded.arguments == {"path": "é"}
    assert (
        ToolCall.from_value("c5", "x", None).error == "the arguments are a JSON null, not an object"
    )


def test_a_call_has_parsed_arguments_or_an_error() -> None:
    with pytest.raises(ValidationError, match="either parsed arguments or an error"):
        ToolCall(id="c", name="x", arguments_json="{}")


def test_a_tool_dump_has_its_json_schema_for_traces() -> None:
    dumped = json.loads(json.dumps(READ.model_dump(mode="json")))
    assert dumped == {
        "name": "read_file",
        "description": "Read a text file of the run.",
        "parameters": ReadFile.model_json_schema(),
    }
    assert dumped["parameters"]["required"] == ["path"]
    request = ChatRequest(messages=(user("go"),), tools=TOOLS)
    assert json.loads(request.model_dump_json())["tools"][1]["parameters"]["properties"][
        "decision"
    ] == {"enum": ["keep", "revert"], "title": "Decision", "type": "string"}


@pytest.mark.parametrize("name", ["read file", "", "x" * 65, "lire_é", "auto", "none"])
def test_tool_names_follow_the_vendors_rule(name: str) -> None:
    with pytest.raises(ValidationError):
        Tool(name=name, description="", params=ReadFile)


# --------------------------------------------------------------------------- validation


def test_validate_call_gives_the_params_model() -> None:
    parsed = validate_call(call("c", arguments='{"path": "runs/a/trace.jsonl"}'), TOOLS)
    assert parsed == ReadFile(path="runs/a/trace.jsonl", max_lines=50)


def test_validate_call_explains_every_problem_for_the_model() -> None:
    with pytest.raises(ToolCallError, match=r"unknown tool 'delete'; the tools are: read_file, su"):
        validate_call(call("c", name="delete"), TOOLS)
    with pytest.raises(ToolCallError, match=r"read_file: the arguments must be one JSON object"):
        validate_call(call("c", arguments='{"path": '), TOOLS)
    with pytest.raises(ToolCallError) as wrong:
        validate_call(call("c", arguments='{"path": 3, "max_lines": 0}'), TOOLS)
    assert str(wrong.value) == (
        "read_file: invalid arguments: path: Input should be a valid string; "
        "max_lines: Input should be greater than or equal to 1"
    )
    with pytest.raises(ToolCallError, match=r"submit: invalid arguments: decision: Input should"):
        validate_call(call("c", "submit", '{"decision": "maybe", "reason": "r"}'), TOOLS)
    with pytest.raises(ToolCallError, match=r"reason: Field required"):
        validate_call(call("c", "submit", '{"decision": "keep"}'), TOOLS)


# --------------------------------------------------------------------------- conversations


def test_a_conversation_with_calls_and_their_results_is_accepted() -> None:
    turns = (
        user("Review the run."),
        ChatMessage(role="assistant", content="", tool_calls=(call("a"), call("b"))),
        ChatMessage(
            role="tool",
            tool_results=(
                ToolResult(call_id="b", content="2 lines"),
                ToolResult(call_id="a", content="no such file", is_error=True),
            ),
        ),
        user("5 turns left."),
    )
    request = ChatRequest(messages=turns, tools=TOOLS, tool_choice="submit")
    assert request.tool_choice == "submit"


@pytest.mark.parametrize(
    ("turns", "message"),
    [
        (
            (user("go"), ChatMessage(role="assistant", tool_calls=(call("a"),)), user("more")),
            r"the tool calls \['a'\] of messages\[1\] need a tool message",
        ),
        (
            (
                user("go"),
                ChatMessage(role="assistant", tool_calls=(call("a"), call("b"))),
                ChatMessage(role="tool", tool_results=(ToolResult(call_id="a", content="."),)),
            ),
            r"answering \['a'\]",
        ),
        (
            (
                user("go"),
                ChatMessage(role="tool", tool_results=(ToolResult(call_id="a", content="."),)),
            ),
            r"messages\[1\]: tool results must follow an assistant message with tool calls",
        ),
        (
            (user("go"), ChatMessage(role="assistant", tool_calls=(call("a"),))),
            r"the tool calls \['a'\] have no results",
        ),
    ],
)
def test_a_conversation_the_apis_would_refuse_is_refused_here(
    turns: tuple[ChatMessage, ...], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ChatRequest(messages=turns, tools=TOOLS)


def test_message_shapes_are_checked() -> None:
    with pytest.raises(ValidationError, match="a user message cannot carry tool_calls"):
        ChatMessage(role="user", tool_calls=(call("a"),))
    with pytest.raises(ValidationError, match="a tool message carries tool_results and no content"):
        ChatMessage(role="tool", content="hi")
    with pytest.raises(ValidationError, match="tool call ids repeat"):
        ChatMessage(role="assistant", tool_calls=(call("a"), call("a")))


def test_tool_choice_and_tool_names_are_checked() -> None:
    with pytest.raises(ValidationError, match=r"tool_choice 'delete': expected auto, required"):
        ChatRequest(messages=(user("go"),), tools=TOOLS, tool_choice="delete")
    with pytest.raises(ValidationError, match="'required' needs at least one tool"):
        ChatRequest(messages=(user("go"),), tool_choice="required")
    with pytest.raises(ValidationError, match="tool names repeat"):
        ChatRequest(messages=(user("go"),), tools=(READ, READ))


# --------------------------------------------------------------------------- models


def test_a_backend_without_tool_calling_says_so() -> None:
    model = ScriptedModel(0)
    with pytest.raises(ModelError, match=r"backend 'scripted' \(scripted\) has no tool calling"):
        model.chat(ChatRequest(messages=(user("go"),)))


def test_the_scripted_chat_model_plays_its_script_and_keeps_the_requests() -> None:
    model = ScriptedChatModel(
        [
            ScriptedReply(
                "Let me look.", calls=(("read_file", {"path": "a"}), ("read_file", '{"pa'))
            ),
            ScriptedReply(calls=(("submit", {"decision": "keep", "reason": "better"}),)),
            "Done.",
        ],
        price=Price(1.0, 2.0),
    )
    first = model.chat(ChatRequest(messages=(user("go"),), tools=TOOLS))
    assert first.text == "Let me look." and first.finish_reason == "tool_calls"
    assert [c.id for c in first.tool_calls] == ["call_0_0", "call_0_1"]
    assert first.tool_calls[0].arguments == {"path": "a"}
    assert first.tool_calls[1].error is not None and first.tool_calls[1].arguments_json == '{"pa'
    usage = first.usage
    assert usage.cost_usd == pytest.approx(
        (usage.prompt_tokens + 2 * usage.completion_tokens) / 1e6
    )
    assert first.model.backend == "scripted"
    results = ChatMessage(
        role="tool",
        tool_results=tuple(ToolResult(call_id=c.id, content="ok") for c in first.tool_calls),
    )
    history = (user("go"), first.message(), results)
    second = model.chat(ChatRequest(messages=history, tools=TOOLS, tool_choice="submit"))
    assert validate_call(second.tool_calls[0], TOOLS) == Verdict(decision="keep", reason="better")
    third = model.chat(ChatRequest(messages=(user("bye"),), tools=TOOLS, tool_choice="none"))
    assert (third.text, third.tool_calls, third.finish_reason) == ("Done.", (), "stop")
    assert [r.messages[-1].role for r in model.requests] == ["user", "tool", "user"]
    assert model.left == 0
    with pytest.raises(ModelError, match="call 4 but the script has only 3 replies") as exhausted:
        model.chat(ChatRequest(messages=(user("more"),)))
    assert exhausted.value.kind == "script_exhausted"


@pytest.mark.parametrize(
    ("reply", "choice"),
    [
        (ScriptedReply(calls=(("read_file", {"path": "a"}),)), "none"),
        (ScriptedReply("text only"), "required"),
        (ScriptedReply(calls=(("read_file", {"path": "a"}),)), "submit"),
    ],
)
def test_a_script_that_contradicts_the_tool_choice_fails(reply: ScriptedReply, choice: str) -> None:
    model = ScriptedChatModel([reply])
    with pytest.raises(ModelError, match=f"tool_choice is '{choice}'") as error:
        model.chat(ChatRequest(messages=(user("go"),), tools=TOOLS, tool_choice=choice))
    assert error.value.kind == "script_mismatch"


def test_the_scripted_chat_model_plays_no_agent_completions() -> None:
    from automem.core import CompletionRequest, Message

    request = CompletionRequest(
        messages=(Message(role="user", content="x"),),
        phase="plan",
        allowed_ops=("ACTION",),
        actions=("wait",),
        sampling=Sampling(),
    )
    with pytest.raises(ModelError, match="answers tool-calling chat calls only"):
        ScriptedChatModel([]).complete(request)
