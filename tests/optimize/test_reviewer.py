"""The LLM reviewer's session with a scripted tool-calling model on a real MiniHack run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from automem.core import ModelError, Usage
from automem.models.chat import ChatReply, ChatRequest
from automem.models.pricing import Price
from automem.models.scripted import ScriptedChatModel, ScriptedReply
from automem.optimize import check_proposal
from automem.optimize.review import Reviewer, ReviewLimits
from automem.optimize.reviewer import COMPACT_TOOLS, LLMReviewer
from automem.optimize.transcript import read_transcript
from automem.scaffold import HelperConfig, dump, parse
from tests.optimize.reviewer_setup import (
    EPISODES,
    child,
    child_patch,
    child_yaml,
    context,
    events,
    minihack_run,
    parent,
    submit,
    wording_only,
)

__all__ = ["minihack_run"]  # the session fixture: a real MiniHack run

READS = (
    ("list_episodes", {"run": "parent-0"}),
    ("read_steps", {"run": "parent-0", "episode": EPISODES[0], "start": 0, "stop": 2}),
    ("search", {"run": "parent-0", "pattern": "stairs", "limit": 3}),
    ("memory_at", {"run": "parent-0", "episode": EPISODES[0], "step": 5}),
    ("file_history", {"run": "parent-0", "episode": EPISODES[1], "file": "actions_log"}),
    ("current_scaffold", {}),
    ("helper_catalogue", {}),
    ("lineage", {}),
)


def reply(*calls: tuple[str, dict[str, object] | str], text: str = "") -> ScriptedReply:
    return ScriptedReply(text=text, calls=calls)


def results(model: ScriptedChatModel, index: int) -> list[tuple[str, bool]]:
    """(content, is_error) of the tool results the reviewer sent in request ``index``."""
    last = model.requests[index].messages[-1]
    return [(r.content, r.is_error) for r in last.tool_results]


def test_a_whole_session_reads_with_every_tool_then_submits(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = ScriptedChatModel(
        [reply(*READS[:4], text="Looking."), reply(*READS[4:]), reply(submit(child_yaml()))]
    )
    reviewer: Reviewer = LLMReviewer(model)
    assert reviewer.name == "llm:scripted-chat"
    ctx = context((minihack_run,))
    outcome = reviewer.review(ctx, tmp_path / "attempt")
    assert outcome.failure is None and outcome.turns == 3
    assert outcome.scaffold_text == child_yaml()
    assert (outcome.analysis, outcome.description) == ("The log is sparse.", "auto_log on")
    checked = check_proposal(outcome.scaffold_text, parent())
    assert checked.ok and checked.changes == ["helpers: 'auto_log' switched on"]
    first = model.requests[0]
    assert OBJECTIVE_LINE in first.system and "At least one structural change" in first.system
    assert first.system.endswith(ctx.parent_text)
    assert [t.name for t in first.tools] == [
        "list_episodes",
        "read_steps",
        "search",
        "memory_at",
        "file_history",
        "current_scaffold",
        "helper_catalogue",
        "lineage",
        "submit",
    ]
    assert "- parent-0: an evaluation run of the parent: 2 finished" in first.messages[0].content
    sent = results(model, 1) + results(model, 2)
    assert not any(is_error for _, is_error in sent)
    assert sent[0][0].startswith("run parent-0: minihack/MiniHack-MazeWalk-9x9-v0")
    assert sent[5][0] == ctx.parent_text
    assert sent[7][0] == "no earlier attempts: this is the first revision"
    usage = sum_usage(model, 3)
    assert outcome.usage.prompt_tokens == usage.prompt_tokens > 0
    assert outcome.usage.completion_tokens == usage.completion_tokens
    log = events(tmp_path / "attempt")
    kinds = [e["event"] for e in log]
    assert kinds == [
        "start",
        *["request", "reply", *["tool_result"] * 4],
        *["request", "reply", *["tool_result"] * 4],
        "request",
        "reply",
        "submission",
        "tool_result",
        "end",
    ]
    assert log[0]["reviewer"] == "llm:scripted-chat" and len(log[0]["tools"]) == 9
    assert log[1]["messages"][0]["role"] == "user"  # only what is new since the last call
    assert [m["role"] for m in log[7]["messages"]] == ["assistant", "tool"]
    assert log[2]["text"] == "Looking." and log[2]["tool_calls"][0]["name"] == "list_episodes"
    assert log[3]["content"] == sent[0][0]
    assert log[-3] == {**log[-3], "event": "submission", "ok": True}
    assert log[-1]["outcome"]["scaffold_text"] == child_yaml()


OBJECTIVE_LINE = "Objective:\nReach the staircase down"


def sum_usage(model: ScriptedChatModel, calls: int) -> Usage:
    """What the scripted model reported for its first ``calls`` replies (recomputed)."""
    replay = ScriptedChatModel(model.replies)
    replies = [replay.chat(r) for r in model.requests[:calls]]
    return Usage(
        prompt_tokens=sum(r.usage.prompt_tokens for r in replies),
        completion_tokens=sum(r.usage.completion_tokens for r in replies),
    )


def test_a_patch_submission_is_accepted_as_the_whole_normalised_yaml(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = ScriptedChatModel([reply(submit(child_patch()))])
    outcome = LLMReviewer(model).review(context((minihack_run,)), tmp_path / "a")
    assert outcome.failure is None and outcome.scaffold_text == child_yaml()


def test_malformed_calls_go_back_to_the_model_as_errors(minihack_run: Path, tmp_path: Path) -> None:
    bad = (
        ("read_steps", '{"run": "parent-0", "episode": '),  # invalid JSON
        ("read_steps", "[1, 2]"),  # JSON, not an object
        ("read_steps", {"run": "parent-0", "episode": EPISODES[0], "start": "soon"}),
        ("memory_at", {"run": "parent-0", "episode": EPISODES[0], "step": 1, "path": "/etc"}),
        ("shell", {"command": "rm -rf /"}),
        ("write_code", {"filename": "x.py", "source": "print(1)"}),  # not offered
        ("list_episodes", {"run": "/tmp"}),
        ("read_steps", {"run": "parent-0", "episode": "../../..", "start": 0}),
    )
    model = ScriptedChatModel([reply(*bad), reply(submit(child_yaml()))])
    outcome = LLMReviewer(model).review(context((minihack_run,)), tmp_path / "a")
    assert outcome.failure is None
    sent = results(model, 1)
    assert all(is_error for _, is_error in sent)
    texts = [content for content, _ in sent]
    assert texts[0].startswith("read_steps: the arguments must be one JSON object (invalid JSON")
    assert "the arguments are a JSON list, not an object" in texts[1]
    assert texts[2].startswith("read_steps: invalid arguments: start: Input should be")
    assert "path: Extra inputs are not permitted" in texts[3]
    assert texts[4].startswith("unknown tool 'shell'; the tools are: list_episodes,")
    assert texts[5].startswith("unknown tool 'write_code'")
    assert texts[6] == "list_episodes: unknown run '/tmp'; the runs are: parent-0"
    assert texts[7].startswith("read_steps: no episode '../../..' in ")


def test_a_model_that_never_calls_a_tool_gets_one_reminder(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = ScriptedChatModel(["I think the agent should log more.", ""])
    outcome = LLMReviewer(model).review(context((minihack_run,)), tmp_path / "a")
    assert outcome.scaffold_text is None and outcome.turns == 2
    assert outcome.failure == (
        "no submit: the model answered without a tool call again after a reminder"
    )
    reminder = model.requests[1].messages[-1]
    assert reminder.role == "user" and "only ends through the submit tool" in reminder.content
    assert model.requests[1].messages[1].content == "I think the agent should log more."
    assert events(tmp_path / "a")[-1]["outcome"]["failure"] == outcome.failure


def test_a_refused_submission_comes_back_and_a_corrected_one_passes(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = ScriptedChatModel([reply(submit(wording_only())), reply(submit(child_yaml()))])
    outcome = LLMReviewer(model).review(context((minihack_run,)), tmp_path / "a")
    assert outcome.failure is None and outcome.turns == 2
    ((content, is_error),) = results(model, 1)
    assert is_error and content.startswith("submit refused (2 submissions left)")
    assert "- structure: no structural change from the parent" in content
    log = events(tmp_path / "a")
    submissions = [e for e in log if e["event"] == "submission"]
    assert [s["ok"] for s in submissions] == [False, True]
    assert submissions[0]["reasons"][0].startswith("structure: no structural change")


def test_every_submission_refused_ends_invalid(minihack_run: Path, tmp_path: Path) -> None:
    broken = child_yaml().replace("vocabulary:", "vocabulary_typo:")
    model = ScriptedChatModel([reply(submit(wording_only())), reply(submit(broken))])
    limits = ReviewLimits(max_submissions=2)
    outcome = LLMReviewer(model).review(context((minihack_run,), limits=limits), tmp_path / "a")
    assert outcome.scaffold_text is None and model.left == 0
    assert outcome.failure is not None
    assert outcome.failure.startswith("invalid: all 2 submissions were refused by the checks;")
    assert "submission 2: invalid scaffold" in outcome.failure


def test_a_near_duplicate_of_an_earlier_candidate_is_refused(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = ScriptedChatModel([reply(submit(child_yaml(name="minihack-v2")))])
    ctx = context(
        (minihack_run,), earlier_candidates=(child_yaml(),), limits=ReviewLimits(max_submissions=1)
    )
    outcome = LLMReviewer(model).review(ctx, tmp_path / "a")
    assert outcome.failure is not None and "near-duplicate" in outcome.failure


@pytest.mark.parametrize(
    ("limits", "price", "failure"),
    [
        (ReviewLimits(max_turns=2), None, "turn cap: 2 model calls (max_turns)"),
        (ReviewLimits(max_tokens=10), None, "token cap: "),
        (ReviewLimits(max_cost_usd=0.001), Price(10.0, 10.0), "cost cap: $"),
        (ReviewLimits(max_cost_usd=1.0), None, "cost cap: the model reports no cost"),
    ],
)
def test_caps_end_the_session_before_the_next_call(
    minihack_run: Path, tmp_path: Path, limits: ReviewLimits, price: Price | None, failure: str
) -> None:
    script = [reply(READS[0]), reply(READS[5]), reply(submit(child_yaml()))]
    model = ScriptedChatModel(script, price=price)
    outcome = LLMReviewer(model).review(context((minihack_run,), limits=limits), tmp_path / "a")
    assert outcome.failure is not None and outcome.failure.startswith(failure), outcome.failure
    assert outcome.scaffold_text is None
    assert len(model.requests) == outcome.turns == (2 if "turn" in failure else 1)


def test_a_dead_model_raises_a_precise_error_and_keeps_the_transcript(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = ScriptedChatModel([reply(READS[0])])  # the second call finds no reply
    with pytest.raises(ModelError, match="reviewer llm:scripted-chat: model call 2 failed") as err:
        LLMReviewer(model).review(context((minihack_run,)), tmp_path / "a")
    assert err.value.kind == "script_exhausted"
    assert str(tmp_path / "a" / "transcript.jsonl") in str(err.value)
    log = events(tmp_path / "a")
    assert [e["event"] for e in log] == [
        "start",
        "request",
        "reply",
        "tool_result",
        "request",
        "error",
    ]
    assert log[3]["content"].startswith("run parent-0:")


class _Overflowing(ScriptedChatModel):
    def chat(self, request: ChatRequest) -> ChatReply:
        if self.requests:
            raise ModelError("prompt is too long: 9000 tokens > 8192", kind="context_length")
        return super().chat(request)


def test_a_conversation_outgrowing_the_context_is_a_failure(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = _Overflowing([reply(READS[0])])
    outcome = LLMReviewer(model).review(context((minihack_run,)), tmp_path / "a")
    assert outcome.failure == (
        "context: the conversation outgrew the model (prompt is too long: 9000 tokens > 8192)"
    )


def test_calls_after_an_accepted_submit_are_not_run(minihack_run: Path, tmp_path: Path) -> None:
    model = ScriptedChatModel([reply(submit(child_yaml()), READS[0])])
    outcome = LLMReviewer(model).review(context((minihack_run,)), tmp_path / "a")
    assert outcome.failure is None
    log = events(tmp_path / "a")
    assert [e["event"] for e in log][-3:] == ["tool_result", "skipped", "end"]


def test_a_rerun_keeps_the_interrupted_transcript(minihack_run: Path, tmp_path: Path) -> None:
    attempt = tmp_path / "a"
    attempt.mkdir()
    (attempt / "transcript.jsonl").write_text('{"event": "start"}\n{"event": "requ')
    model = ScriptedChatModel([reply(submit(child_yaml()))])
    LLMReviewer(model).review(context((minihack_run,)), attempt)
    assert (attempt / "transcript.interrupted-1.jsonl").read_text().startswith('{"event": "start"}')
    assert [e["event"] for e in read_transcript(attempt / "transcript.interrupted-1.jsonl")] == [
        "start"
    ]
    assert events(attempt)[-1]["event"] == "end"


KILLED = """
import os, signal, sys
from pathlib import Path
from automem.models.scripted import ScriptedChatModel, ScriptedReply
from automem.optimize.reviewer import COMPACT_TOOLS, LLMReviewer
from tests.optimize.reviewer_setup import context

