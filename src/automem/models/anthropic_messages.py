"""The ``anthropic`` backend: Anthropic's Messages API (``POST {base_url}/v1/messages``).

Specs: ``anthropic:claude-sonnet-5-5``, ``anthropic:claude-haiku-4-5,prompt_cache=on``.
Options: ``base_url`` (default ``$ANTHROPIC_BASE_URL`` or https://api.anthropic.com),
``api_key_env`` (default ``ANTHROPIC_API_KEY``; it must be set unless ``base_url`` is on
loopback), ``anthropic_version`` (header, default
2023-06-01), ``prompt_cache`` (mark the system prompt and the last message as cache
breakpoints, default off), and the HTTP options of the ``openai`` backend (``timeout``,
``max_retries``, ``max_connections``, ``backoff_base``, ``backoff_max``, ``max_wait``,
``max_response_bytes``, ``price=IN/OUT[/CACHED_IN[/CACHE_WRITE]]``).

System messages go to the top-level ``system`` field (joined by blank lines, wherever they
were); consecutive messages of one role are joined. ``temperature`` and ``top_p`` are sent
only when they differ from 1.0 (the API default): recent Claude models refuse non-default
sampling, and some refuse both at once, so a scaffold that asks for them gets a clear
``bad_request`` instead of a silent change. ``usage.prompt_tokens`` counts every input token
(uncached + cache reads + cache writes), like OpenAI's; ``cached_tokens`` is the cache reads.

Tool calling (``chat``): tools go out with their JSON Schema as ``input_schema``;
``tool_choice`` (``any`` for required, ``tool`` for a named one, ``disable_parallel_tool_use``)
only when it differs from the default; ``tool_use`` blocks become ToolCalls and
``stop_reason: tool_use`` is reported as ``tool_calls``; results go back as ``tool_result``
blocks at the start of a user turn, with ``is_error`` when set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from automem.core import CompletionRequest
from automem.models.chat import ChatMessage, ChatRequest, ToolCall
from automem.models.errors import failure_in_body
from automem.models.hosted import HostedChatModel, Reply, count, spec_price
from automem.models.options import SpecOptions
from automem.models.pricing import Price
from automem.models.transport import (
    HTTP_OPTIONS,
    HttpSettings,
    MalformedResponse,
    UpstreamFailure,
    http_settings,
)

if TYPE_CHECKING:
    from automem.models.registry import ModelSpec

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
_CACHE = {"type": "ephemeral"}


class AnthropicModel(HostedChatModel):
    path = "/v1/messages"

    def __init__(
        self,
        name: str,
        settings: HttpSettings,
        *,
        spec: str | None = None,
        version: str = DEFAULT_VERSION,
        prompt_cache: bool = False,
        price: Price | None = None,
    ) -> None:
        self.prompt_cache = prompt_cache
        headers = {"anthropic-version": version, "accept": "application/json"}
        if settings.api_key:
            headers["x-api-key"] = settings.api_key
        super().__init__(
            backend="anthropic",
            name=name,
            settings=settings,
            headers=headers,
            api="anthropic-messages",
            details={"anthropic_version": version, "prompt_cache": prompt_cache},
            spec=spec,
            price=price,
        )
        # base_url may be given with or without the API's /v1 prefix.
        self.path = "/messages" if settings.base_url.endswith("/v1") else "/v1/messages"

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role == "system":
                continue
            if turns and turns[-1]["role"] == message.role:
                turns[-1]["content"] += "\n\n" + message.content
            else:
                turns.append({"role": message.role, "content": message.content})
        if self.prompt_cache and turns:
            last = turns[-1]
            last["content"] = [{"type": "text", "text": last["content"], "cache_control": _CACHE}]
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.name,
            "max_tokens": sampling.max_tokens,
            "messages": turns,
        }
        if system:
            body["system"] = (
                [{"type": "text", "text": system, "cache_control": _CACHE}]
                if self.prompt_cache
                else system
            )
        if sampling.temperature != 1.0:
            body["temperature"] = sampling.temperature
        if sampling.top_p != 1.0:
            body["top_p"] = sampling.top_p
        return body

    def parse(self, data: Any) -> Reply:
        if not isinstance(data, dict):
            raise MalformedResponse(f"answer is not a JSON object: {type(data).__name__}")
        if data.get("type") == "error" or ("content" not in data and "error" in data):
            raise UpstreamFailure(failure_in_body(data.get("error")))
        content = data.get("content")
        if not isinstance(content, list):
            raise MalformedResponse("answer has no content list")
        # Text blocks only: thinking blocks are the model's private reasoning.
        text = "".join(
            block["text"]
            for block in content
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        )
        usage = data.get("usage")
        if not isinstance(usage, dict):
            raise MalformedResponse("answer has no usage")
        uncached = count(usage, "input_tokens")
        read = count(usage, "cache_read_input_tokens", required=False)
        written = count(usage, "cache_creation_input_tokens", required=False)
        stop = data.get("stop_reason") or "stop"
        return Reply(
            text=text,
            finish_reason=_FINISH.get(str(stop), str(stop)),
            prompt_tokens=uncached + read + written,
            completion_tokens=count(usage, "output_tokens"),
            cached_tokens=read,
            cache_write_tokens=written,
        )

    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        """Messages with ``tools``; tool results go in user turns, before any text of that turn."""
        turns: list[dict[str, Any]] = []
        for message in request.messages:
            role = "user" if message.role == "tool" else message.role
            blocks = _blocks(message)
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"].extend(blocks)
            else:
                turns.append({"role": role, "content": blocks})
        if self.prompt_cache and turns:
            turns[-1]["content"][-1]["cache_control"] = _CACHE
        for turn in turns:  # a turn of plain text is sent as a string, as complete() does
            content = turn["content"]
            if len(content) == 1 and set(content[0]) == {"type", "text"}:
                turn["content"] = content[0]["text"]
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.name,
            "max_tokens": sampling.max_tokens,
            "messages": turns,
        }
        if request.system:
            body["system"] = (
                [{"type": "text", "text": request.system, "cache_control": _CACHE}]
                if self.prompt_cache
                else request.system
            )
        if sampling.temperature != 1.0:
            body["temperature"] = sampling.temperature
        if sampling.top_p != 1.0:
            body["top_p"] = sampling.top_p
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
            choice = _tool_choice(request)
            if choice is not None:
                body["tool_choice"] = choice
        return body

    def parse_chat(self, data: Any) -> Reply:
        reply = self.parse(data)  # checks the shape, text and usage
        calls: list[ToolCall] = []
        for i, block in enumerate(data["content"]):
            if not isinstance(block, dict) or block.get("type") != "tool_use":
                continue
            call_id, name = block.get("id"), block.get("name")
            if not isinstance(call_id, str) or not call_id:
                raise MalformedResponse(f"content[{i}] (tool_use) has no id")
            if not isinstance(name, str) or not name:
                raise MalformedResponse(f"content[{i}] (tool_use) has no name")
            calls.append(ToolCall.from_value(call_id, name, block.get("input")))
        ids = [c.id for c in calls]
        if len(set(ids)) != len(ids):
            raise MalformedResponse(f"tool_use ids repeat: {ids}")
        finish = "tool_calls" if reply.finish_reason == "tool_use" else reply.finish_reason
        return replace(reply, tool_calls=tuple(calls), finish_reason=finish, raw=data)


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    """The content blocks of one conversation turn."""
    if message.role == "tool":
        results: list[dict[str, Any]] = []
        for r in message.tool_results:
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": r.call_id,
                "content": r.content,
            }
            if r.is_error:
                block["is_error"] = True
            results.append(block)
        return results
    blocks: list[dict[str, Any]] = []
    if message.content or not message.tool_calls:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        # The API takes an object: a call whose arguments did not parse is sent with none
        # (its tool_result, an error, tells the model what was wrong).
        arguments = call.arguments if call.arguments is not None else {}
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return blocks


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    """The ``tool_choice`` object, or None for the API default (auto, parallel calls)."""
    choice = request.tool_choice
    types = {"auto": "auto", "required": "any", "none": "none"}
    out: dict[str, Any] = {"type": types.get(choice, "tool")}
    if choice not in types:
        out["name"] = choice
    if not request.parallel_tool_calls and choice != "none":
        out["disable_parallel_tool_use"] = True
    return None if out == {"type": "auto"} else out


def from_spec(
    spec: ModelSpec, seed: int = 0, environ: Mapping[str, str] | None = None
) -> AnthropicModel:
    """Build the model an ``anthropic:...`` spec names (``seed`` is unused: the API has none)."""
    del seed
    env = os.environ if environ is None else environ
    if not spec.name:
        raise ValueError(
            f"model spec {spec.text!r}: the anthropic backend needs a model name, "
            "e.g. anthropic:claude-sonnet-5-5"
        )
    options = SpecOptions(spec, (*HTTP_OPTIONS, "anthropic_version", "prompt_cache"))
    settings = http_settings(
        options,
        default_base_url=env.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL,
        default_key_env="ANTHROPIC_API_KEY",
        environ=env,
    )
    price = spec_price(options, spec.name)
    return AnthropicModel(
        spec.name,
        settings,
        spec=spec.text,
        version=options.text("anthropic_version", DEFAULT_VERSION),
        prompt_cache=options.flag("prompt_cache", False),
        price=price,
    )


__all__ = ["DEFAULT_BASE_URL", "DEFAULT_VERSION", "AnthropicModel", "from_spec"]
