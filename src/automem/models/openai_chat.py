"""The ``openai`` backend: any server speaking OpenAI chat completions.

OpenAI, OpenRouter, vLLM, SGLang, Ollama (``/v1``) and llama.cpp's server all answer
``POST {base_url}/chat/completions``. Specs::

    openai:gpt-4o
    openai:Qwen/Qwen2.5-32B-Instruct,base_url=http://127.0.0.1:8000/v1,guided=vllm
    openai:my-model,base_url=http://127.0.0.1:8080/v1,price=0.2/0.8

Options: ``base_url`` (default ``$OPENAI_BASE_URL`` or https://api.openai.com/v1),
``api_key_env`` (default ``OPENAI_API_KEY``; it must be set unless ``base_url`` is on
loopback, where no key means no Authorization header), ``timeout`` (s, default 300: the
deadline of one whole attempt, from connecting to the answer's last byte, not of each read),
``max_retries`` (5), ``max_connections`` (32), ``backoff_base`` (s, 1), ``backoff_max`` (s,
60), ``max_wait`` (longest retry-after honoured, s, 120), ``max_response_bytes`` (largest
answer accepted; default 1 MiB + 256 bytes per requested token), ``price``
(``IN/OUT[/CACHED_IN]`` USD per 1M tokens; default from the price table),
``guided`` (how to send the phase grammar when the scaffold asks for constrained output:
``off``, ``vllm`` = ``structured_outputs.grammar`` (vLLM >= 0.10.2), ``vllm-legacy`` =
``guided_grammar`` (older vLLM), ``llamacpp`` = ``grammar``, ``sglang`` = ``ebnf``; ``on`` is
``vllm``), ``max_tokens_field`` (``max_tokens`` or ``max_completion_tokens``, which OpenAI's
reasoning models require).

Adapters served beside one base (multi-LoRA): ``lora`` names the adapter and ``lora_style``
how the server is told. ``vllm`` (the default; ``vllm serve BASE --enable-lora
--lora-modules NAME=PATH``) sends the adapter's name as ``model``; ``sglang`` (``--lora-paths
NAME=PATH``) sends the base as ``model`` and ``lora_path: NAME``; ``sglang-model`` sends
``model: BASE:NAME`` (newer SGLang); ``llamacpp`` (llama-server ``--lora FILE``, adapters
numbered by load order) sends ``lora: [{"id": N, "scale": lora_scale}]``, and without ``lora``
sends ``lora: []``, which runs the base with every adapter off for that request (llama-server
otherwise applies its global adapter scales). The adapter is part of the model's identity.

Tool calling (``chat``): tools go out as ``tools`` of ``type: function`` with their JSON
Schema, ``tool_choice`` and ``parallel_tool_calls`` only when they differ from the API's
defaults (auto, parallel); the answer's ``message.tool_calls`` become ToolCalls (arguments
as the JSON text the model wrote), results go back as ``role: tool`` messages.
"""

from __future__ import annotations

import logging
import os
import threading
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

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from automem.models.registry import ModelSpec

DEFAULT_BASE_URL = "https://api.openai.com/v1"
GUIDED_MODES = ("off", "vllm", "vllm-legacy", "llamacpp", "sglang")
LORA_STYLES = ("vllm", "sglang", "sglang-model", "llamacpp")
_GUIDED_ALIASES = {"on": "vllm", "true": "vllm", "1": "vllm", "false": "off", "0": "off"}


