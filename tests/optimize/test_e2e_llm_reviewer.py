"""Loop 1 end to end: ``automem optimize`` on real MiniHack with an LLM reviewer behind a
loopback server (OpenAI-compatible or Anthropic wire format), killed with SIGKILL during a
gate evaluation and during a review session, rerun with the same command each time.

The server is a scripted reviewer: each session calls the real read-only tools through the
real tool-calling path (list_episodes, read_steps, search, memory_at, helper_catalogue,
current_scaffold) and submits a patch of the scaffold it was shown that switches on one
catalogue helper. The first session answers without a tool call (twice), so it fails.
"""

from __future__ import annotations

import difflib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from automem.optimize.lineage import read_lineage
from automem.optimize.review import ReviewOutcome
from automem.report import render_report
from automem.scaffold import HelperConfig, dump, load, validate_text
from tests.models.httpfake import (
    FakeServer,
    Received,
    Reply,
    anthropic_body,
    anthropic_tool_body,
    anthropic_tool_use,
    openai_body,
    openai_call,
    openai_tool_body,
)
from tests.optimize.support import PLUGIN, read, result_stamps

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "AUTOMEM_TEST_REVIEWER_KEY"
TASK = "MiniHack-MazeWalk-9x9-v0"
EPISODE = f"minihack__{TASK}__seed42"  # a gate seed: 42 and 44 gate, 43 and 45 held out
NEW_HELPERS = ("auto_log", "stuck_detector")  # round 1 switches on the first, round 2 the next


def session_calls(turn: int) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls of a full session's reply ``turn`` (0-2; turn 3 submits)."""
    run = {"run": "parent-0"}
    return [
        [
            ("list_episodes", run),
            ("read_steps", {**run, "episode": EPISODE, "start": 0, "stop": 2}),
        ],
        [
            ("search", {**run, "pattern": "LOG", "limit": 3}),
            ("memory_at", {**run, "episode": EPISODE, "step": 1}),
        ],
        [("helper_catalogue", {"name": "stuck_detector"}), ("current_scaffold", {})],
    ][turn]


def revision_patch(parent_text: str) -> tuple[str, str]:
    """A unified diff of the shown scaffold switching on the next helper, and its name."""
    parent = validate_text(parent_text)
    have = {h.name for h in parent.helpers}
    helper = next(h for h in NEW_HELPERS if h not in have)
    number = int(parent.name.rsplit("v", 1)[1]) + 1
    child = parent.model_copy(
        update={
            "name": f"minihack-v{number}",
            "parent": parent.name,
            "helpers": (*parent.helpers, HelperConfig(name=helper)),
        }
    )
    lines = difflib.unified_diff(
        parent_text.splitlines(keepends=True),
        dump(child).splitlines(keepends=True),
        fromfile="parent",
        tofile="child",
    )
    return "".join(lines), helper


