"""The inner loop on a tiny env with replayed model replies: order, commits, fallbacks, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from automem.core import ModelError
from automem.memory import rebuild
from automem.scaffold import load
from automem.traces import (
    CallRecord,
    CommandRecord,
    EventRecord,
    StepRecord,
    Trace,
)
from tests.conftest import LineEnv
from tests.conftest import play as play_episode


def play(folder: Path, replies: list, **kwargs: object) -> Trace:
    return play_episode(folder, replies, **kwargs)[0]  # type: ignore[arg-type]


def test_commands_run_in_written_order_and_results_come_back_in_order(tmp_path: Path) -> None:
    trace = play(
        tmp_path,
        [
            "<|SEARCH|>strategy|right<|END|>",  # step 0 has no LOG: PLAN reads, then acts
            "<|ACTION|>right<|END|>",
            "<|APPEND|>strategy|go right<|END|><|SEARCH|>strategy|right<|END|>"
            "<|COUNT|>strategy|go<|END|><|DONE|>",
            "<|ACTION|>right<|END|>",
        ],
        max_steps=2,
    )
    ops = [(c.step, c.op, c.ok) for c in trace.commands]
    assert ops == [
        (0, "SEARCH", True),
        (0, "ACTION", True),
        (1, "APPEND", True),
        (1, "SEARCH", True),
        (1, "COUNT", True),
        (1, "DONE", True),
        (1, "ACTION", True),
    ]
    search = next(c for c in trace.commands if c.step == 1 and c.op == "SEARCH")
    assert "go right" in search.result  # the search saw the append written before it
    count = next(c for c in trace.commands if c.op == "COUNT")
    assert count.result.startswith("1")


def test_action_after_a_read_in_the_same_reply_is_not_committed(tmp_path: Path) -> None:
    trace = play(
        tmp_path,
        [
            "<|READ|>strategy<|END|><|ACTION|>right<|END|>",
            "<|ACTION|>left<|END|>",
        ],
    )
    action_cmds = [c for c in trace.commands if c.op == "ACTION"]
    assert [c.ok for c in action_cmds] == [False, True]
    assert "not yet seen the results" in action_cmds[0].result
    # The second call's prompt shows the READ result, then the refusal, before the model commits.
    calls = trace.of_type(CallRecord)
    second = trace.conversation(calls[1])
    shown = second[-2]
    assert shown["role"] == "user"
    first, refusal = shown["content"].split("\n")[:2]
    assert first == "[READ|strategy] [strategy is empty]"
    assert refusal.startswith("ERROR: ACTION not committed: you had not yet seen the results")
    step = trace.steps[0]
    assert step.proposed == "left" and step.action == "left" and step.fallback is None


def test_the_last_plan_turn_asks_for_an_action_only(tmp_path: Path) -> None:
    scaffold = load("crafter-v0")
    routine = scaffold.routine.model_copy(update={"plan_turn_cap": 3})
    scaffold = scaffold.model_copy(update={"routine": routine})
    replies = ["<|READ|>strategy<|END|>", "<|READ|>strategy<|END|>", "<|ACTION|>right<|END|>"]
    _, model = play_episode(tmp_path, replies, scaffold=scaffold)
    assert [r.allowed_ops for r in model.requests] == [
        ("SEARCH", "READ", "TAIL", "COUNT", "ACTION"),
        ("SEARCH", "READ", "TAIL", "COUNT", "ACTION"),
        ("ACTION",),
    ]


def test_the_collection_floor_applies_to_each_phases_first_turn_only(tmp_path: Path) -> None:
    scaffold = load("crafter-v0")
    routine = scaffold.routine.model_copy(
        update={"constrained_output": True, "log_min_writes": 1, "plan_min_reads": 1}
    )
    scaffold = scaffold.model_copy(update={"routine": routine})
    replies = [
        "<|READ|>strategy<|END|>",  # step 0: PLAN only
        "<|ACTION|>right<|END|>",
        "<|APPEND|>strategy|a<|END|>",  # step 1: LOG's first turn, then its second
        "<|DONE|>",
        "<|READ|>strategy<|END|>",
        "<|ACTION|>right<|END|>",
    ]
    _, model = play_episode(tmp_path, replies, scaffold=scaffold, max_steps=2)
    floors = [(r.phase, r.min_commands) for r in model.requests]
    # Step 0's PLAN has no floor: every file is empty, so there is nothing to read yet.
    assert floors == [("plan", 0), ("plan", 0), ("log", 1), ("log", 0), ("plan", 1), ("plan", 0)]
    files = {f.name for f in scaffold.files}
    assert set(model.requests[0].empty_files) == files == set(model.requests[0].memory_files)
    assert set(model.requests[4].empty_files) == files - {"strategy"}
    dumped = load("crafter-v0").model_dump_json()  # what the digest hashes: as before the floor
    assert "log_min_writes" not in dumped and "plan_min_reads" not in dumped
    assert "log_min_writes" in scaffold.model_dump()["routine"]


def test_the_collection_floor_needs_constrained_decoding() -> None:
    from automem.scaffold.model import Scaffold

    data = load("crafter-v0").model_dump()
    data["routine"]["log_min_writes"] = 1
    with pytest.raises(ValueError, match=r"need routine\.constrained_output"):
        Scaffold.model_validate(data)
    data["routine"]["constrained_output"] = True
    assert Scaffold.model_validate(data).routine.log_min_writes == 1


def test_fallback_after_plan_cap_is_recorded(tmp_path: Path) -> None:
    scaffold = load("crafter-v0").model_copy(deep=True)
    routine = scaffold.routine.model_copy(update={"plan_turn_cap": 2})
    scaffold = scaffold.model_copy(update={"routine": routine})
    trace = play(tmp_path, ["I am thinking.", "<|READ|>strategy<|END|>"], scaffold=scaffold)
    step = trace.steps[0]
    assert step.fallback == "plan_turn_cap"
    assert step.proposed is None and step.action == "wait"
    assert trace.end is not None and trace.end.totals.fallbacks == 1
    assert any(e.kind == "fallback" for e in trace.of_type(EventRecord))


def test_model_error_stops_the_episode_with_a_stated_reason(tmp_path: Path) -> None:
    trace = play(tmp_path, [ModelError("server said 400", kind="bad_request")], max_steps=3)
    assert trace.end is not None
    assert trace.end.status == "stopped"
    assert "bad_request" in trace.end.reason
    failed = trace.of_type(CallRecord)[0]
    assert failed.error == "server said 400" and failed.response is None


def test_model_error_with_fallback_rule_continues_and_records(tmp_path: Path) -> None:
    scaffold = load("crafter-v0")
    scaffold = scaffold.model_copy(
        update={"routine": scaffold.routine.model_copy(update={"on_model_error": "fallback"})}
    )
    trace = play(
        tmp_path,
        [ModelError("timeout", kind="timeout"), "<|DONE|>", "<|ACTION|>right<|END|>"],
        max_steps=2,
        scaffold=scaffold,
    )
    steps = trace.steps
    assert steps[0].fallback == "model_error" and steps[1].fallback is None
    assert trace.end is not None and trace.end.totals.model_errors == 1


def test_log_refuses_action_and_plan_refuses_writes(tmp_path: Path) -> None:
    trace = play(
        tmp_path,
        [
            "<|ACTION|>right<|END|>",
            "<|ACTION|>right<|END|><|DONE|>",  # step 1 LOG: ACTION refused, then DONE
            "<|APPEND|>strategy|x<|END|>",  # step 1 PLAN: APPEND refused
            "<|ACTION|>right<|END|>",
        ],
        max_steps=2,
    )
    refused = [(c.phase, c.op) for c in trace.commands if not c.ok]
    assert refused == [("log", "ACTION"), ("plan", "APPEND")]
    assert trace.end is not None and trace.end.totals.refused_commands == 2


def test_notices_for_invalid_and_unchanged_observation_escalate(tmp_path: Path) -> None:
    replies = ["<|ACTION|>jump<|END|>"]
    for _ in range(4):
        replies += ["<|DONE|>", "<|ACTION|>wait<|END|>"]
    trace, model = play_episode(tmp_path, replies, max_steps=5)
    log_prompts = [r.messages[1].content for r in model.requests if r.phase == "log"]
    assert "not a valid action" in log_prompts[0] and "'wait' was executed" in log_prompts[0]
    assert "did not change" in log_prompts[0]
    assert "has not changed for 3 steps" in log_prompts[2]
    steps = trace.steps
    assert steps[0].valid is False and steps[0].proposed == "jump"


def test_memory_at_the_end_equals_the_journal_rebuild(tmp_path: Path) -> None:
    replies = ["<|ACTION|>right<|END|>"]
    for i in range(3):
        replies += [
            f"<|APPEND|>actions_log|moved {i}<|END|><|WRITE|>strategy|plan {i}<|END|>"
            "<|CREATE|>extra<|END|><|DONE|>",
            "<|ACTION|>right<|END|>",
        ]
    trace = play(tmp_path, replies, max_steps=4)
    rebuilt = rebuild(trace.journal(), trace.header.initial_files, limits=trace.header.limits)
    on_disk = {p.name: p.read_text() for p in (tmp_path / "memory").iterdir()}
    assert rebuilt == on_disk
    assert on_disk["strategy"] == "plan 2\n"


def test_messages_are_stored_once_and_calls_refer_to_them(tmp_path: Path) -> None:
    replies = ["<|ACTION|>wait<|END|>"] + ["<|DONE|>", "<|ACTION|>wait<|END|>"] * 3
    trace = play(tmp_path, replies, max_steps=4)
    contents = [m.content for m in trace.messages.values()]
    assert len(contents) == len(set(contents))
    # The PLAN system prompt is identical every step: one message record, four references.
    plan_calls = [c for c in trace.of_type(CallRecord) if c.phase == "plan"]
    assert len({c.prompt[0] for c in plan_calls}) == 1
    conversation = trace.conversation(plan_calls[-1])
    assert conversation[0]["role"] == "system" and conversation[-1]["role"] == "assistant"
    assert conversation[-1]["content"] == "<|ACTION|>wait<|END|>"


def test_episode_ends_when_the_env_terminates(tmp_path: Path) -> None:
    replies = ["<|ACTION|>right<|END|>"] + ["<|DONE|>", "<|ACTION|>right<|END|>"] * 4
    trace = play(tmp_path, replies, max_steps=50, env=LineEnv(length=5))
    assert trace.end is not None
    assert trace.end.reason == "terminated" and trace.end.steps == 5
    assert trace.end.progression == pytest.approx(1.0)
    assert [s.reward for s in trace.of_type(StepRecord)] == [1.0] * 5


def test_commands_after_done_are_ignored_and_recorded(tmp_path: Path) -> None:
    trace = play(
        tmp_path,
        [
            "<|ACTION|>wait<|END|>",
            "<|DONE|><|APPEND|>strategy|late<|END|>",
            "<|ACTION|>wait<|END|>",
        ],
        max_steps=2,
    )
    assert not [c for c in trace.of_type(CommandRecord) if c.op == "APPEND"]
    ignored = [e for e in trace.of_type(EventRecord) if e.kind == "ignored_commands"]
    assert ignored and "after DONE" in ignored[0].message


class ExplodingEnv(LineEnv):
    def step(self, action: str):  # type: ignore[no-untyped-def]
        if self.t == 2:
            raise RuntimeError("the game crashed")
        return super().step(action)


def test_an_env_crash_is_recorded_as_an_errored_episode_with_its_work(tmp_path: Path) -> None:
    replies = ["<|ACTION|>right<|END|>"] + [
        "<|APPEND|>strategy|keep going<|END|><|DONE|>",
        "<|ACTION|>right<|END|>",
    ] * 2
    trace = play(tmp_path, replies, max_steps=10, env=ExplodingEnv())
    assert trace.end is not None and trace.end.status == "error"
    assert trace.end.reason == "RuntimeError: the game crashed"
    assert trace.end.steps == 2 and trace.end.progression == pytest.approx(0.4)
    error = next(e for e in trace.of_type(EventRecord) if e.kind == "error")
    assert "Traceback" in error.data["traceback"]
    assert (tmp_path / "memory" / "strategy").read_text() == "keep going\nkeep going\n"


class TitledLineEnv(LineEnv):
    title = "The Long Line"


def test_the_prompt_names_the_envs_title_and_its_own_episode_length(tmp_path: Path) -> None:
    """A run capped at 1 step still tells the model the game lasts up to 50 steps."""
    _, model = play_episode(
        tmp_path, ["<|ACTION|>wait<|END|>"], max_steps=1, env=TitledLineEnv(max_steps=50)
    )
    system = model.requests[0].messages[0].content
    assert "You are an agent playing The Long Line, a long game of up to 50 steps." in system
    assert "Step 0 of 50." in model.requests[0].messages[1].content
    assert LineEnv().title == "Line"  # the default: made from the game's name
