"""The LLM reviewer through the real OpenAI-compatible and Anthropic backends, against loopback
servers that answer with a scripted sequence of tool calls ending in submit; and the embedded
model as reviewer (slow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from automem.core import ModelError, Sampling
from automem.models import load_model
from automem.optimize import check_proposal
from automem.optimize.review import ReviewLimits
from automem.optimize.reviewer import LLMReviewer
from automem.scaffold import validate_text
from tests.models.httpfake import (
    FakeServer,
    Reply,
    anthropic_tool_body,
    anthropic_tool_use,
    dead_url,
    openai_call,
    openai_tool_body,
)
from tests.optimize.reviewer_setup import (
    EPISODES,
    child_patch,
    child_yaml,
    context,
    events,
    minihack_run,
    parent,
    wording_only,
)

__all__ = ["minihack_run"]  # the session fixture: a real MiniHack run

KEY_ENV = "AUTOMEM_TEST_REVIEWER_KEY"

# The scripted session: (tool name, arguments) per reply; the second call of the first reply
# is malformed JSON, the first submit changes wording only (refused), the second passes.
SESSION: list[list[tuple[str, Any]]] = [
    [("list_episodes", {"run": "parent-0"}), ("read_steps", '{"run": "parent-0", "start": ')],
    [
        ("read_steps", {"run": "parent-0", "episode": EPISODES[1], "start": 5, "stop": 7}),
        ("search", {"run": "parent-0", "pattern": "stairs", "limit": 5}),
    ],
    [("submit", {"scaffold": wording_only(), "analysis": "a", "description": "d"})],
    [("submit", {"scaffold": child_patch(), "analysis": "Sparse log.", "description": "auto_log"})],
]


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-reviewer")


def openai_reply(index: int) -> Reply:
    calls = [
        openai_call(f"call_{index}_{j}", name, args if isinstance(args, str) else json.dumps(args))
        for j, (name, args) in enumerate(SESSION[index])
    ]
    return Reply(body=openai_tool_body(*calls, prompt_tokens=1000, completion_tokens=50))


def anthropic_reply(index: int) -> Reply:
    blocks = [
        anthropic_tool_use(f"toolu_{index}_{j}", name, args)
        for j, (name, args) in enumerate(SESSION[index])
        if not isinstance(args, str)  # Anthropic sends decoded JSON: no malformed text
    ]
    body = anthropic_tool_body(*blocks, text="Reading.", input_tokens=1000, output_tokens=50)
    return Reply(body=body)


def check_outcome_and_transcript(outcome: Any, attempt: Path) -> None:
    assert outcome.failure is None and outcome.turns == 4
    assert outcome.scaffold_text == child_yaml()
    assert check_proposal(outcome.scaffold_text, parent()).ok
    assert validate_text(outcome.scaffold_text).helpers[0].name == "auto_log"
    assert (outcome.usage.prompt_tokens, outcome.usage.completion_tokens) == (4000, 200)
    assert outcome.usage.cost_usd == pytest.approx(4 * (1000 * 2 + 50 * 8) / 1e6)
    log = events(attempt)
    assert [e["event"] for e in log].count("reply") == 4
    assert [e["ok"] for e in log if e["event"] == "submission"] == [False, True]
    assert log[-1]["event"] == "end" and log[-1]["outcome"]["scaffold_text"] == child_yaml()


def test_a_session_over_the_openai_backend(minihack_run: Path, tmp_path: Path) -> None:
    with FakeServer([openai_reply(i) for i in range(len(SESSION))]) as server:
        spec = f"openai:reviewer-test,base_url={server.url}/v1,api_key_env={KEY_ENV},price=2/8"
        model = load_model(spec)
        outcome = LLMReviewer(model, sampling=Sampling(max_tokens=2000)).review(
            context((minihack_run,)), tmp_path / "a"
        )
    check_outcome_and_transcript(outcome, tmp_path / "a")
    assert len(server.requests) == 4
    first = server.requests[0].body
    assert [t["function"]["name"] for t in first["tools"]][-1] == "submit"
    assert first["messages"][0]["role"] == "system" and first["max_tokens"] == 2000
    second = server.requests[1].body["messages"]
    tool_messages = [m for m in second if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_0_0", "call_0_1"]
    assert tool_messages[0]["content"].startswith("run parent-0: minihack/MiniHack-MazeWalk")
    assert tool_messages[1]["content"].startswith("read_steps: the arguments must be one JSON")
    fourth = server.requests[3].body["messages"]
    assert fourth[-1]["content"].startswith("submit refused (2 submissions left)")
    assert (
        f"episode {EPISODES[1]}, steps 5..6" in server.requests[2].body["messages"][-2]["content"]
    )


def test_a_session_over_the_anthropic_backend(minihack_run: Path, tmp_path: Path) -> None:
    with FakeServer([anthropic_reply(i) for i in range(len(SESSION))]) as server:
        spec = f"anthropic:claude-test,base_url={server.url},api_key_env={KEY_ENV},price=2/8"
        model = load_model(spec)
        outcome = LLMReviewer(model).review(context((minihack_run,)), tmp_path / "a")
    check_outcome_and_transcript(outcome, tmp_path / "a")
    first = server.requests[0].body
    assert "Reach the staircase down" in first["system"]
    assert first["tools"][0]["name"] == "list_episodes"
    results = server.requests[1].body["messages"][-1]["content"]
    assert [b["tool_use_id"] for b in results] == ["toolu_0_0"]
    assert results[0]["content"].startswith("run parent-0: minihack/")
    refused = server.requests[3].body["messages"][-1]["content"][0]
    assert refused["is_error"] is True and "structure: no structural change" in refused["content"]
    assert events(tmp_path / "a")[2]["text"] == "Reading."


def test_a_dead_server_gives_a_precise_error_and_keeps_the_transcript(
    minihack_run: Path, tmp_path: Path
) -> None:
    url = dead_url()
    spec = f"openai:reviewer-test,base_url={url}/v1,api_key_env={KEY_ENV},backoff_base=0.001"
    with pytest.raises(ModelError, match=r"reviewer llm:openai:.*model call 1 failed") as err:
        LLMReviewer(load_model(spec)).review(context((minihack_run,)), tmp_path / "a")
    assert err.value.kind == "connection"
    assert "transcript.jsonl" in str(err.value)
    log = events(tmp_path / "a")
    assert [e["event"] for e in log] == ["start", "request", "error"]
    assert log[-1]["kind"] == "connection"


FAILURES = ("no submit", "invalid: ", "turn cap", "token cap", "context: ")


@pytest.mark.slow
def test_the_embedded_model_as_reviewer_ends_with_an_outcome(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = load_model("local:smollm2-135m,n_ctx=8192,n_threads=2", seed=0)
    # Tiny caps: two calls of at most 24 tokens (a 3,700-token prompt each, on a busy CPU).
    limits = ReviewLimits(max_turns=2, max_submissions=1)
    reviewer = LLMReviewer(model, sampling=Sampling(temperature=0.0, max_tokens=24))
    outcome = reviewer.review(context((minihack_run,), limits=limits), tmp_path / "a")
    log = events(tmp_path / "a")
    assert log[0]["event"] == "start" and log[-1]["event"] == "end"
    assert 1 <= outcome.turns <= 2 and outcome.usage.prompt_tokens > 0
    if outcome.scaffold_text is None:  # what a 135M model is expected to do
        assert outcome.failure is not None and "\n" not in outcome.failure
        assert outcome.failure.startswith(FAILURES), outcome.failure
    else:
        assert check_proposal(outcome.scaffold_text, parent()).ok
