"""`automem model check` against a loopback OpenAI-compatible server."""

from __future__ import annotations

from typer.testing import CliRunner

from automem.cli import app
from tests.models.httpfake import FakeServer, Reply, openai_body, openai_error

runner = CliRunner()


def test_model_check_prints_reply_latency_and_tokens() -> None:
    with FakeServer([Reply(body=openai_body("ready", prompt_tokens=20, completion_tokens=2))]) as s:
        result = runner.invoke(app, ["model", "check", f"openai:gpt-4o-mini,base_url={s.url}/v1"])
    assert result.exit_code == 0, result.output
    assert "reply: 'ready'" in result.output
    assert "20 prompt, 2 completion" in result.output
    assert f"base_url: {s.url}/v1" in result.output


def test_model_check_of_a_failing_server_exits_non_zero() -> None:
    with FakeServer([openai_error(401, "Invalid API key")]) as s:
        result = runner.invoke(app, ["model", "check", f"openai:m,base_url={s.url}/v1"])
    assert result.exit_code == 1
    assert "auth" in result.output and "Invalid API key" in result.output


def test_model_check_of_two_models_checks_each_role() -> None:
    replies = [Reply(body=openai_body("from the adapter")), Reply(body=openai_body("from base"))]
    with FakeServer(replies) as s:
        url = f"base_url={s.url}/v1"
        spec = f"memory=openai:base,{url},lora=specialist;action=openai:base,{url}"
        result = runner.invoke(app, ["model", "check", spec])
    assert result.exit_code == 0, result.output
    assert [r.body["model"] for r in s.requests] == ["specialist", "base"]
    assert result.output.index("memory model: openai:base") < result.output.index(
        "reply: 'from the adapter'"
    )
    assert "action model: openai:base" in result.output and "reply: 'from base'" in result.output
