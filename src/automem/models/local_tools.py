"""Tool calling on the embedded model: a grammar admits plain text or one JSON call.

The tools are described in the system prompt, and a call is written as one JSON object
``{"tool": NAME, "arguments": {...}}``. Unless the model's ``grammar`` option is ``off``,
decoding is constrained by a GBNF grammar (built with llama-cpp-python's JSON-Schema
converter from each tool's parameter schema) to such a call or, when the request's
``tool_choice`` is ``auto``, to plain text that does not start with ``{``. So a reply always
parses, unless it is cut off at ``max_tokens``; the grammar checks JSON types, enums and
required fields, not every schema keyword (e.g. number bounds), so the session still
validates the arguments (:func:`automem.models.chat.validate_call`).

One call per reply: the small models this serves do not write parallel calls reliably.
Earlier tool calls are shown to the model as the JSON it wrote, their results as user turns.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from automem.core import Usage
from automem.models.chat import ChatMessage, ChatReply, ChatRequest, Tool, ToolCall

if TYPE_CHECKING:
    from automem.models.local import LocalModel

CALL_FORMAT = '{"tool": "<name>", "arguments": {<arguments>}}'
_NAME = re.compile(r'^\{\s*"tool"\s*:\s*"([A-Za-z0-9_-]{1,64})"')


def chat(model: LocalModel, request: ChatRequest) -> ChatReply:
    """One tool-calling call of ``model`` (what ``LocalModel.chat`` does)."""
    offered = offered_tools(request)
    messages = render(request, offered)
    grammar = tool_grammar(offered, request.tool_choice) if model.grammar_mode != "off" else None
    seed = model.call_seed(request)  # type: ignore[arg-type] # it reads only request.seed
    model._calls += 1
    result, cached, latency = model.generate(
        model.runtime, messages, request.sampling, seed, grammar
    )
    choice = result["choices"][0]
    text = choice["text"]
    call_id = f"call_{model._calls - 1}"
    reply_text, calls = parse_reply(text, call_id) if offered else (text, ())
    finish = choice.get("finish_reason") or "stop"
    usage = result["usage"]
    return ChatReply(
        text=reply_text,
        tool_calls=calls,
        usage=Usage(
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            cached_tokens=cached,
            latency_s=latency,
        ),
        finish_reason="tool_calls" if calls and finish == "stop" else finish,
        model=model.identity,
        raw=result,
    )


def offered_tools(request: ChatRequest) -> tuple[Tool, ...]:
    """The tools the model may call now: all, the one ``tool_choice`` names, or none."""
    if request.tool_choice == "none":
        return ()
    if request.tool_choice in ("auto", "required"):
        return request.tools
    return tuple(t for t in request.tools if t.name == request.tool_choice)


# --------------------------------------------------------------------------- the prompt


def render(request: ChatRequest, offered: tuple[Tool, ...]) -> list[dict[str, str]]:
    """The conversation as plain chat messages for the model's own chat template."""
    system = "\n\n".join(p for p in (request.system, _tools_prompt(request, offered)) if p)
    messages = [{"role": "system", "content": system}] if system else []
    names: dict[str, str] = {}  # call id -> tool name, for the result turns
    for message in request.messages:
        names.update((c.id, c.name) for c in message.tool_calls)
        messages.append({"role": _role(message), "content": _content(message, names)})
    return messages


def _tools_prompt(request: ChatRequest, offered: tuple[Tool, ...]) -> str:
    if not offered:
        return ""
    must = request.tool_choice != "auto"
    lines = [
        ("You must call a tool" if must else "You may call a tool")
        + f": reply with only one JSON object {CALL_FORMAT}"
        + ("." if must else "; otherwise reply in plain text."),
        "Tools (arguments as JSON Schema):",
    ]
    for tool in offered:
        schema = json.dumps(tool.parameters, separators=(",", ":"))
        lines.append(f"- {tool.name}: {tool.description} Arguments: {schema}")
    return "\n".join(lines)


def _role(message: ChatMessage) -> str:
    return "user" if message.role == "tool" else message.role


