"""One model instance shared by many threads: requests overlap, up to max_connections."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from automem.core import CompletionRequest, Message
from automem.models import load_model
from tests.models.httpfake import FakeServer, Reply, openai_body

LATENCY = 0.2


def call_in_threads(url: str, threads: int, max_connections: int) -> tuple[list[str], dict]:
    m = load_model(f"openai:m,base_url={url}/v1,max_connections={max_connections}")
    requests = [
        CompletionRequest(
            messages=(Message(role="user", content=f"thread {i}"),),
            phase="plan",
            allowed_ops=(),
            actions=(),
        )
        for i in range(threads)
    ]
    with ThreadPoolExecutor(threads) as pool:
        texts = [c.text for c in pool.map(m.complete, requests)]
    stats = m.stats  # type: ignore[attr-defined]
    m.close()
    return texts, stats


def echo(received: object) -> Reply:
    content = received.body["messages"][0]["content"]  # type: ignore[attr-defined]
    return Reply(body=openai_body(f"echo {content}"), delay=LATENCY)


def test_sixteen_threads_share_one_model_and_overlap() -> None:
    with FakeServer(respond=echo) as server:
        texts, stats = call_in_threads(server.url, 16, max_connections=16)
    assert texts == [f"echo thread {i}" for i in range(16)]  # each thread got its own answer
    assert server.max_active >= 8  # the server saw the requests in flight together
    assert stats == {"calls": 16, "retries": 0, "errors": 0}


def test_max_connections_caps_what_the_server_sees_at_once() -> None:
    with FakeServer(respond=echo) as server:
        texts, _ = call_in_threads(server.url, 12, max_connections=3)
    assert len(texts) == 12 and len(server.requests) == 12
    assert 2 <= server.max_active <= 3
