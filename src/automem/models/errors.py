"""What a failed HTTP model call means: its kind, whether to retry, and the server's message.

Error kinds (``ModelError.kind``) the HTTP backends raise:

* ``context_length``: the prompt (plus max_tokens) does not fit the model's context; never retried.
* ``bad_request``: any other rejected request (400/422 and unlisted 4xx); never retried.
* ``auth``: 401/403, a missing, wrong or unauthorised API key; never retried.
* ``not_found``: 404, usually a wrong model name or base_url; never retried.
* ``quota``: 429 that says the account is out of credit (``insufficient_quota``); never retried.
* ``rate_limited``: 429 after the retries, or a retry-after longer than the allowed wait.
* ``server_error``: 5xx/529 (overloaded), 409, after the retries.
* ``timeout``: the whole answer did not arrive within the timeout, after the retries.
* ``connection``: refused, reset or dropped connections, after the retries.
* ``dns``: the base_url's host name cannot be resolved; never retried.
* ``response_too_large``: the answer is larger than max_response_bytes; never retried.
* ``malformed_response``: a 2xx answer that is not the protocol's JSON, after a couple of retries.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

MESSAGE_LIMIT = 300

# Phrases servers use when a prompt does not fit: OpenAI (code context_length_exceeded,
# "maximum context length"), vLLM ("maximum context length", "is longer than the model's
# context length"), SGLang, llama.cpp ("exceeds the available context size",
# exceed_context_size_error), Anthropic ("prompt is too long", "exceed context limit").
_CONTEXT_PATTERNS = re.compile(
    r"context_length_exceeded|exceed_context_size|maximum context length|"
    r"context length (?:is|of|exceeded)|longer than the model'?s context|"
    r"exceeds? the (?:available |maximum )?context|context (?:size|window) (?:exceeded|is full)|"
    r"prompt is too long|exceed context limit|too many (?:input )?tokens|"
    r"input is too long|reduce the length of the (?:messages|prompt)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Failure:
    """One failed attempt: what kind, whether another attempt may help, and why."""

    kind: str
    retryable: bool
    message: str
    status: int | None = None
    retry_after: float | None = None


def is_context_length(message: str, code: str = "") -> bool:
    return bool(_CONTEXT_PATTERNS.search(code) or _CONTEXT_PATTERNS.search(message))


def server_message(text: str) -> tuple[str, str]:
    """The (message, code-or-type) in an error body of any of the common shapes.

    OpenAI and Anthropic: ``{"error": {"message", "type", "code"}}``; older vLLM/SGLang:
    ``{"object": "error", "message", "type", "code"}``; Ollama: ``{"error": "..."}``;
    FastAPI: ``{"detail": ...}``. Anything else is returned as (truncated) text.
    """
    try:
        payload = json.loads(text)
    except ValueError:
        return truncate(text.strip()), ""
    if not isinstance(payload, dict):
        return truncate(text.strip()), ""
    error = payload.get("error", payload)
    if isinstance(error, str):
        return truncate(error), ""
    if not isinstance(error, dict):
        return truncate(text.strip()), ""
    message = error.get("message") or error.get("detail") or payload.get("detail") or text
    if not isinstance(message, str):
        message = json.dumps(message)
    codes = [error.get("code"), error.get("type")]
    code = " ".join(str(c) for c in codes if isinstance(c, str) and c)
    return truncate(message.strip()), code


def classify(status: int, text: str, headers: Mapping[str, str]) -> Failure:
    """The failure an HTTP error status and body stand for."""
    message, code = server_message(text)
    detail = f"{message} [{code}]" if code else message
    if status == 413 or (
        (status in (400, 422) or status >= 500) and is_context_length(message, code)
    ):
        return Failure("context_length", False, detail, status)
    if status in (401, 403):
        return Failure("auth", False, detail, status)
    if status == 404:
        return Failure("not_found", False, detail, status)
    if status == 429:
        if "insufficient_quota" in code or "billing" in code:
            return Failure("quota", False, detail, status)
        return Failure("rate_limited", True, detail, status, retry_after(headers))
    if status == 408:
        return Failure("timeout", True, detail, status, retry_after(headers))
    if status == 409 or status >= 500:
        return Failure("server_error", True, detail, status, retry_after(headers))
    return Failure("bad_request", False, detail, status)


def failure_in_body(error: object) -> Failure:
    """The failure a 2xx body's ``error`` object stands for (OpenRouter and some proxies answer
    200 with an error); its numeric ``code``, when there is one, is read as the HTTP status."""
    code = error.get("code") if isinstance(error, dict) else None
    text = json.dumps({"error": error})
    if isinstance(code, int) and 400 <= code < 600:
        return classify(code, text, {})
    message, kind = server_message(text)
    detail = f"{message} [{kind}]" if kind else message
    if is_context_length(message, kind):
        return Failure("context_length", False, f"error in a 2xx answer: {detail}")
    return Failure("server_error", True, f"error in a 2xx answer: {detail}")


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, or ``retry-after`` in seconds
    or as an HTTP-date. None when absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "Failure",
    "classify",
    "failure_in_body",
    "is_context_length",
    "retry_after",
    "server_message",
]