def _content(message: ChatMessage, names: dict[str, str]) -> str:
    if message.role == "tool":
        return "\n\n".join(
            f"{'Error from' if r.is_error else 'Result of'} {names[r.call_id]} "
            f"({r.call_id}):\n{r.content}"
            for r in message.tool_results
        )
    calls = [_call_text(c) for c in message.tool_calls]
    return "\n".join(p for p in (message.content, *calls) if p)


# --------------------------------------------------------------------------- the grammar


def tool_grammar(offered: tuple[Tool, ...], choice: str) -> str | None:
    """GBNF admitting one call of an offered tool, or (``auto``) text not starting with ``{``."""
    if not offered:
        return None
    from llama_cpp.llama_grammar import SchemaConverter

    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    alternatives = [
        {
            "type": "object",
            "properties": {"tool": {"const": t.name}, "arguments": inline_refs(t.parameters)},
            "required": ["tool", "arguments"],
        }
        for t in offered
    ]
    try:
        converter.visit({"oneOf": alternatives}, "call")
    except (AssertionError, KeyError, ValueError) as exc:  # the converter asserts on some
        names = ", ".join(t.name for t in offered)
        raise ValueError(
            f"tools {names}: the local backend cannot build a grammar from their parameter "
            f"schemas ({type(exc).__name__}: {exc}); simplify the schema or use grammar=off"
        ) from None
    rules = converter.format_grammar()
    if choice == "auto":
        return f"root ::= call | text\ntext ::= [^{{ \\t\\r\\n] [^\\x00]*\n{rules}\n"
    return f"root ::= call\n{rules}\n"


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its local ``#/$defs/...`` references replaced by their definitions.

    Done here rather than by the converter, which names a definition by its last path part
    and would mix up two tools' definitions of one name. Recursive schemas are refused.
    """
    defs = schema.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.removeprefix("#/$defs/")
            if name == ref or name not in defs:
                raise ValueError(f"tool schema reference {ref!r} is not a local #/$defs entry")
            if name in seen:
                raise ValueError(
                    f"tool schema {name!r} is recursive; the local backend needs a "
                    "schema without cycles"
                )
            return resolve(defs[name], (*seen, name))
        return {k: resolve(v, seen) for k, v in node.items() if k != "$defs"}

    return resolve(schema, ())


# --------------------------------------------------------------------------- the reply


def parse_reply(text: str, call_id: str) -> tuple[str, tuple[ToolCall, ...]]:
    """(text, calls) of a reply: a JSON call, or plain text (anything not starting with ``{``).

    A call that cannot be read (cut off at max_tokens, or written without the grammar) comes
    back with an ``error``, its name if that much was written (else ""), and the whole call
    as written in ``arguments_json`` (so the history shows the model what it wrote).
    """
    stripped = text.strip()
    if not stripped.startswith("{"):
        return text, ()
    try:
        # strict=False: the grammar's JSON strings admit control characters such as newlines
        value = json.loads(stripped, strict=False)
    except ValueError as exc:
        why = f"the call is not valid JSON ({exc}); write {CALL_FORMAT}"
        return "", (_unreadable(call_id, stripped, why),)
    if not isinstance(value, dict) or not isinstance(value.get("tool"), str):
        return "", (_unreadable(call_id, stripped, f"a call is written {CALL_FORMAT}"),)
    arguments = value.get("arguments")
    if not isinstance(arguments, dict):
        why = f"the call's arguments are not a JSON object; write {CALL_FORMAT}"
        return "", (_unreadable(call_id, stripped, why),)
    return "", (ToolCall.from_value(call_id, value["tool"], arguments),)


def _unreadable(call_id: str, text: str, why: str) -> ToolCall:
    named = _NAME.match(text)
    return ToolCall(
        id=call_id, name=named.group(1) if named else "", arguments_json=text, error=why
    )


def _call_text(call: ToolCall) -> str:
    """A call as the model writes one; an unreadable call exactly as it was written."""
    if call.arguments is None:
        return call.arguments_json
    return f'{{"tool": {json.dumps(call.name)}, "arguments": {call.arguments_json}}}'


__all__ = ["CALL_FORMAT", "chat", "inline_refs", "offered_tools", "parse_reply", "tool_grammar"]
