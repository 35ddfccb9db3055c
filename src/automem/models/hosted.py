"""The part shared by chat models behind an HTTP API: timing, usage, cost and counters."""

from __future__ import annotations

import abc
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from automem.core import ChatModel, Completion, CompletionRequest, ModelIdentity, Usage
from automem.models.chat import ChatReply, ChatRequest, ToolCall
from automem.models.options import SpecOptions
from automem.models.pricing import Price, parse_price, price_for
from automem.models.transport import CallStats, HttpSettings, HttpTransport, MalformedResponse


@dataclass(frozen=True)
class Reply:
    """What a backend read from one successful answer."""

    text: str
    finish_reason: str
    prompt_tokens: int  # every input token, cached or not
    completion_tokens: int
    cached_tokens: int = 0  # input tokens read from the provider's prompt cache
    cache_write_tokens: int = 0  # input tokens written to it (billed differently by some)
    tool_calls: tuple[ToolCall, ...] = ()  # chat calls only
    raw: dict[str, Any] | None = None  # chat calls only: the answer as received


class HostedChatModel(ChatModel):
    """A chat model reached over HTTP. ``complete`` is thread-safe and does not serialise calls.

    ``usage.latency_s`` is the wall time of the whole call, retries and their waits included
    (what an episode spent waiting for the model). ``usage.cost_usd`` is None when the model's
    price is unknown. Counters of calls, retries and errors (also per error kind) are in
    :attr:`stats`.
    """

    path: str
    shareable = True

    def __init__(
        self,
        *,
        backend: str,
        name: str,
        settings: HttpSettings,
        headers: dict[str, str],
        api: str,
        details: dict[str, Any],
        spec: str | None,
        price: Price | None,
    ) -> None:
        """Identity, counters and transport, the same for every HTTP backend.

        ``details`` are the backend's own output-affecting settings; the identity adds the
        API, the public base URL (never a key) and the price. A server that is not on loopback
        needs a key: without one this raises ValueError before any call.
        """
        require_key(settings, redact_spec(spec or f"{backend}:{name}"))
        self.name = name
        self.price = price
        self._stats = CallStats()
        self.identity = ModelIdentity(
            spec=redact_spec(spec or f"{backend}:{name}"),
            backend=backend,
            name=name,
            details={
                "api": api,
                "base_url": settings.public_base_url,
                **details,
                "price_per_1m": price.as_dict() if price else None,
            },
        )
        self.transport = HttpTransport(
            settings,
            headers=headers,
            label=f"{backend} {name}:",
            stats=self._stats,
            auth_hint=settings.auth_hint,
        )

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot: ``calls``, ``retries``, ``errors``, and ``retries.KIND``/``errors.KIND``."""
        return self._stats.snapshot()

    def complete(self, request: CompletionRequest) -> Completion:
        reply, usage = self._call(request, self.body, self.parse)
        return Completion(
            text=reply.text,
            usage=usage,
            finish_reason=reply.finish_reason,
            constrained=self.constrains(request),
        )

    def constrains(self, request: CompletionRequest) -> bool | None:
        """Whether this backend sends the request's grammar (a backend with no grammar
        support never does)."""
        return False

    def chat(self, request: ChatRequest) -> ChatReply:
        """A tool-calling call, through the same transport (retries, deadline, size cap)."""
        reply, usage = self._call(request, self.chat_body, self.parse_chat)
        return ChatReply(
            text=reply.text,
            tool_calls=reply.tool_calls,
            usage=usage,
            finish_reason=reply.finish_reason,
            model=self.identity,
            raw=reply.raw,
        )

    def _call(
        self,
        request: Any,
        body_of: Callable[[Any], dict[str, Any]],
        parse: Callable[[Any], Reply],
    ) -> tuple[Reply, Usage]:
        """POST one request (a CompletionRequest or ChatRequest); its answer, usage and cost."""
        self._stats.add("calls")
        started = time.perf_counter()
        body = body_of(request)
        limit = self.transport.settings.response_limit(request.sampling.max_tokens)
        reply, _attempts = self.transport.post(self.path, body, parse, max_bytes=limit)
        latency = time.perf_counter() - started
        cost = None
        if self.price is not None:
            cost = self.price.cost(
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.cached_tokens,
                reply.cache_write_tokens,
            )
        usage = Usage(
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cached_tokens=reply.cached_tokens,
            latency_s=latency,
            cost_usd=cost,
        )
        return reply, usage

    def close(self) -> None:
        self.transport.close()

    @abc.abstractmethod
    def body(self, request: CompletionRequest) -> dict[str, Any]:
        """The JSON request body for one call."""

    @abc.abstractmethod
    def parse(self, data: Any) -> Reply:
        """Read a 2xx JSON answer; raise MalformedResponse (or UpstreamFailure) if it is none."""

    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON request body of a tool-calling call; a backend without one keeps this."""
        return ChatModel.chat(self, request)  # type: ignore[return-value] # raises unsupported

    def parse_chat(self, data: Any) -> Reply:
        """Read a 2xx JSON answer to a tool-calling call (with ``tool_calls`` and ``raw``)."""
        raise NotImplementedError(f"{type(self).__name__} sends chat bodies but cannot read them")


def require_key(settings: HttpSettings, spec: str) -> None:
    """Refuse a keyless model unless its server is on loopback (a local server may need none)."""
    if settings.api_key or is_loopback_url(settings.base_url):
        return
    raise ValueError(
        f"model spec {spec!r}: no API key: ${settings.api_key_env} is not set. Set it, or "
        "name the variable that holds the key with api_key_env=NAME (only a base_url on "
        "loopback may go without a key)"
    )


def is_loopback_url(url: str) -> bool:
    """Whether the URL's host is ``localhost`` or a loopback IP address (no DNS lookup)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def count(container: object, key: str, *, required: bool = True) -> int:
    """A token count from a usage object: a non-negative integer (None counts as 0 if optional)."""
    if not isinstance(container, dict):
        if required:
            raise MalformedResponse(f"usage is not an object: {container!r}")
        return 0
    value = container.get(key)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise MalformedResponse(f"usage.{key} is not a token count: {value!r}")
    if value != int(value):
        raise MalformedResponse(f"usage.{key} is not a whole number: {value!r}")
    return int(value)


def spec_price(options: SpecOptions, model: str) -> Price | None:
    """The spec's ``price=`` option, else the price table's entry for the model, else None."""
    raw = options.optional("price")
    if raw is None:
        return price_for(model)
    try:
        return parse_price(raw)
    except ValueError as exc:
        raise ValueError(f"model spec {options.spec.text!r}: {exc}") from None


_USERINFO = re.compile(r"://[^/@\s,]*@")


def redact_spec(text: str) -> str:
    """A spec without URL credentials (``http://user:pass@host``), safe to record."""
    return _USERINFO.sub("://", text)


__all__ = [
    "HostedChatModel",
    "Reply",
    "count",
    "is_loopback_url",
    "redact_spec",
    "require_key",
    "spec_price",
]