class Wire:
    """One vendor's wire format: reading a request's turn and tool results, writing replies."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor

    def turn(self, body: dict[str, Any]) -> int:
        return sum(1 for m in body["messages"] if m["role"] == "assistant")

    def result(self, body: dict[str, Any], call_id: str) -> str:
        for message in body["messages"]:
            if self.vendor == "openai" and message.get("tool_call_id") == call_id:
                return message["content"]
            content = message.get("content")
            if self.vendor == "anthropic" and isinstance(content, list):
                for block in content:
                    if block.get("tool_use_id") == call_id:
                        inner = block["content"]
                        return inner if isinstance(inner, str) else inner[0]["text"]
        raise AssertionError(f"no tool result {call_id} in the request")

    def calls(self, turn: int, calls: list[tuple[str, dict[str, Any]]]) -> Reply:
        ids = [f"call_{turn}_{name}" for name, _ in calls]
        if self.vendor == "openai":
            made = [openai_call(i, n, json.dumps(a)) for i, (n, a) in zip(ids, calls, strict=True)]
            body = openai_tool_body(*made, prompt_tokens=1000, completion_tokens=50)
        else:
            made = [anthropic_tool_use(i, n, a) for i, (n, a) in zip(ids, calls, strict=True)]
            body = anthropic_tool_body(*made, text="Reading.", input_tokens=1000, output_tokens=50)
        return Reply(body=body)

    def text(self, text: str) -> Reply:
        if self.vendor == "openai":
            return Reply(body=openai_body(text, prompt_tokens=1000, completion_tokens=50))
        return Reply(body=anthropic_body(text, input_tokens=1000, output_tokens=50))


class ScriptedReviewer:
    """The server's answers: session 1 never calls a tool; every later session reads with
    every tool and submits. The ``block_session``-th session's third request waits until the
    test has killed the client."""

    def __init__(self, wire: Wire, block_session: int) -> None:
        self.wire, self.block_session = wire, block_session
        self.sessions = 0
        self.blocked = threading.Event()  # the blocking request has arrived
        self.release = threading.Event()

    def __call__(self, received: Received) -> Reply:
        body = received.body
        turn = self.wire.turn(body)
        if turn == 0:
            self.sessions += 1
        if self.sessions == 1:
            return self.wire.text("I think the scaffold is fine.")
        if self.sessions == self.block_session and turn == 2:
            self.blocked.set()
            self.release.wait(120)
            return self.wire.text("too late")
        if turn < 3:
            return self.wire.calls(turn, session_calls(turn))
        patch, helper = revision_patch(self.wire.result(body, "call_2_current_scaffold"))
        submit = {"scaffold": patch, "analysis": f"Try {helper}.", "description": f"{helper} on"}
        return self.wire.calls(turn, [("submit", submit)])


def spec(vendor: str, url: str) -> str:
    if vendor == "openai":
        return f"openai:reviewer-test,base_url={url}/v1,api_key_env={KEY_ENV},price=2/8"
    return f"anthropic:claude-test,base_url={url},api_key_env={KEY_ENV},price=2/8"


def command(out: Path, reviewer: str) -> list[str]:
    return [
        *(sys.executable, "-c", "from automem.cli import app; app()", "optimize"),
        *("--suite", "minihack", "--task", "MazeWalk-9x9", "--episodes", "4"),
        *("--max-steps", "3", "--versions", "2", "--attempts", "2", "--continuations", "0"),
        *("--rule", "paired", "--min-gain", "-0.5", "--screen", "1"),
        *("--model", "marker:delay=0.05", "--plugin", PLUGIN),
        *("--reviewer", reviewer, "--out", str(out)),
    ]


def launch(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", KEY_ENV: "sk-test"}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_when(args: list[str], ready: Callable[[], bool]) -> None:
    proc = launch(args)
    deadline = time.monotonic() + 180
    try:
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode())  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the moment to kill never came"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def results(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("episodes/*/result.json"))


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_two_versions_with_an_llm_reviewer_survive_kill_9(vendor: str, tmp_path: Path) -> None:
    out = tmp_path / "opt"
    wire = Wire(vendor)
    reviewer = ScriptedReviewer(wire, block_session=3)
    with FakeServer(respond=reviewer) as server:
        args = command(out, spec(vendor, server.url))
        # 1. Killed during v1-a2's gate, after one of its two episodes.
        gate = out / "attempts/v1-a2/runs/gate"
        kill_when(args, lambda: len(results(gate)) == 1)
        assert len(results(gate)) == 1, "the gate finished before the kill: nothing was tested"
        assert read_lineage(out / "lineage.json").attempt("v1-a2").status == "evaluating"
        first = result_stamps(out)
        assert len(first) == 2 * (4 + 1 + 1) + 2  # episodes: baseline, screen, 1 gate; reviews
        # 2. Killed in v2-a1's review session, while its third model call is unanswered.
        kill_when(args, reviewer.blocked.is_set)
        reviewer.release.set()
        second = result_stamps(out)
        assert {k: second[k] for k in first} == first  # nothing finished was redone
        transcript = out / "attempts/v2-a1/transcript.jsonl"
        assert not (out / "attempts/v2-a1/review.json").exists()
        assert [e["event"] for e in events(transcript)].count("reply") == 2
        # 3. The same command again finishes.
        done = launch(args)
        stdout, stderr = done.communicate(timeout=300)
        assert done.returncode == 0, stderr.decode()
    assert {k: v for k, v in result_stamps(out).items() if k in second} == second
    assert reviewer.sessions == 4  # v1-a1, v1-a2, v2-a1 killed, v2-a1 again
    assert "finished: 2 round(s) done. Best: v2 minihack-v2" in stdout.decode()
    check_artefacts(out, vendor, server.requests)


def check_artefacts(out: Path, vendor: str, requests: list[Received]) -> None:
    record = read(out / "optimize.json")
    assert len(record["invocations"]) == 3
    assert record["reviewer"]["model"]["spec"].startswith(f"{vendor}:")
    lineage = read_lineage(out / "lineage.json")
    assert lineage.status == "finished"
    assert [(v.version, v.scaffold, v.attempt) for v in lineage.versions] == [
        (0, "minihack-v0", None),
        (1, "minihack-v1", "v1-a2"),
        (2, "minihack-v2", "v2-a1"),
    ]
    assert all(v.heldout is not None and v.heldout.episodes == 2 for v in lineage.versions)
    verdicts = [(a.id, a.verdict, a.ended_at_stage) for a in lineage.attempts]
    assert verdicts == [
        ("v1-a1", "failed", "review"),
        ("v1-a2", "accepted", "gate"),
        ("v2-a1", "accepted", "gate"),
    ]
    # Every reply was paid for, the killed session's two included (each 1,050 tokens, $0.0024).
    assert [a.review_tokens for a in lineage.attempts] == [2100, 4200, 6300]
    assert lineage.attempts[2].interrupted_usage.prompt_tokens == 2000
    assert lineage.review_cost_usd == pytest.approx(12 * 0.0024)
    assert read(out / "attempts/v2-a1/decision.json")["cost"]["review_tokens"] == 6300
    failed = lineage.attempts[0]
    assert failed.reason.startswith("no proposal: no submit: the model answered without a tool")
    summary = (out / "summary.md").read_text(encoding="utf-8")
    for name in ("v1-a1", "v1-a2", "v2-a1", "minihack-v2", "no submit", "12,600 reviewer"):
        assert name in summary
    check_failed_attempt(out / "attempts/v1-a1")
    parents = (out / "baseline/scaffold.yaml", out / "attempts/v1-a2/candidate.yaml")
    for attempt, helper, parent in zip(("v1-a2", "v2-a1"), NEW_HELPERS, parents, strict=True):
        check_accepted_attempt(out / "attempts" / attempt, vendor, helper, parent)
    aside = out / "attempts/v2-a1/.interrupted-1/transcript.jsonl"
    kept = events(aside)
    assert [e["event"] for e in kept].count("reply") == 2 and kept[-1]["event"] == "request"
    assert len(requests) == 2 + 4 + 3 + 4
    text, info = render_report([out])
    assert info.episodes == 4 + 2 * 5
    for name in ("v1-a1", "v1-a2", "v2-a1", "stuck_detector on", "no submit"):
        assert name in text


def check_failed_attempt(folder: Path) -> None:
    outcome = ReviewOutcome.model_validate_json((folder / "review.json").read_text())
    assert outcome.scaffold_text is None and outcome.turns == 2
    assert outcome.failure is not None and outcome.failure.startswith("no submit")
    decision = read(folder / "decision.json")
    assert (decision["verdict"], decision["stage"], decision["rule"]) == ("failed", "review", None)
    assert "no submit" in decision["reason"] and decision["cost"]["review_turns"] == 2
    assert not (folder / "candidate.yaml").exists() and not (folder / "runs").exists()


def check_accepted_attempt(folder: Path, vendor: str, helper: str, parent: Path) -> None:
    candidate = load(folder / "candidate.yaml")
    assert candidate.helpers[-1].name == helper
    diff = (folder / "diff.patch").read_text(encoding="utf-8")
    assert f"name: {helper}" in diff and f"-name: {candidate.parent}" in diff
    outcome = ReviewOutcome.model_validate_json((folder / "review.json").read_text())
    assert outcome.turns == 4 and outcome.description == f"{helper} on"
    assert (outcome.usage.prompt_tokens, outcome.usage.completion_tokens) == (4000, 200)
    assert outcome.scaffold_text == dump(candidate)
    decision = read(folder / "decision.json")
    assert decision["verdict"] == "accepted" and decision["rule"] == "paired"
    assert decision["screen"]["accepted"] and decision["screen"]["rule"] == "screen"
    assert decision["gate"]["statistics"] == {"gain": 0.0, "low": 0.0, "high": 0.0}
    assert decision["cost"]["episodes"] == 5
    for stage, count in (("screen", 1), ("gate", 2), ("heldout", 2)):
        assert len(results(folder / "runs" / stage)) == count, stage
    log = events(folder / "transcript.jsonl")
    assert log[0]["event"] == "start" and log[-1]["event"] == "end"
    called = [(e["name"], e["is_error"]) for e in log if e["event"] == "tool_result"]
    assert called == [
        ("list_episodes", False),
        ("read_steps", False),
        ("search", False),
        ("memory_at", False),
        ("helper_catalogue", False),
        ("current_scaffold", False),
        ("submit", False),
    ]
    shown = {e["name"]: e["content"] for e in log if e["event"] == "tool_result"}
    assert shown["list_episodes"].startswith(f"run parent-0: minihack/{TASK}")
    assert f"episode {EPISODE}, steps 0..1" in shown["read_steps"]
    assert shown["search"].startswith("3 matches") and f"{EPISODE} step" in shown["search"]
    assert shown["memory_at"].startswith(f"memory of {EPISODE} after step 1 (6 files)")
    assert json.loads(shown["helper_catalogue"])["name"] == "stuck_detector"
    assert shown["submit"].startswith(f"accepted: helpers: '{helper}' switched on")
    assert shown["current_scaffold"] == dump(load(parent))
    if vendor == "anthropic":
        assert next(e["text"] for e in log if e["event"] == "reply") == "Reading."