class OpenAIChatModel(HostedChatModel):
    path = "/chat/completions"

    def __init__(
        self,
        name: str,
        settings: HttpSettings,
        *,
        spec: str | None = None,
        guided: str = "off",
        max_tokens_field: str = "max_tokens",
        price: Price | None = None,
        lora: str | None = None,
        lora_style: str | None = None,
        lora_scale: float = 1.0,
    ) -> None:
        if guided not in GUIDED_MODES:
            raise ValueError(f"guided={guided!r}: expected one of {', '.join(GUIDED_MODES)}")
        self.guided = guided
        self.lora, self.lora_scale = lora, lora_scale
        self.lora_style = _lora_style(lora, lora_style)
        adapter: dict[str, Any] = {}
        if self.lora_style is not None:
            adapter = {"lora": lora, "lora_style": self.lora_style}
            if self.lora_style == "llamacpp":
                adapter["lora_scale"] = lora_scale
        self.max_tokens_field = max_tokens_field
        headers = {"accept": "application/json"}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        super().__init__(
            backend="openai",
            name=name,
            settings=settings,
            headers=headers,
            api="openai-chat-completions",
            details={"guided": guided, "max_tokens_field": max_tokens_field, **adapter},
            spec=spec,
            price=price,
        )
        self._warned = threading.Event()

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            self.max_tokens_field: sampling.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.constrained:
            self._constrain(body, request)
        self._route_adapter(body)
        return body

    def _route_adapter(self, body: dict[str, Any]) -> None:
        """Name this model's adapter (or none) in the request as its server expects."""
        style = self.lora_style
        if style == "vllm":
            body["model"] = self.lora
        elif style == "sglang":
            body["lora_path"] = self.lora
        elif style == "sglang-model":
            body["model"] = f"{self.name}:{self.lora}"
        elif style == "llamacpp":
            body["lora"] = (
                [] if self.lora is None else [{"id": int(self.lora), "scale": self.lora_scale}]
            )

    def constrains(self, request: CompletionRequest) -> bool | None:
        return request.constrained and self.guided != "off"

    def _constrain(self, body: dict[str, Any], request: CompletionRequest) -> None:
        if self.guided == "off":
            # The scaffold asks for constraint "where the backend supports it": run free, but
            # count it and say so once.
            self._stats.add("unconstrained")
            if not self._warned.is_set():
                self._warned.set()
                log.warning(
                    "%s: the scaffold asks for constrained output but guided=off; decoding is "
                    "unconstrained (set guided=vllm, vllm-legacy, llamacpp or sglang)",
                    self.identity.spec,
                )
            return
        from automem.models.grammar import build_gbnf  # written alongside; imported lazily

        grammar = build_gbnf(request)
        if self.guided == "vllm":
            body["structured_outputs"] = {"grammar": grammar}
        elif self.guided == "vllm-legacy":
            body["guided_grammar"] = grammar
        elif self.guided == "llamacpp":
            body["grammar"] = grammar
        else:
            body["ebnf"] = grammar

    def parse(self, data: Any) -> Reply:
        if not isinstance(data, dict):
            raise MalformedResponse(f"answer is not a JSON object: {type(data).__name__}")
        if "choices" not in data and "error" in data:
            raise UpstreamFailure(failure_in_body(data["error"]))
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise MalformedResponse("answer has no choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise MalformedResponse("choices[0] has no message")
        text = _content_text(message.get("content"))
        finish = choice.get("finish_reason") or "stop"
        usage = data.get("usage")
        if not isinstance(usage, dict):
            raise MalformedResponse("answer has no usage")
        details = usage.get("prompt_tokens_details")
        return Reply(
            text=text,
            finish_reason=str(finish),
            prompt_tokens=count(usage, "prompt_tokens"),
            completion_tokens=count(usage, "completion_tokens"),
            cached_tokens=count(details, "cached_tokens", required=False),
        )

    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        """Chat completions with ``tools``; a defaulted choice (auto, parallel) is not sent."""
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        for message in request.messages:
            messages.extend(_wire_messages(message))
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.name,
            "messages": messages,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            self.max_tokens_field: sampling.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
            choice = request.tool_choice
            if choice in ("required", "none"):
                body["tool_choice"] = choice
            elif choice != "auto":
                body["tool_choice"] = {"type": "function", "function": {"name": choice}}
            if not request.parallel_tool_calls:
                body["parallel_tool_calls"] = False
        self._route_adapter(body)
        return body

    def parse_chat(self, data: Any) -> Reply:
        reply = self.parse(data)  # checks the shape, text and usage
        calls = _tool_calls(data["choices"][0]["message"].get("tool_calls"))
        return replace(reply, tool_calls=calls, raw=data)


def _wire_messages(message: ChatMessage) -> list[dict[str, Any]]:
    """One conversation turn as chat-completions messages (a tool turn: one per result)."""
    if message.role == "tool":
        return [
            {"role": "tool", "tool_call_id": r.call_id, "content": r.content}
            for r in message.tool_results
        ]
    if not message.tool_calls:
        return [{"role": message.role, "content": message.content}]
    calls = [
        {
            "id": call.id,
            "type": "function",
            # verbatim, even when it did not parse: the history says what the model wrote
            "function": {"name": call.name, "arguments": call.arguments_json},
        }
        for call in message.tool_calls
    ]
    return [{"role": "assistant", "content": message.content or None, "tool_calls": calls}]


def _tool_calls(value: object) -> tuple[ToolCall, ...]:
    """The calls of ``message.tool_calls``; bad arguments are kept on the call, not raised."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedResponse(f"message.tool_calls is not a list: {type(value).__name__}")
    calls: list[ToolCall] = []
    for i, item in enumerate(value):
        function = item.get("function") if isinstance(item, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise MalformedResponse(f"tool_calls[{i}] has no function name")
        call_id = item.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise MalformedResponse(f"tool_calls[{i}] ({name}) has no id")
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            calls.append(ToolCall.from_json(call_id, name, arguments))
        else:  # a few servers send the decoded object
            calls.append(ToolCall.from_value(call_id, name, arguments))
    ids = [c.id for c in calls]
    if len(set(ids)) != len(ids):
        raise MalformedResponse(f"tool call ids repeat: {ids}")
    return tuple(calls)


def _content_text(content: object) -> str:
    """The reply text: a string, null (no text, e.g. a refusal or all budget spent on
    reasoning) or a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    raise MalformedResponse(f"message content is not text: {type(content).__name__}")


def _lora_style(lora: str | None, style: str | None) -> str | None:
    """The checked adapter style: None without an adapter (llama-server's may go without)."""
    if style is not None and style not in LORA_STYLES:
        raise ValueError(f"lora_style={style!r} must be one of {', '.join(LORA_STYLES)}")
    if lora is None:
        if style not in (None, "llamacpp"):
            raise ValueError(f"lora_style={style} needs lora=NAME, the adapter's name")
        return style
    style = style or "vllm"
    if style == "llamacpp" and not lora.isdigit():
        raise ValueError(
            f"lora={lora!r}: llama-server numbers its adapters by load order (--lora ...); "
            "give the number, e.g. lora=0"
        )
    return style


def from_spec(
    spec: ModelSpec, seed: int = 0, environ: Mapping[str, str] | None = None
) -> OpenAIChatModel:
    """Build the model an ``openai:...`` spec names (``seed`` is unused: requests carry theirs)."""
    del seed
    env = os.environ if environ is None else environ
    if not spec.name:
        raise ValueError(
            f"model spec {spec.text!r}: the openai backend needs a model name, e.g. openai:gpt-4o"
        )
    options = SpecOptions(
        spec, (*HTTP_OPTIONS, "guided", "max_tokens_field", "lora", "lora_style", "lora_scale")
    )
    settings = http_settings(
        options,
        default_base_url=env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
        default_key_env="OPENAI_API_KEY",
        environ=env,
    )
    guided = options.text("guided", "off").lower()
    guided = _GUIDED_ALIASES.get(guided, guided)
    if guided not in GUIDED_MODES:
        raise ValueError(
            f"model spec {spec.text!r}: guided={guided!r} must be one of "
            f"{', '.join((*GUIDED_MODES, 'on'))}"
        )
    field = options.choice(
        "max_tokens_field", "max_tokens", ("max_tokens", "max_completion_tokens")
    )
    price = spec_price(options, spec.name)
    lora = options.optional("lora")
    style = options.optional("lora_style")
    try:
        if options.optional("lora_scale") is not None and style != "llamacpp":
            raise ValueError("lora_scale is for lora_style=llamacpp")
        style = _lora_style(lora, style.lower() if style else None)
    except ValueError as exc:
        raise ValueError(f"model spec {spec.text!r}: {exc}") from None
    return OpenAIChatModel(
        spec.name,
        settings,
        spec=spec.text,
        guided=guided,
        max_tokens_field=field,
        price=price,
        lora=lora,
        lora_style=style,
        lora_scale=options.number("lora_scale", 1.0),
    )


__all__ = ["DEFAULT_BASE_URL", "GUIDED_MODES", "LORA_STYLES", "OpenAIChatModel", "from_spec"]
