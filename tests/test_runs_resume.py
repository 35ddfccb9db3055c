"""Result integrity: an episode that did not finish is not a result, and a rerun retries it.

Real Crafter; the model is a loopback OpenAI-compatible server (tests/models/httpfake.py)
that can go down and come back, or the scripted model under a token budget.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.core import StepResult
from automem.envs import registry
from automem.envs.registry import EnvSpec
from automem.runs import Budget, RunConfig, run
from automem.traces import Trace
from tests.conftest import LineEnv
from tests.models.httpfake import FakeServer, Received, Reply, openai_body, openai_error

runner = CliRunner()
MOVES = ("Move West", "Move East", "Move North", "Move South", "Do")


class OutageServer:
    """Plays Crafter deterministically (the reply depends on the request only); while
    ``down``, or from request ``fail_from`` on, it answers 500."""

    def __init__(self, fail_from: int | None = None) -> None:
        self.fail_from = fail_from
        self.served = 0
        self.down = False

    def __call__(self, received: Received) -> Reply:
        self.served += 1
        if self.down or (self.fail_from is not None and self.served >= self.fail_from):
            return openai_error(500, "the server is down", kind="server_error")
        messages = received.body["messages"]
        if "This is the LOG phase" in messages[0]["content"]:
            return Reply(body=openai_body("<|DONE|>", prompt_tokens=300, completion_tokens=4))
        pick = hashlib.sha256(messages[-1]["content"].encode()).digest()[0] % len(MOVES)
        text = f"<|ACTION|>{MOVES[pick]}<|END|>"
        return Reply(body=openai_body(text, prompt_tokens=400, completion_tokens=9))


def comparable(data: Any) -> Any:
    """summary.json without wall-clock measurements (durations and latencies)."""
    if isinstance(data, dict):
        return {
            k: comparable(v)
            for k, v in data.items()
            if "duration" not in k and "latency" not in k and not k.endswith("_s")
        }
    if isinstance(data, list):
        return [comparable(v) for v in data]
    return data


def summary_of(out: Path) -> Any:
    return comparable(json.loads((out / "summary.json").read_text()))


def cli_run(spec: str, out: Path, *extra: str) -> Any:
    args = ["run", "--env", "crafter", "--model", spec, "--seeds", "42-43", "--max-steps", "5"]
    return runner.invoke(app, [*args, "--out", str(out), *extra])


def test_a_model_outage_stops_episodes_that_a_rerun_then_finishes(tmp_path: Path) -> None:
    # One request per PLAN and per LOG: a 5-step episode makes 9 requests, so the outage
    # starting at request 12 lets seed 42 finish and stops seed 43 at its third request.
    server = OutageServer(fail_from=12)
    with FakeServer(respond=server) as fake:
        spec = f"openai:gpt-4o,base_url={fake.url}/v1,max_retries=0,backoff_base=0.001"
        first = cli_run(spec, tmp_path / "interrupted")
        assert first.exit_code == 1, first.output
        assert "crafter__seed43" in first.output and "model_error: server" in first.output
        assert "rerun the same command to retry them" in first.output
        assert "1 of 2 episode(s) did not finish" in first.output
        summary = json.loads((tmp_path / "interrupted" / "summary.json").read_text())
        assert summary["episodes"] == 1 and [e["seed"] for e in summary["per_episode"]] == [42]
        assert summary["overall"]["progression"] == summary["tasks"]["crafter"]["progression"]
        [stopped] = summary["not_finished"]["crafter"]
        assert stopped["episode_id"] == "crafter__seed43" and stopped["status"] == "stopped"
        assert stopped["reason"].startswith("model_error: server") and stopped["steps"] == 1
        kept = tmp_path / "interrupted" / "episodes" / ".stopped" / "crafter__seed43"
        assert Trace.read(kept / "trace.jsonl").end.status == "stopped"  # type: ignore[union-attr]

        server.fail_from = None  # the server is back: the same command retries seed 43
        again = cli_run(spec, tmp_path / "interrupted")
        assert again.exit_code == 0, again.output
        assert "Ran 1 episode(s) (1 finished), 1 already finished" in again.output
        assert not kept.exists()  # the retry replaced the stopped attempt
        server.served = 0
        whole = cli_run(spec, tmp_path / "uninterrupted")
        assert whole.exit_code == 0, whole.output
    resumed = summary_of(tmp_path / "interrupted")
    assert resumed["episodes"] == 2 and resumed["not_finished"] == {}
    assert resumed == summary_of(tmp_path / "uninterrupted")
    nothing = cli_run(spec, tmp_path / "interrupted")
    assert nothing.exit_code == 0 and "Nothing to do" in nothing.output


def test_a_server_that_never_answers_leaves_no_result_and_says_why(tmp_path: Path) -> None:
    server = OutageServer()
    server.down = True
    with FakeServer(respond=server) as fake:
        spec = f"openai:gpt-4o,base_url={fake.url}/v1,max_retries=0,backoff_base=0.001"
        result = cli_run(spec, tmp_path / "down")
    assert result.exit_code == 1, result.output
    assert "2 of 2 episode(s) did not finish" in result.output
    assert "Nothing to do" not in result.output
    summary = json.loads((tmp_path / "down" / "summary.json").read_text())
    assert summary["episodes"] == 0 and summary["overall"] is None
    assert [e["seed"] for e in summary["not_finished"]["crafter"]] == [42, 43]
    assert not list((tmp_path / "down" / "episodes").glob("*/result.json"))
    shown = runner.invoke(app, ["summary", str(tmp_path / "down")])
    assert shown.exit_code == 2 and "no finished episodes" in shown.output
    assert "crafter__seed43" in shown.output and "model_error: server" in shown.output


def test_a_budget_stop_then_a_rerun_gives_the_uninterrupted_summary(tmp_path: Path) -> None:
    config = RunConfig(env="crafter", model="scripted", seeds=(1, 2, 3), max_steps=15)
    whole = run(config, tmp_path / "whole")
    assert whole.complete
    tokens = whole.summary.overall.prompt_tokens + whole.summary.overall.completion_tokens  # type: ignore[union-attr]
    capped = run(config, tmp_path / "capped", budget=Budget(max_tokens=tokens // 2))
    assert not capped.complete and capped.budget_note is not None
    assert capped.finished_now == 1 and capped.not_started == 1
    [stopped] = capped.summary.unfinished
    assert stopped.episode_id == "crafter__seed2" and stopped.reason.startswith("budget: token")
    assert capped.summary.episodes == 1
    assert capped.summary.tasks["crafter"].episodes == 1
    resumed = run(config, tmp_path / "capped", budget=Budget(max_tokens=tokens * 2))
    assert resumed.complete and resumed.ran == 2 and resumed.skipped == 1
    assert summary_of(tmp_path / "capped") == summary_of(tmp_path / "whole")


def test_a_budget_stop_exits_non_zero_from_the_command_line(tmp_path: Path) -> None:
    args = ["run", "--model", "scripted", "--seeds", "1-2", "--max-steps", "30"]
    result = runner.invoke(app, [*args, "--max-tokens", "20000", "--out", str(tmp_path / "b")])
    assert result.exit_code == 1, result.output
    assert "token budget exhausted" in result.output
    assert "rerun the same command to retry them" in result.output
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["episodes"] == 2


class FlakyLine(LineEnv):
    """A corridor whose step raises while ``broken`` (an exception in the episode loop)."""

    broken = True
    env_id = "test/flaky-line"

    def step(self, action: str) -> StepResult:
        if FlakyLine.broken and self.t == 2:
            raise RuntimeError("the emulator crashed")
        return super().step(action)


def test_an_error_in_the_episode_loop_is_not_a_result_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = EnvSpec("test/flaky-line", FlakyLine, {}, "a corridor whose emulator crashes")
    monkeypatch.setitem(registry._REGISTRY, spec.env_id, spec)  # removed after the test
    config = RunConfig(
        env="test/flaky-line", model="scripted", seeds=(1, 2), max_steps=4, scaffold="crafter-v0"
    )
    FlakyLine.broken = True
    failed = run(config, tmp_path / "r")
    assert not failed.complete and failed.summary.episodes == 0
    assert [(e.status, e.reason) for e in failed.summary.unfinished] == [
        ("error", "RuntimeError: the emulator crashed")
    ] * 2
    assert all(e.steps == 2 for e in failed.summary.unfinished)
    FlakyLine.broken = False
    fixed = run(config, tmp_path / "r")
    assert fixed.complete and fixed.ran == 2 and fixed.summary.not_finished == {}
    assert not list((tmp_path / "r" / "episodes" / ".stopped").iterdir())
