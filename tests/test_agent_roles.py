"""Two-model episodes: the memory model's PLAN turns, the hand-off and who made each turn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from automem.agent import Episode
from automem.agent.roles import HANDOFF_NOTE
from automem.core import ModelError, ModelIdentity
from automem.models.roles import RoleModels
from automem.scaffold import Scaffold, load
from automem.traces import CallRecord, CommandRecord, EventRecord, Trace, TraceWriter
from tests.conftest import LineEnv, ListModel


class Named(ListModel):
    def __init__(self, name: str, replies: Sequence[str | Exception]) -> None:
        super().__init__(replies)
        self.identity = ModelIdentity(spec=f"test:{name}", backend="test", name=name)


def play_two(
    folder: Path,
    memory: Sequence[str | Exception],
    action: Sequence[str | Exception],
    *,
    max_steps: int = 1,
    scaffold: Scaffold | None = None,
) -> tuple[Trace, Named, Named]:
    """One episode of a memory and an action model; every scripted reply must be used."""
    mem, act = Named("specialist", memory), Named("base", action)
    with TraceWriter(folder / "trace.jsonl") as trace:
        Episode(
            env=LineEnv(),
            model=RoleModels(memory=mem, action=act),
            scaffold=scaffold or load("crafter-v0"),
            seed=0,
            episode_id="e",
            memory_dir=folder / "memory",
            trace=trace,
            max_steps=max_steps,
        ).run()
    assert not mem.replies and not act.replies, (mem.replies, act.replies)
    return Trace.read(folder / "trace.jsonl"), mem, act


def calls(trace: Trace) -> list[tuple[int, str, int, str | None]]:
    return [(c.step, c.phase, c.turn, c.role) for c in trace.of_type(CallRecord)]


def handoffs(trace: Trace) -> list[EventRecord]:
    return [e for e in trace.of_type(EventRecord) if e.kind == "handoff"]


def test_a_would_be_commit_is_dropped_and_the_action_model_commits(tmp_path: Path) -> None:
    memory = ["<|READ|>map_notes<|END|> and <|ACTION|>left<|END|> then more"]
    trace, _, act = play_two(tmp_path, memory, ["<|ACTION|>right<|END|>"])
    assert calls(trace) == [(0, "plan", 0, "memory"), (0, "plan", 1, "action")]
    assert trace.steps[0].proposed == "right"  # the specialist's 'left' never counted
    (event,) = handoffs(trace)
    assert event.data == {
        "reason": "commit",
        "dropped": ["<|ACTION|>left<|END|>"],
        "turns_left": 9,
    }
    # The action model sees the specialist's reply without its ACTION, then the hand-off
    # with the READ's result; the trace keeps the verbatim reply as the call's response.
    sent = act.requests[0].messages
    assert sent[-2].role == "assistant" and sent[-2].content == "<|READ|>map_notes<|END|> and"
    assert sent[-1].role == "user" and HANDOFF_NOTE in sent[-1].content
    assert "[READ|map_notes]" in sent[-1].content
    first = trace.of_type(CallRecord)[0]
    assert trace.messages[first.response].content == memory[0]
    reads = [c for c in trace.of_type(CommandRecord) if c.op == "READ"]
    assert len(reads) == 1 and reads[0].turn == 0


def test_a_reply_with_no_command_hands_off(tmp_path: Path) -> None:
    memory = ["<|SEARCH|>map_notes|tree<|END|>", "I know enough."]
    trace, _, act = play_two(
        tmp_path, memory, ["<|TAIL|>actions_log|3<|END|>", "<|ACTION|>right<|END|>"]
    )
    assert calls(trace) == [
        (0, "plan", 0, "memory"),
        (0, "plan", 1, "memory"),
        (0, "plan", 2, "action"),
        (0, "plan", 3, "action"),  # the action model may still read before it commits
    ]
    assert handoffs(trace)[0].data["reason"] == "no_commands"
    assert act.requests[0].messages[-2].content == "I know enough."  # kept: it held no ACTION
    assert "(no command results this turn)" in act.requests[0].messages[-1].content


def test_the_memory_model_stops_at_its_cap_leaving_the_action_model_one_turn(
    tmp_path: Path,
) -> None:
    scaffold = routine(plan_turn_cap=3)
    memory = ["<|READ|>map_notes<|END|>", "<|READ|>strategy<|END|>"]
    trace, _, act = play_two(tmp_path, memory, ["<|ACTION|>right<|END|>"], scaffold=scaffold)
    assert calls(trace) == [
        (0, "plan", 0, "memory"),
        (0, "plan", 1, "memory"),
        (0, "plan", 2, "action"),
    ]
    assert handoffs(trace)[0].data == {"reason": "cap", "dropped": [], "turns_left": 1}
    last = trace.of_type(CallRecord)[-1]
    assert last.forced_action is True and last.allowed_ops == ("ACTION",)
    assert act.requests[0].allowed_ops == ("ACTION",)
    assert "[READ|strategy]" in act.requests[0].messages[-1].content  # the last turn's result
    assert "[READ|map_notes]" not in act.requests[0].messages[-1].content  # shown before


def routine(**changes: object) -> Scaffold:
    scaffold = load("crafter-v0")
    return scaffold.model_copy(update={"routine": scaffold.routine.model_copy(update=changes)})


def test_a_failed_memory_call_hands_off_instead_of_falling_back(tmp_path: Path) -> None:
    memory = [ModelError("down", kind="server_error")]
    scaffold = routine(on_model_error="fallback")
    trace, _, _ = play_two(tmp_path, memory, ["<|ACTION|>right<|END|>"], scaffold=scaffold)
    assert handoffs(trace)[0].data["reason"] == "model_error"
    assert trace.steps[0].proposed == "right" and trace.steps[0].fallback is None
    failed = trace.of_type(CallRecord)[0]
    assert failed.role == "memory" and failed.error == "down" and failed.constrained is None


def test_log_is_the_memory_model_s_and_each_call_records_who_and_how(tmp_path: Path) -> None:
    memory = [
        "<|ACTION|>right<|END|>",  # step 0 PLAN: hand off at once, nothing kept
        "<|APPEND|>actions_log|moved right<|END|><|DONE|>",  # step 1 LOG
        "<|ACTION|>right<|END|>",  # step 1 PLAN
    ]
    action = ["<|ACTION|>right<|END|>", "<|ACTION|>right<|END|>"]
    trace, _, act = play_two(tmp_path, memory, action, max_steps=2)
    assert calls(trace) == [
        (0, "plan", 0, "memory"),
        (0, "plan", 1, "action"),
        (1, "log", 0, "memory"),
        (1, "plan", 0, "memory"),
        (1, "plan", 1, "action"),
    ]
    # An ACTION-only reply leaves no assistant message: the hand-off follows the user turn.
    assert [m.role for m in act.requests[0].messages] == ["system", "user", "user"]
    header = trace.header
    assert {r: m.name for r, m in header.roles.items()} == {
        "memory": "specialist",
        "action": "base",
    }
    assert header.model.backend == "two-model"
    assert header.model.spec == "memory=test:specialist;action=test:base"
    log_call = next(c for c in trace.of_type(CallRecord) if c.phase == "log")
    assert log_call.model == "test:specialist" and "APPEND" in (log_call.allowed_ops or ())
    assert log_call.sampling is not None and log_call.sampling.temperature == 1.0
    assert log_call.forced_action is False and log_call.constrained is None  # backend silent
    assert all(c.model == "test:base" for c in trace.of_type(CallRecord) if c.role == "action")


def test_a_one_model_episode_records_its_calls_as_the_agent_s(tmp_path: Path) -> None:
    from tests.conftest import play

    trace, _ = play(tmp_path, ["<|ACTION|>right<|END|>"])
    (call,) = trace.of_type(CallRecord)
    assert (call.role, call.model, call.forced_action) == ("agent", "list", False)
    assert trace.header.roles == {"agent": trace.header.model}
    assert set(trace.header.models) == {"agent"}