class Killed(ScriptedChatModel):
    def chat(self, request):
        if self.requests:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().chat(request)

model = Killed([ScriptedReply(calls=(("list_episodes", {"run": "parent-0"}),))])
LLMReviewer(model).review(context((Path(sys.argv[1]),)), Path(sys.argv[2]))
"""


def test_kill_9_mid_session_leaves_a_readable_transcript(
    minihack_run: Path, tmp_path: Path
) -> None:
    attempt = tmp_path / "a"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED), str(minihack_run), str(attempt)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr
    log = read_transcript(attempt / "transcript.jsonl")
    assert [e["event"] for e in log] == ["start", "request", "reply", "tool_result", "request"]
    assert log[3]["content"].startswith("run parent-0: minihack/")


HELPER_SOURCE = """
from automem.agent.helpers import Helper, register_helper


class Compass(Helper):
    \"\"\"Says which way is east.\"\"\"

    name = "{name}"

    def prompt_context(self, ctx, phase):
        return "East is to the right."


register_helper("{name}", Compass)
"""


def test_allow_code_writes_a_helper_that_the_submission_then_uses(
    minihack_run: Path, tmp_path: Path
) -> None:
    name = f"compass_{uuid.uuid4().hex[:8]}"  # registered for the rest of this process
    revised = child_yaml(helpers=(HelperConfig(name=name),))
    source = HELPER_SOURCE.format(name=name)
    bad_names = ["../evil.py", "Evil.py", "a/b.py", "x.py.txt", "x", ".x.py", "x.pyc"]
    script = [
        reply(*(("write_code", {"filename": f, "source": "x = 1"}) for f in bad_names)),
        reply(submit(revised)),  # the helper is not written yet: unknown
        reply(("write_code", {"filename": "compass.py", "source": source})),
        reply(submit(revised)),
    ]
    model = ScriptedChatModel(script)
    attempt = tmp_path / "a"
    outcome = LLMReviewer(model).review(context((minihack_run,), allow_code=True), attempt)
    assert "write_code" in [t.name for t in model.requests[0].tools]
    assert "write_code(filename, source)" in model.requests[0].system
    refusals = results(model, 1)
    assert all(is_error and "must be a plain module name" in c for c, is_error in refusals)
    ((unknown, _),) = results(model, 2)
    assert f"unknown helper {name!r}" in unknown
    assert outcome.failure is None and outcome.code_files == ("code/compass.py",)
    assert (attempt / "code" / "compass.py").read_text() == source
    assert sorted(p.name for p in attempt.rglob("*.py")) == ["compass.py"]
    assert parse(outcome.scaffold_text or "").helpers[0].name == name


def test_a_code_file_that_fails_to_import_refuses_the_submission(
    minihack_run: Path, tmp_path: Path
) -> None:
    script = [
        reply(("write_code", {"filename": "broken.py", "source": "raise RuntimeError('no')"})),
        reply(submit(child_yaml())),
    ]
    model = ScriptedChatModel(script)
    limits = ReviewLimits(max_submissions=1)
    ctx = context((minihack_run,), allow_code=True, limits=limits)
    outcome = LLMReviewer(model).review(ctx, tmp_path / "a")
    assert outcome.failure is not None and "failed on import: RuntimeError: no" in outcome.failure
    assert outcome.code_files == ("code/broken.py",)


def test_a_submission_naming_another_parent_is_refused(minihack_run: Path, tmp_path: Path) -> None:
    wrong_parent = child().model_copy(update={"parent": "crafter-v0"})
    model = ScriptedChatModel([reply(submit(dump(wrong_parent)))])
    ctx = context((minihack_run,), limits=ReviewLimits(max_submissions=1))
    outcome = LLMReviewer(model).review(ctx, tmp_path / "a")
    assert outcome.failure is not None and "parent: must be 'minihack-v0'" in outcome.failure


def test_calls_after_the_last_allowed_refusal_are_not_run(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = ScriptedChatModel([reply(submit(wording_only()), submit(child_yaml()))])
    ctx = context((minihack_run,), limits=ReviewLimits(max_submissions=1))
    outcome = LLMReviewer(model).review(ctx, tmp_path / "a")
    assert outcome.scaffold_text is None and outcome.failure is not None
    assert outcome.failure.startswith("invalid: all 1 submissions were refused")
    assert "\n" not in outcome.failure
    kinds = [e["event"] for e in events(tmp_path / "a")]
    assert kinds[-4:] == ["submission", "tool_result", "skipped", "end"]


def test_a_compact_session_offers_the_core_tools_and_a_short_prompt(
    minihack_run: Path, tmp_path: Path
) -> None:
    model = ScriptedChatModel(
        [
            reply(("search", {"run": "parent-0", "pattern": "stairs"}), ("current_scaffold", {})),
            reply(submit(child_patch())),
        ]
    )
    outcome = LLMReviewer(model, compact=True).review(context((minihack_run,)), tmp_path / "a")
    assert outcome.failure is None and outcome.scaffold_text == child_yaml()
    first = model.requests[0]
    names = [t.name for t in first.tools]
    assert names == [*COMPACT_TOOLS, "submit"]
    assert COMPACT_TOOLS == ("list_episodes", "read_steps", "current_scaffold", "helper_catalogue")
    assert dump(parent()) not in first.system and "Constraints of the method" in first.system
    full = ScriptedChatModel([reply(submit(child_patch()))])
    LLMReviewer(full).review(context((minihack_run,)), tmp_path / "b")
    assert dump(parent()) in full.requests[0].system
    assert len(first.system) < len(full.requests[0].system) / 2
    (refused, scaffold) = results(model, 1)
    assert refused[1] and "search" in refused[0]  # not offered: an error result
    assert scaffold == (dump(parent()), False)
