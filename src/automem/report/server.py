"""Serving the report on loopback (``automem view RUN``), rebuilt when the runs change.

Only loopback addresses are accepted: a report shows prompts, model replies and memory, so it
is never offered to the network. Requests must name the server itself in their ``Host``
header (127.0.0.1:PORT, localhost:PORT, [::1]:PORT or the bound address), so a web page on
another origin cannot read the report by pointing its own name at 127.0.0.1 (DNS
rebinding). A fixed pool of threads serves the connections, idle ones are closed after a
few seconds, and connections beyond a cap are refused.

The page is rebuilt on a request when an episode finished (or any run's run.json or
summary.json changed) since the last build, so reloading the page follows a run in progress.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from automem.report.build import ReportInfo, render_report
from automem.runs.reader import RunReader

IDLE_TIMEOUT = 5.0  # seconds a connection may stay silent before the server closes it
HANDLER_THREADS = 8  # threads serving connections (a browser opens up to 6 per host)
MAX_OPEN = 64  # connections served or waiting at once; more are refused with 503
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"\r\ntoo many open connections to the report server; try again\n"
)


class NotLoopbackError(ValueError):
    """The report server was asked to listen on an address other machines could reach."""


def check_loopback(host: str) -> None:
    """Raise :class:`NotLoopbackError` unless every address ``host`` names is loopback."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except socket.gaierror as exc:
            raise NotLoopbackError(f"cannot resolve host {host!r}: {exc.strerror}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(a.is_loopback for a in addresses):
        raise NotLoopbackError(
            f"refusing to serve the report on {host!r}: it is not a loopback address. "
            "The report shows prompts, replies and memory; serve it on 127.0.0.1 (the "
            "default) and use an SSH tunnel to view it from another machine."
        )


def fingerprint(run_dirs: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    """Cheap change detector: finished episodes, run.json and summary.json of every run."""
    return tuple(item for root in run_dirs for item in RunReader(root).stamp())


@dataclass
class ReportServer:
    """A running report server; ``url`` is where the report is. Stop it with :meth:`close`."""

    url: str
    host: str
    port: int
    run_dirs: tuple[Path, ...]
    title: str | None = None
    hosts: frozenset[str] = frozenset()  # the Host header values answered
    _httpd: HTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _page: bytes = field(default=b"", repr=False)
    _stamp: tuple[tuple[str, int, int], ...] | None = field(default=None, repr=False)
    info: ReportInfo | None = None

    def page(self) -> bytes:
        with self._lock:
            stamp = fingerprint(self.run_dirs)
            if stamp != self._stamp or not self._page:
                text, self.info = render_report(self.run_dirs, title=self.title)
                self._page, self._stamp = text.encode("utf-8"), stamp
            return self._page

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C stops it)."""
        if self._thread is None:
            return
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            self.close()

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ReportServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _BoundedServer(HTTPServer):
    """An HTTP server with a fixed pool of handler threads and a cap on open connections."""

    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], handler: Any, *, family: int, threads: int, max_open: int
    ) -> None:
        self.address_family = family
        super().__init__(address, handler)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="automem-report")
        self._open = threading.BoundedSemaphore(max_open)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._open.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        self._pool.submit(self._serve_one, request, client_address)

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._open.release()

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _refuse_busy(request: socket.socket) -> None:
    try:
        request.settimeout(1.0)
        request.sendall(_BUSY)
    except OSError:
        pass  # the client is gone already; nothing to tell it


def _handler(server: ReportServer, idle_timeout: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = idle_timeout  # each socket operation, so a silent client is dropped

        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").strip().lower()
            if host not in server.hosts:
                self.send_error(421, f"this server answers only to {server.url}")
                return
            path = self.path.split("?", 1)[0]
            if path not in ("/", "/index.html", "/report.html"):
                self.send_error(404, "only the report is served here: open /")
                return
            try:
                body = server.page()
            except Exception as exc:  # shown in the browser rather than a dropped connection
                self.send_error(500, f"could not build the report: {exc}")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet by default
            pass

    return Handler


def own_hosts(host: str, port: int) -> frozenset[str]:
    """The Host header values that name this server (lower case): loopback names and port."""
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host.lower()}
    values = {f"{name}:{port}" for name in names}
    return frozenset(values | names if port == 80 else values)


def serve(
    run_dirs: Sequence[Path],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    title: str | None = None,
    idle_timeout: float = IDLE_TIMEOUT,
    threads: int = HANDLER_THREADS,
    max_open: int = MAX_OPEN,
) -> ReportServer:
    """Serve the report on ``run_dirs`` at http://host:port/ in a background thread.

    ``port=0`` picks a free port. The report is built once before this returns (so errors in
    the run directories show at once) and rebuilt when the runs change. Non-loopback hosts
    are refused with :class:`NotLoopbackError`. ``threads`` serve at most ``max_open``
    connections at once; one silent for ``idle_timeout`` seconds is closed.
    """
    check_loopback(host)
    if not idle_timeout > 0 or threads < 1 or max_open < threads:
        raise ValueError(
            f"report server limits: idle_timeout={idle_timeout} must be > 0, threads={threads} "
            f">= 1 and max_open={max_open} >= threads"
        )
    roots = tuple(Path(r) for r in run_dirs)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    report = ReportServer(url="", host=host, port=0, run_dirs=roots, title=title)
    report.page()  # build now: a bad run directory fails here, not in the browser
    httpd = _BoundedServer(
        (host, port),
        _handler(report, idle_timeout),
        family=family,
        threads=threads,
        max_open=max_open,
    )
    bound_port = httpd.server_address[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    report.url, report.port = f"http://{shown}:{bound_port}/", bound_port
    report.hosts = own_hosts(host, bound_port)
    report._httpd = httpd
    report._thread = threading.Thread(
        target=httpd.serve_forever, name="automem-report", daemon=True
    )
    report._thread.start()
    return report
