"""Limits of one hosted call, against real loopback servers: a whole-call deadline, a cap on
the answer's size, no retry of an unresolvable host, and no call at all without a key."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.core import CompletionRequest, Message, ModelError, Sampling
from automem.models import load_model
from automem.models.check import check_model
from tests.models.httpfake import FakeServer, Reply, anthropic_body, openai_body

KEY_ENV = "AUTOMEM_TEST_LIMITS_KEY"


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-limits")


def request(max_tokens: int = 512) -> CompletionRequest:
    return CompletionRequest(
        messages=(Message(role="user", content="Say ok."),),
        phase="plan",
        allowed_ops=("ACTION",),
        actions=("Noop",),
        sampling=Sampling(max_tokens=max_tokens),
    )


def spec(url: str, extra: str = "") -> str:
    base = f"openai:m,base_url={url}/v1,api_key_env={KEY_ENV},backoff_base=0.001"
    return base + (f",{extra}" if extra else "")


# A body that takes 0.05 s * ~450 bytes > 20 s to drip: far beyond timeout=1 in all.
SLOW_BODY = openai_body("x" * 200)


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_dripping_server_is_cut_off_at_the_call_deadline(headers_too: bool) -> None:
    drip = Reply(body=SLOW_BODY, drip=0.05, drip_headers=headers_too)
    with FakeServer(default=drip) as server:
        model = load_model(spec(server.url, "timeout=1,max_retries=1"))
        started = time.monotonic()
        with pytest.raises(ModelError) as raised:
            model.complete(request())
        elapsed = time.monotonic() - started
        model.close()
    error = raised.value
    assert error.kind == "timeout" and error.retryable
    assert "timeout=1s" in str(error) and "2 attempts" in str(error)
    assert len(server.requests) == 2  # a timeout is retried, as before
    assert elapsed < 5  # two attempts of 1 s each, not two drips of 20 s


def test_a_proxy_from_the_environment_is_used_and_bounded_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    slow = Reply(body=SLOW_BODY, drip=0.05)
    with FakeServer([Reply(body=openai_body("via proxy"))], default=slow) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        model = load_model(spec("http://models.example", "timeout=1,max_retries=0"))
        assert model.complete(request()).text == "via proxy"
        with pytest.raises(ModelError, match="timeout"):
            model.complete(request())
    assert proxy.requests[0].path == "http://models.example/v1/chat/completions"


def test_a_server_answering_within_the_deadline_still_succeeds() -> None:
    quick = Reply(body=openai_body("done"), drip=0.0005)  # ~0.15 s in all
    with FakeServer([quick]) as server:
        model = load_model(spec(server.url, "timeout=5"))
        assert model.complete(request()).text == "done"


def test_a_huge_answer_is_refused_while_reading_and_not_retried() -> None:
    huge = Reply(body=openai_body("x" * 20_000_000))  # 20 MB for max_tokens=512
    with FakeServer(default=huge) as server:
        model = load_model(spec(server.url))
        with pytest.raises(ModelError) as raised:
            model.complete(request(max_tokens=512))
    error = raised.value
    assert error.kind == "response_too_large" and not error.retryable
    assert "1 attempt" in str(error) and "max_response_bytes" in str(error)
    assert len(server.requests) == 1
    assert model.stats["errors.response_too_large"] == 1


def test_an_answer_without_length_is_cut_at_the_cap_too() -> None:
    endless = Reply(body=b"{" + b" " * 5_000_000, length=False)
    with FakeServer([endless]) as server:
        model = load_model(spec(server.url, "max_response_bytes=100000"))
        with pytest.raises(ModelError) as raised:
            model.complete(request())
    assert raised.value.kind == "response_too_large"
    assert "100000 bytes" in str(raised.value)


def test_max_response_bytes_is_the_cap_when_given() -> None:
    body = openai_body("y" * 2000)
    with FakeServer(default=Reply(body=body)) as server:
        assert load_model(spec(server.url, "max_response_bytes=5000")).complete(request()).text
        with pytest.raises(ModelError) as raised:
            load_model(spec(server.url, "max_response_bytes=1000")).complete(request())
    assert raised.value.kind == "response_too_large"


def test_the_default_cap_grows_with_max_tokens() -> None:
    big = Reply(body=openai_body("z" * 3_000_000))  # 3 MB: fine for 16k tokens, not for 512
    with FakeServer(default=big) as server:
        model = load_model(spec(server.url))
        assert len(model.complete(request(max_tokens=16_000)).text) == 3_000_000
        with pytest.raises(ModelError, match="response_too_large"):
            model.complete(request(max_tokens=512))


def test_an_unresolvable_host_fails_after_one_attempt() -> None:
    result = check_model(spec("http://nonexistent.invalid"))
    assert result.error_kind == "dns"
    error = result.error or ""
    assert "cannot resolve host 'nonexistent.invalid'" in error and "1 attempt" in error
    assert "\n" not in error
    assert result.stats["retries"] == 0 and result.stats["errors.dns"] == 1


@pytest.mark.parametrize(
    ("spec_text", "variable"),
    [
        ("openai:gpt-4o", "OPENAI_API_KEY"),
        ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
        ("openai:m,base_url=https://models.example/v1,api_key_env=MY_KEY", "MY_KEY"),
    ],
)
def test_a_missing_key_is_a_clear_error_before_any_call(
    monkeypatch: pytest.MonkeyPatch, spec_text: str, variable: str
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError) as raised:
        load_model(spec_text)
    message = str(raised.value)
    assert f"${variable} is not set" in message and "api_key_env" in message
    assert "\n" not in message


def test_model_check_without_a_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = CliRunner().invoke(app, ["model", "check", "openai:gpt-4o"])
    assert result.exit_code != 0
    assert "OPENAI_API_KEY" in result.output and "api_key_env" in result.output


def test_a_loopback_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    with FakeServer([Reply(body=anthropic_body("local"))]) as server:
        model = load_model(f"anthropic:m,base_url=http://localhost:{server.port}")
        assert model.complete(request()).text == "local"
    assert "x-api-key" not in server.requests[0].headers
