"""JSON over HTTP for the hosted-model backends: a shared connection pool, retries, counters.

One :class:`HttpTransport` (one ``httpx.Client``) serves every thread that calls a model:
httpx's pool is thread-safe, and ``max_connections`` caps how many requests are in flight at
once (further calls wait for a free connection, they are not serialised behind one lock).

``timeout`` is the deadline of one whole attempt (connect, send, and read the full answer),
not of each read: a server that trickles bytes is cut off at it (see
:mod:`automem.models.deadline`). An answer larger than ``max_response_bytes`` (by default
1 MiB plus 256 bytes per requested token) is refused while it is read.

Retries use exponential backoff with full jitter (a uniform wait in
``[0, min(backoff_max, backoff_base * 2**n)]``), or exactly the server's ``retry-after``
when it gives one. Transient failures are retried: 408, 409, 429, 5xx (incl. 529),
timeouts, refused/reset/dropped connections, and malformed 2xx bodies (at most
``MALFORMED_RETRIES`` times). Everything else fails at once with a precise
:class:`ModelError` kind (see :mod:`automem.models.errors`).
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from automem.core import ModelError
from automem.models.deadline import Deadline, bound_client
from automem.models.errors import Failure, classify, truncate
from automem.models.options import SpecOptions

T = TypeVar("T")

MALFORMED_RETRIES = 2
RESPONSE_HEADROOM = 1 << 20  # bytes of an answer besides its tokens (JSON, usage, metadata)
BYTES_PER_TOKEN = 256  # generous: a token is a few characters, escaped at most 6 bytes each

HTTP_OPTIONS = (
    "base_url",
    "api_key_env",
    "timeout",
    "max_retries",
    "max_connections",
    "backoff_base",
    "backoff_max",
    "max_wait",
    "max_response_bytes",
    "price",
)


class MalformedResponse(Exception):
    """A 2xx body that is not what the protocol promises (raised by response parsers)."""


class UpstreamFailure(Exception):
    """A 2xx body that carries an error object instead of a result (some proxies do this)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_wait: float = 120.0  # the longest retry-after we honour before giving up

    def backoff(self, retry: int) -> float:
        """Full-jitter wait before retry number ``retry`` (1-based)."""
        cap = min(self.backoff_max, self.backoff_base * 2 ** (retry - 1))
        return random.uniform(0.0, cap)


@dataclass(frozen=True)
class HttpSettings:
    """Connection settings shared by the HTTP backends (parsed from spec options)."""

    base_url: str
    api_key_env: str
    api_key: str | None = field(repr=False)
    timeout: float
    max_connections: int
    policy: RetryPolicy
    max_response_bytes: int | None = None  # None: derived from each call's max_tokens

    def response_limit(self, max_tokens: int) -> int:
        """The most bytes an answer to a call asking for ``max_tokens`` tokens may have."""
        if self.max_response_bytes is not None:
            return self.max_response_bytes
        return RESPONSE_HEADROOM + BYTES_PER_TOKEN * max_tokens

    @property
    def public_base_url(self) -> str:
        return public_url(self.base_url)

    @property
    def auth_hint(self) -> str:
        """What to say when the server refuses our credentials (never the key itself)."""
        if self.api_key:
            return f"the key in ${self.api_key_env} was refused"
        return f"no API key was sent: ${self.api_key_env} is not set"


def http_settings(
    options: SpecOptions, *, default_base_url: str, default_key_env: str, environ: Mapping[str, str]
) -> HttpSettings:
    base_url = options.text("base_url", default_base_url).rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        raise ValueError(
            f"model spec {options.spec.text!r}: base_url {public_url(base_url)!r} must be an "
            "http:// or https:// URL"
        )
    key_env = options.text("api_key_env", default_key_env)
    policy = RetryPolicy(
        max_retries=options.integer("max_retries", 5),
        backoff_base=options.number("backoff_base", 1.0),
        backoff_max=options.number("backoff_max", 60.0),
        max_wait=options.number("max_wait", 120.0),
    )
    return HttpSettings(
        base_url=base_url,
        api_key_env=key_env,
        api_key=environ.get(key_env) or None,
        timeout=options.number("timeout", 300.0, minimum=0.001),
        max_connections=options.integer("max_connections", 32, minimum=1),
        policy=policy,
        max_response_bytes=_optional_integer(options, "max_response_bytes"),
    )


def _optional_integer(options: SpecOptions, key: str) -> int | None:
    return None if options.optional(key) is None else options.integer(key, 0, minimum=1)


