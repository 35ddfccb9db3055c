"""A real HTTP server on 127.0.0.1 for backend tests, speaking OpenAI or Anthropic JSON.

The body helpers write answers as each vendor's API does, tool calls included: OpenAI's
``message.tool_calls`` with JSON-text arguments, Anthropic's ``tool_use`` content blocks.

It runs in-process (a ThreadingHTTPServer in a thread), records every request with its
arrival time, tracks how many requests it serves at once, and answers from a script of
:class:`Reply` items (status, body, headers, delay, or a dropped connection) or a function.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_KNOWN = {status.value for status in HTTPStatus}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection without answering
    drip: float = 0.0  # seconds between single bytes of the body (0: send it at once)
    drip_headers: bool = False  # drip the status line and headers too
    length: bool = True  # send content-length (else the body ends when the connection closes)


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any
    at: float  # time.monotonic() on arrival


def openai_body(
    text: str = "ok",
    *,
    prompt_tokens: int = 11,
    completion_tokens: int = 3,
    cached_tokens: int | None = None,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage,
    }


def anthropic_body(
    text: str = "ok",
    *,
    input_tokens: int = 11,
    output_tokens: int = 3,
    cache_read: int | None = None,
    cache_write: int | None = None,
    stop_reason: str = "end_turn",
) -> dict[str, Any]:
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cache_read is not None:
        usage["cache_read_input_tokens"] = cache_read
    if cache_write is not None:
        usage["cache_creation_input_tokens"] = cache_write
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def openai_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """One entry of ``message.tool_calls``: ``arguments`` is JSON text, as OpenAI sends it."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def openai_tool_body(
    *calls: dict[str, Any],
    text: str | None = None,
    finish_reason: str = "tool_calls",
    prompt_tokens: int = 11,
    completion_tokens: int = 3,
) -> dict[str, Any]:
    """A chat completion whose message carries ``calls`` (and ``content: null`` by default)."""
    body = openai_body(
        "",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=finish_reason,
    )
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": text,
        "tool_calls": list(calls),
    }
    return body


def anthropic_tool_use(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """A ``tool_use`` content block (``input`` is a decoded JSON value, as Anthropic sends it)."""
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def anthropic_tool_body(
    *blocks: dict[str, Any],
    text: str | None = None,
    stop_reason: str = "tool_use",
    input_tokens: int = 11,
    output_tokens: int = 3,
    cache_read: int | None = None,
) -> dict[str, Any]:
    """A Messages answer with an optional text block first, then ``blocks``."""
    body = anthropic_body(
        "",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read=cache_read,
        stop_reason=stop_reason,
    )
    first = [{"type": "text", "text": text}] if text is not None else []
    body["content"] = [*first, *blocks]
    return body


def openai_error(status: int, message: str, *, code: str | None = None, kind: str = "") -> Reply:
    error = {"message": message, "type": kind or "invalid_request_error", "param": None}
    error["code"] = code
    return Reply(status=status, body={"error": error})


def anthropic_error(status: int, kind: str, message: str) -> Reply:
    return Reply(status=status, body={"type": "error", "error": {"type": kind, "message": message}})


class FakeServer:
    """Serve scripted replies; after the script (or without one) ``respond`` or ``default``."""

    def __init__(
        self,
        replies: list[Reply] | None = None,
        *,
        respond: Callable[[Received], Reply] | None = None,
        default: Reply | None = None,
    ) -> None:
        self.script = list(replies or [])
        self.respond = respond
        self.default = default or Reply(body=openai_body())
        self.requests: list[Received] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _arrive(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            if self.script:
                return self.script.pop(0)
        return self.respond(received) if self.respond else self.default

    def _leave(self) -> None:
        with self._lock:
            self.active -= 1

    def gaps(self) -> list[float]:
        """Seconds between consecutive request arrivals."""
        times = [r.at for r in self.requests]
        return [b - a for a, b in itertools.pairwise(times)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connect at once in the concurrency tests


def _handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection pooling is real
        timeout = 10

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake._arrive(Received(self.path, headers, body, time.monotonic()))
            try:
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._send(reply)
            except OSError:
                self.close_connection = True  # the client gave up (e.g. its timeout)
            finally:
                fake._leave()

        def _send(self, reply: Reply) -> None:
            if isinstance(reply.body, dict | list):
                data = json.dumps(reply.body).encode()
                kind = "application/json"
            elif isinstance(reply.body, str):
                data, kind = reply.body.encode(), "text/plain"
            else:
                data, kind = reply.body or b"", "application/octet-stream"
            phrase = HTTPStatus(reply.status).phrase if reply.status in _KNOWN else ""
            head = [f"HTTP/1.1 {reply.status} {phrase}", f"content-type: {kind}"]
            if reply.length:
                head.append(f"content-length: {len(data)}")
            else:
                self.close_connection = True
                head.append("connection: close")
            head.extend(f"{name}: {value}" for name, value in reply.headers.items())
            raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
            self._write(raw_head, reply.drip if reply.drip_headers else 0.0)
            self._write(data, reply.drip)

        def _write(self, data: bytes, drip: float) -> None:
            """Send ``data``, one byte every ``drip`` seconds if asked: a bounded loop that
            ends with the data, or earlier with an OSError when the client hangs up."""
            if not drip:
                self.wfile.write(data)
                self.wfile.flush()
                return
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(drip)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def dead_url() -> str:
    """A loopback URL where nothing listens (the port was bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


__all__ = [
    "FakeServer",
    "Received",
    "Reply",
    "anthropic_body",
    "anthropic_error",
    "anthropic_tool_body",
    "anthropic_tool_use",
    "dead_url",
    "openai_body",
    "openai_call",
    "openai_error",
    "openai_tool_body",
]
