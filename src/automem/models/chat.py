"""Tool calling: the types of a chat call beneath the agent's ``CompletionRequest``.

A session (e.g. loop 1's reviewer) offers :class:`Tool` s, each with a pydantic model of its
parameters, in a :class:`ChatRequest`; ``ChatModel.chat`` returns a :class:`ChatReply` with
text and/or :class:`ToolCall` s; the session runs each call after :func:`validate_call` and
sends :class:`ToolResult` s back in a ``tool`` :class:`ChatMessage`. The types are the same on
every backend; each backend maps them to its wire format.

A model's bad arguments never raise from a backend: a call whose arguments are not a JSON
object carries an ``error``, and :func:`validate_call` turns that or a schema mismatch into a
:class:`ToolCallError` whose message is written for the model to read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, computed_field, model_validator

from automem.core import Frozen, ModelIdentity, Sampling, Usage

TOOL_CHOICES = ("auto", "required", "none")
ChatRole = Literal["user", "assistant", "tool"]


class Tool(Frozen):
    """A function the model may call: its name, what it does, and its parameters.

    ``params`` is a pydantic model: its JSON Schema (``parameters``) is what backends send,
    and it validates the arguments a model wrote (:func:`validate_call`). A dump of the tool
    (what a trace records of the tools offered) has the name, description and schema.
    """

    name: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Letters, digits, '_' and '-', at most 64 (what every vendor accepts).",
    )
    description: str
    params: type[BaseModel] = Field(exclude=True)

    @model_validator(mode="after")
    def _not_a_choice(self) -> Tool:
        if self.name in TOOL_CHOICES:
            raise ValueError(f"tool name {self.name!r} is reserved for tool_choice; rename it")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON Schema of the arguments (an object schema)."""
        return self.params.model_json_schema()


class ToolCall(Frozen):
    """One call the model asked for, as it wrote it.

    ``arguments_json`` is the arguments' JSON text; ``arguments`` the object it parses to, or
    None with ``error`` saying why it does not (invalid JSON, or JSON that is not an object).
    Backends never raise for bad arguments: the session reads ``error`` (or the schema errors
    of :func:`validate_call`) and tells the model.
    """

    id: str = Field(min_length=1, description="The backend's call id; results refer to it.")
    name: str
    arguments_json: str
    arguments: dict[str, Any] | None = None
    error: str | None = None

    @model_validator(mode="after")
    def _parsed_or_error(self) -> ToolCall:
        if (self.arguments is None) == (self.error is None):
            raise ValueError("a ToolCall has either parsed arguments or an error, not both")
        return self

    @classmethod
    def from_json(cls, id: str, name: str, text: str) -> ToolCall:
        """A call whose arguments came as JSON text (OpenAI's wire format, a local model)."""
        try:
            value = json.loads(text)
        except ValueError as exc:
            return cls(id=id, name=name, arguments_json=text, error=f"invalid JSON: {exc}")
        return cls._checked(id, name, text, value)

    @classmethod
    def from_value(cls, id: str, name: str, value: object) -> ToolCall:
        """A call whose arguments came as a decoded JSON value (Anthropic's ``input``)."""
        return cls._checked(id, name, json.dumps(value, ensure_ascii=False), value)

    @classmethod
    def _checked(cls, id: str, name: str, text: str, value: object) -> ToolCall:
        if isinstance(value, dict):
            return cls(id=id, name=name, arguments_json=text, arguments=value)
        kind = "null" if value is None else type(value).__name__
        why = f"the arguments are a JSON {kind}, not an object"
        return cls(id=id, name=name, arguments_json=text, error=why)


class ToolResult(Frozen):
    """What running one call gave, sent back to the model."""

    call_id: str = Field(min_length=1)
    content: str
    is_error: bool = False


class ChatMessage(Frozen):
    """One turn of a tool-calling conversation.

    ``user``: text. ``assistant``: text and/or ``tool_calls``. ``tool``: the ``tool_results``
    of every call of the assistant turn just before it (and no text).
    """

    role: ChatRole
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()

    @model_validator(mode="after")
    def _shape(self) -> ChatMessage:
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"a {self.role} message cannot carry tool_calls")
        if self.role == "tool" and (self.content or not self.tool_results):
            raise ValueError("a tool message carries tool_results and no content")
        if self.role != "tool" and self.tool_results:
            raise ValueError(f"a {self.role} message cannot carry tool_results; use role 'tool'")
        ids = [c.id for c in self.tool_calls] + [r.call_id for r in self.tool_results]
        if len(set(ids)) != len(ids):
            raise ValueError(f"tool call ids repeat in one message: {ids}")
        return self