class CallStats:
    """Thread-safe counters of one model instance: calls, retries and errors, also by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, kind: str | None = None) -> None:
        with self._lock:
            self._counts[name] += 1
            if kind is not None:
                self._counts[f"{name}.{kind}"] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            counts = dict(self._counts)
        base = {"calls": 0, "retries": 0, "errors": 0}
        return {**base, **dict(sorted(counts.items()))}


class _Failed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class HttpTransport:
    """POSTs JSON to one server with retries; safe to share between threads."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        headers: Mapping[str, str],
        label: str,
        stats: CallStats,
        auth_hint: str = "",
    ) -> None:
        self.settings = settings
        self.label = label
        self.stats = stats
        self.auth_hint = auth_hint
        timeout = settings.timeout
        self.client = httpx.Client(
            headers=dict(headers),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0), pool=None),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
            ),
        )
        self._deadline = Deadline()
        bound_client(self.client, self._deadline)

    def post(
        self, path: str, body: dict[str, Any], parse: Callable[[Any], T], *, max_bytes: int
    ) -> tuple[T, int]:
        """The parsed answer and the number of attempts it took; raises :class:`ModelError`.

        ``max_bytes`` caps the size of the answer (see :meth:`HttpSettings.response_limit`).
        """
        url = self.settings.base_url + path
        policy = self.settings.policy
        attempts = malformed = 0
        while True:
            attempts += 1
            try:
                return self._attempt(url, body, parse, max_bytes), attempts
            except _Failed as failed:
                failure = failed.failure
            if failure.kind == "malformed_response":
                malformed += 1
            note = ""
            give_up = (
                not failure.retryable
                or attempts > policy.max_retries
                or malformed > MALFORMED_RETRIES
            )
            wait = failure.retry_after
            if not give_up and wait is not None and wait > policy.max_wait:
                give_up = True
                note = (
                    f"; the server asked to wait {wait:g}s, more than max_wait={policy.max_wait:g}s"
                )
            if give_up:
                self.stats.add("errors", failure.kind)
                raise self._error(failure, attempts, url, note)
            self.stats.add("retries", failure.kind)
            time.sleep(policy.backoff(attempts) if wait is None else wait)

    def close(self) -> None:
        self.client.close()

    def _attempt(
        self, url: str, body: dict[str, Any], parse: Callable[[Any], T], max_bytes: int
    ) -> T:
        with self._deadline.running(self.settings.timeout):
            answer = self._exchange(url, body, max_bytes)
        status = answer.status
        if not 200 <= status < 300:
            raise _Failed(classify(status, answer.text, answer.headers))
        try:
            data = json.loads(answer.content)
        except ValueError:
            why = f"HTTP {status} body is not JSON: {truncate(answer.text) or '(empty)'}"
            raise _Failed(Failure("malformed_response", True, why, status)) from None
        try:
            return parse(data)
        except UpstreamFailure as exc:
            raise _Failed(exc.failure) from None
        except MalformedResponse as exc:
            raise _Failed(Failure("malformed_response", True, str(exc), status)) from None
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            why = f"unexpected response shape ({type(exc).__name__}: {exc})"
            raise _Failed(Failure("malformed_response", True, why, status)) from None

    def _exchange(self, url: str, body: dict[str, Any], max_bytes: int) -> _Answer:
        """Send one request and read its whole answer (at most ``max_bytes`` of it)."""
        try:
            with self.client.stream("POST", url, json=body) as response:
                content = _read_capped(response, max_bytes)
                return _Answer(response.status_code, response.headers, content, response.encoding)
        except httpx.ConnectTimeout:
            raise _Failed(Failure("timeout", True, "could not connect in time")) from None
        except httpx.TimeoutException as exc:
            why = f"no complete answer within timeout={self.settings.timeout:g}s"
            raise _Failed(Failure("timeout", True, f"{why} ({type(exc).__name__})")) from None
        except httpx.ConnectError as exc:
            unresolved = _name_error(exc)
            if unresolved is not None:
                why = f"cannot resolve host {urlsplit(url).hostname!r}: {unresolved.strerror}"
                raise _Failed(Failure("dns", False, why)) from None
            raise _Failed(Failure("connection", True, f"{type(exc).__name__}: {exc}")) from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Failed(Failure("connection", True, f"{type(exc).__name__}: {exc}")) from None
        except httpx.TransportError as exc:
            raise _Failed(Failure("connection", False, f"{type(exc).__name__}: {exc}")) from None

    def _error(self, failure: Failure, attempts: int, url: str, note: str) -> ModelError:
        where = f"HTTP {failure.status}: " if failure.status is not None else ""
        hint = f"; {self.auth_hint}" if failure.kind == "auth" and self.auth_hint else ""
        plural = "s" if attempts != 1 else ""
        message = (
            f"{self.label} {failure.kind} after {attempts} attempt{plural}: "
            f"{where}{failure.message}{note}{hint} (POST {public_url(url)})"
        )
        return ModelError(message, kind=failure.kind, retryable=failure.retryable)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    content: bytes
    encoding: str | None

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")


def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """The (decoded) body, refused as soon as it is known to exceed ``limit`` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Failed(_too_large(limit, response.status_code, f"it declares {declared}"))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise _Failed(_too_large(limit, response.status_code, "it goes on"))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, status: int, how: str) -> Failure:
    why = (
        f"the answer is larger than {limit} bytes ({how}); raise max_response_bytes "
        "if that is expected (default: 1 MiB + 256 bytes per max_tokens)"
    )
    return Failure("response_too_large", False, why, status)


def _name_error(exc: BaseException) -> socket.gaierror | None:
    """The failed host-name lookup behind a connect error, if that is what it is."""
    cause: BaseException | None = exc
    for _ in range(8):  # httpx wraps httpcore's error, which wraps the socket's
        if cause is None or isinstance(cause, socket.gaierror):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def public_url(url: str) -> str:
    """A URL without credentials or query string, safe to record."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


__all__ = [
    "HTTP_OPTIONS",
    "CallStats",
    "HttpSettings",
    "HttpTransport",
    "MalformedResponse",
    "RetryPolicy",
    "UpstreamFailure",
    "http_settings",
    "public_url",
]
