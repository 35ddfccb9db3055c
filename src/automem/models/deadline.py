"""One deadline for a whole HTTP attempt, enforced on every socket operation.

httpx's timeouts bound each read, so a server that sends one byte every so often holds a
call for ever. Here every connect, TLS handshake, write and read of the calling thread's
attempt waits at most until the attempt's deadline, which starts at the attempt's first
socket operation (time waiting for a free pooled connection is not counted). When it has
passed, the operation raises httpcore's timeout, which httpx reports as its own
``ConnectTimeout``/``ReadTimeout``/``WriteTimeout``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_WRITE_CHUNK = 64 * 1024  # writes are split so that one slow reader cannot outlast the deadline


class Deadline(threading.local):
    """The end of the current thread's attempt (each thread has its own)."""

    def __init__(self) -> None:
        self.budget: float | None = None
        self.ends: float | None = None

    @contextmanager
    def running(self, budget: float) -> Iterator[None]:
        """Bound the socket operations of this thread by ``budget`` seconds in all."""
        self.budget, self.ends = budget, None
        try:
            yield
        finally:
            self.budget = self.ends = None

    def bound(self, timeout: float | None, error: type[Exception]) -> float | None:
        """``timeout`` cut to the time left; raises ``error`` when none is left."""
        if self.budget is None:
            return timeout
        now = time.monotonic()
        if self.ends is None:
            self.ends = now + self.budget
        left = self.ends - now
        if left <= 0:
            raise error(f"the deadline of {self.budget:g}s has passed")
        return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), _WRITE_CHUNK):
            left = self._deadline.bound(timeout, httpcore.WriteTimeout)
            self._inner.write(buffer[start : start + _WRITE_CHUNK], left)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, left), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, left, local_address, socket_options)
        return _Stream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, left, socket_options), self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bound_client(client: httpx.Client, deadline: Deadline) -> None:
    """Route every socket ``client`` opens (direct, and through proxies from the environment)
    through ``deadline``.

    httpx offers no public hook for this: each of its transports keeps an httpcore pool whose
    network backend is wrapped here. If a new httpx moves these, this fails loudly rather
    than leaving calls without a deadline.
    """
    routes = [client._transport, *client._mounts.values()]
    for route in routes:
        if route is None:  # a NO_PROXY host: served by client._transport
            continue
        pool = getattr(route, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.NetworkBackend):
            raise RuntimeError(
                f"cannot enforce the call deadline with httpx {httpx.__version__}: its "
                "transport has no httpcore pool; update automem.models.deadline"
            )
        if not isinstance(backend, _Backend):
            pool._network_backend = _Backend(backend, deadline)  # type: ignore[union-attr]


__all__ = ["Deadline", "bound_client"]
