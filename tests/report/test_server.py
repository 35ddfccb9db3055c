"""Serving the report on loopback only, rebuilt when a run changes."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from automem.report import NotLoopbackError, serve
from automem.report.server import check_loopback
from tests.report.conftest import copy_run


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_serves_the_report_on_loopback_and_follows_changes(
    crafter_run: Path, tmp_path: Path
) -> None:
    run = copy_run(crafter_run, tmp_path / "live")
    with serve([run], title="Live") as server:
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        status, page = get(server.url)
        assert status == 200 and "<title>Live</title>" in page and "report-data" in page
        assert get(server.url + "nope")[0] == 404
        # A newly finished episode shows up on the next request.
        episode = next((run / "episodes").iterdir())
        copy = run / "episodes" / "crafter__seed99"
        copy.mkdir()
        result = (episode / "result.json").read_text()
        assert "crafter__seed99" not in page
        (copy / "trace.jsonl").write_bytes((episode / "trace.jsonl").read_bytes())
        result = result.replace('"seed": 42', '"seed": 99').replace("seed42", "seed99")
        (copy / "result.json").write_text(result)
        status, page = get(server.url)
        assert status == 200 and "crafter__seed99" in page
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=2)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "8.8.8.8"])
def test_non_loopback_hosts_are_refused(crafter_run: Path, host: str) -> None:
    with pytest.raises(NotLoopbackError, match="not a loopback address"):
        serve([crafter_run], host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    check_loopback(host)


def raw_get(port: int, host: str | None = None) -> tuple[int, str]:
    """GET / from 127.0.0.1:port with a chosen Host header (as a rebinding page would send)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Host": host} if host else {})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def test_only_the_servers_own_host_names_are_answered(crafter_run: Path) -> None:
    with serve([crafter_run]) as server:
        port = server.port
        assert raw_get(port)[0] == 200  # http.client sends Host: 127.0.0.1:PORT
        assert raw_get(port, f"localhost:{port}")[0] == 200
        assert raw_get(port, f"LOCALHOST:{port}")[0] == 200
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1", "127.0.0.1"):
            status, body = raw_get(port, host)
            assert status == 421, host
            assert f"127.0.0.1:{port}" in body and "report-data" not in body


def test_an_idle_connection_is_closed_after_the_idle_timeout(crafter_run: Path) -> None:
    with serve([crafter_run], idle_timeout=0.5) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
            started = time.monotonic()
            assert idle.recv(1) == b""  # the server hung up; it sent nothing
            assert time.monotonic() - started < 5
        assert raw_get(server.port)[0] == 200


def test_idle_connections_do_not_pile_up_threads(crafter_run: Path) -> None:
    with serve([crafter_run], idle_timeout=0.3, threads=4) as server:
        before = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(50)]
        try:
            peak = before
            for _ in range(20):  # about a second for the server to take them all in
                peak = max(peak, threading.active_count())
                time.sleep(0.05)
            assert peak - before <= 4
            # Served once the idle connections ahead of it have timed out (50 / 4 * 0.3 s).
            status, page = raw_get(server.port)
            assert status == 200 and "report-data" in page
        finally:
            for sock in idle:
                sock.close()


def test_connections_beyond_the_cap_are_refused_at_once(crafter_run: Path) -> None:
    with serve([crafter_run], idle_timeout=5, threads=2, max_open=3) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
        try:
            time.sleep(0.5)  # the server accepts them: 2 being served, 1 waiting
            started = time.monotonic()
            status, body = raw_get(server.port)
            assert status == 503 and "too many open connections" in body
            assert time.monotonic() - started < 2  # refused, not queued behind the idle ones
        finally:
            for sock in idle:
                sock.close()


def test_bad_server_limits_are_refused(crafter_run: Path) -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        serve([crafter_run], idle_timeout=0)
