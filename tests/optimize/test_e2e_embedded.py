"""Loop 1 offline: the embedded SmolLM2-135M model as both the agent and the LLM reviewer, on
real MiniHack with tiny settings (1 task, 2 seeds, 2 steps, a compact 2-turn review session:
its first prompt is what makes a session slow on a CPU).

A 135M model does not write a valid scaffold revision; what this shows is that the offline
tool-calling path runs end to end and that whatever a session ends with becomes a failed
attempt whose reason is recorded in the lineage, the attempt's review.json and decision.json,
and the summary. Attempt v1-a1 is the model as it is (it answers in prose: no submit); in
v1-a2 every request names submit as its tool_choice, so the grammar makes the model write a
submit call, whose scaffold the checks refuse (an invalid scaffold).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from automem.core import ChatModel, Completion, CompletionRequest, Sampling
from automem.models import load_model
from automem.models.chat import ChatReply, ChatRequest
from automem.optimize import (
    LLMReviewer,
    OptimizeConfig,
    ReviewContext,
    ReviewLimits,
    ReviewOutcome,
    optimize,
)
from automem.optimize.config import MeanRule
from automem.runs import TaskConfig
from automem.scaffold import dump, load

pytestmark = pytest.mark.slow

SPEC = "local:smollm2-135m,n_ctx=8192,n_threads=2"
TASK = "minihack/MiniHack-MazeWalk-9x9-v0"
# What a session of the embedded reviewer may end with (automem.optimize.reviewer).
FAILURES = ("no submit", "invalid: ", "turn cap", "token cap", "context: ")


def tiny_scaffold(folder: Path) -> Path:
    """minihack-v0 with one model call per phase and short replies: seconds per step."""
    base = load("minihack-v0")
    routine = base.routine.model_copy(
        update={
            "log_turn_cap": 1,
            "plan_turn_cap": 1,
            "sampling": base.routine.sampling.model_copy(update={"max_tokens": 32}),
        }
    )
    path = folder / "tiny.yaml"
    path.write_text(dump(base.model_copy(update={"routine": routine})), encoding="utf-8")
    return path


class ForcedSubmit(ChatModel):
    """The embedded model, made to call submit (the request's tool_choice names it)."""

    def __init__(self, model: ChatModel) -> None:
        self.model, self.identity = model, model.identity

    def chat(self, request: ChatRequest) -> ChatReply:
        return self.model.chat(request.model_copy(update={"tool_choice": "submit"}))

    def complete(self, request: CompletionRequest) -> Completion:
        return self.model.complete(request)


class TwoSessions:
    """v1-a1: the embedded model as it is; v1-a2: the same model forced to submit."""

    name = "llm:smollm2-two-sessions"

    def __init__(self, model: ChatModel) -> None:
        self.plain = LLMReviewer(
            model, sampling=Sampling(temperature=0.0, max_tokens=48), compact=True
        )
        sampling = Sampling(temperature=0.0, max_tokens=160)
        self.forced = LLMReviewer(ForcedSubmit(model), sampling=sampling, compact=True)
        self.model = model

    def review(self, context: ReviewContext, attempt_dir: Path) -> ReviewOutcome:
        chosen = self.forced if attempt_dir.name == "v1-a2" else self.plain
        return chosen.review(context, attempt_dir)


def test_one_round_with_the_embedded_model_as_agent_and_reviewer(tmp_path: Path) -> None:
    config = OptimizeConfig(
        tasks=(TaskConfig(env=TASK, seeds=(1, 2), max_steps=2),),
        scaffold=str(tiny_scaffold(tmp_path)),
        model=SPEC,
        reviewer=SPEC,
        versions=1,
        fresh_attempts=2,
        continuations=0,
        acceptance=MeanRule(),
        screen_size=0,
        review=ReviewLimits(max_turns=2, max_submissions=1),
    )
    reviewer = TwoSessions(load_model(SPEC, seed=0))
    out = tmp_path / "opt"
    result = optimize(config, out, reviewer)
    assert result.status == "finished"
    lineage = json.loads((out / "lineage.json").read_text())
    assert [v["version"] for v in lineage["versions"]] == [0]
    v0 = lineage["versions"][0]
    assert v0["gate"]["episodes"] == 1 and v0["heldout"]["episodes"] == 1
    assert v0["gate"]["valid"] and v0["heldout"]["valid"]
    assert [a["id"] for a in lineage["attempts"]] == ["v1-a1", "v1-a2"]
    for attempt in lineage["attempts"]:
        check_attempt(out, attempt)
    forced = out / "attempts/v1-a2/transcript.jsonl"
    replies = [e for e in map(json.loads, forced.read_text().splitlines()) if e["event"] == "reply"]
    for reply in replies:  # the grammar wrote a submit call, or ran out of tokens writing it
        names = [c["name"] for c in reply["tool_calls"]]
        assert names == ["submit"] or reply["finish_reason"] == "length", reply


def check_attempt(out: Path, attempt: dict[str, Any]) -> None:
    folder = out / "attempts" / attempt["id"]
    outcome = ReviewOutcome.model_validate_json((folder / "review.json").read_text())
    assert 1 <= outcome.turns <= 2 and outcome.usage.prompt_tokens > 0
    events = [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    assert [e["event"] for e in events].count("reply") == outcome.turns
    decision = json.loads((folder / "decision.json").read_text())
    if outcome.failure is not None:  # what a 135M model is expected to do
        assert outcome.failure.startswith(FAILURES) and "\n" not in outcome.failure
        assert attempt["verdict"] == "failed" and attempt["ended_at_stage"] == "review"
        assert attempt["reason"] == f"no proposal: {outcome.failure}"
        assert decision["reason"] == attempt["reason"] and decision["verdict"] == "failed"
        assert not (folder / "runs").exists()
    else:  # a proposal passed the reviewer's checks: then it was evaluated and decided
        assert attempt["verdict"] in ("accepted", "rejected", "invalid", "failed")
        assert attempt["reason"] and decision["verdict"] == attempt["verdict"]
    assert attempt["reason"] in (out / "summary.md").read_text()