class ChatRequest(Frozen):
    """One tool-calling model call: a conversation, the tools offered and how to choose.

    ``tool_choice``: ``auto`` (the model decides), ``required`` (at least one call), ``none``
    (no call), or the name of one offered tool (a call of that tool).
    """

    messages: tuple[ChatMessage, ...] = Field(min_length=1)
    system: str = ""
    tools: tuple[Tool, ...] = ()
    tool_choice: str = "auto"
    parallel_tool_calls: bool = Field(True, description="Allow several calls in one reply.")
    sampling: Sampling = Sampling()
    seed: int | None = Field(None, description="Per-call seed, for backends that support it.")

    @model_validator(mode="after")
    def _consistent(self) -> ChatRequest:
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise ValueError(f"tool names repeat: {names}")
        if self.tool_choice not in TOOL_CHOICES and self.tool_choice not in names:
            raise ValueError(
                f"tool_choice {self.tool_choice!r}: expected auto, required, none or the name "
                f"of an offered tool ({', '.join(names) or 'no tools offered'})"
            )
        if self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice 'required' needs at least one tool")
        _check_tool_turns(self.messages)
        return self


def _check_tool_turns(messages: Sequence[ChatMessage]) -> None:
    """Each assistant turn with calls is followed by one tool turn answering all of them."""
    pending: list[str] = []
    for i, message in enumerate(messages):
        if pending:
            answered = [r.call_id for r in message.tool_results]
            if message.role != "tool" or sorted(answered) != sorted(pending):
                raise ValueError(
                    f"messages[{i}]: the tool calls {pending} of messages[{i - 1}] need a tool "
                    f"message with one result each right after (got a {message.role} message "
                    f"answering {answered})"
                )
        elif message.role == "tool":
            raise ValueError(
                f"messages[{i}]: tool results must follow an assistant message with tool calls"
            )
        pending = [c.id for c in message.tool_calls]
    if pending:
        raise ValueError(f"messages[-1]: the tool calls {pending} have no results")


class ChatReply(Frozen):
    """What one tool-calling call returned.

    ``finish_reason`` is ``stop``, ``length`` (cut at max_tokens), ``tool_calls`` (the model
    wants results), or a backend's own reason. ``raw`` is the backend's answer as received
    (JSON), for traces.
    """

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    finish_reason: str = "stop"
    model: ModelIdentity
    raw: dict[str, Any] | None = None

    def message(self) -> ChatMessage:
        """The assistant turn to append to the conversation."""
        return ChatMessage(role="assistant", content=self.text, tool_calls=self.tool_calls)


class ToolCallError(ValueError):
    """A tool call that cannot run as written; the message is meant for the model to read."""


def validate_call(call: ToolCall, tools: Sequence[Tool]) -> BaseModel:
    """The call's arguments as an instance of its tool's ``params`` model.

    Raises :class:`ToolCallError` naming the tool and what is wrong (unknown tool, arguments
    that are not a JSON object, each field that fails the schema), for a ``ToolResult`` with
    ``is_error=True``.
    """
    tool = next((t for t in tools if t.name == call.name), None)
    if tool is None:
        known = ", ".join(t.name for t in tools) or "none"
        raise ToolCallError(f"unknown tool {call.name!r}; the tools are: {known}")
    if call.arguments is None:
        raise ToolCallError(
            f"{call.name}: the arguments must be one JSON object ({call.error}); got "
            f"{call.arguments_json[:200]!r}"
        )
    try:
        return tool.params.model_validate(call.arguments)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(arguments)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ToolCallError(f"{call.name}: invalid arguments: {problems}") from None


__all__ = [
    "TOOL_CHOICES",
    "ChatMessage",
    "ChatReply",
    "ChatRequest",
    "ChatRole",
    "Tool",
    "ToolCall",
    "ToolCallError",
    "ToolResult",
    "validate_call",
]
