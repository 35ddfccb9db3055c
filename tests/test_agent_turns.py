"""Untrusted replies through real episodes: any text is recordable, one reply's work is bounded,
and a crash that escapes ``Exception`` still ends the episode as data."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic_core  # noqa: F401 - a pyo3 extension: it defines pyo3's PanicException
import pytest

from automem.agent import Episode
from automem.agent.turns import MAX_NOTES, TurnResults
from automem.memory import rebuild
from automem.models import load_model
from automem.scaffold import load
from automem.traces import CallRecord, CommandRecord, EventRecord, Trace, TraceWriter
from tests.conftest import LineEnv, play
from tests.models.httpfake import FakeServer, Received, Reply, openai_body

SURROGATE = "\udcff"  # what json.loads makes of a "\udcff" escape from a server


def user_messages(trace: Trace) -> list[str]:
    return [m.content for m in trace.messages.values() if m.role == "user"]


def events(trace: Trace, kind: str) -> list[EventRecord]:
    return [e for e in trace.of_type(EventRecord) if e.kind == kind]


def test_a_lone_surrogate_in_a_reply_is_recorded_and_the_episode_finishes(tmp_path: Path) -> None:
    trace, _ = play(
        tmp_path,
        [
            f"I think {SURROGATE} so <|ACTION|>right<|END|>",
            f"<|APPEND|>strategy|saw {SURROGATE} here<|END|><|DONE|>",
            "<|ACTION|>right<|END|>",
        ],
        max_steps=2,
    )
    assert trace.end is not None and trace.end.status == "finished", trace.end
    calls = trace.of_type(CallRecord)
    assert len(calls) == 3 and all(c.response is not None for c in calls)
    first = trace.conversation(calls[0])[-1]["content"]
    assert first == "I think \ufffd so <|ACTION|>right<|END|>"
    assert "replaced 1 lone surrogate with U+FFFD" in calls[0].normalisations
    assert "replaced 1 lone surrogate with U+FFFD" in calls[1].normalisations
    append = next(c for c in trace.commands if c.op == "APPEND")
    assert append.ok and append.args == ("strategy", "saw \ufffd here")
    memory = tmp_path / "memory" / "strategy"
    assert memory.read_text(encoding="utf-8") == "saw \ufffd here\n"
    assert rebuild(trace.journal(), trace.header.initial_files)["strategy"] == "saw \ufffd here\n"
    assert trace.steps[0].action == "right" and trace.steps[1].action == "right"


def test_a_surrogate_escape_from_a_real_server_is_recorded(tmp_path: Path) -> None:
    def respond(received: Received) -> Reply:
        system = received.body["messages"][0]["content"]
        log = "This is the LOG phase" in system
        text = (
            f"<|APPEND|>strategy|x {SURROGATE} y<|END|><|DONE|>"
            if log
            else f"{SURROGATE}<|ACTION|>right<|END|>"
        )
        body = json.dumps(openai_body(text))  # ensure_ascii: the reply holds a \udcff escape
        assert "\\udcff" in body
        return Reply(body=body, headers={"content-type": "application/json"})

    with FakeServer(respond=respond) as server:
        model = load_model(f"openai:test,base_url={server.url}/v1,backoff_base=0.001")
        try:
            with TraceWriter(tmp_path / "trace.jsonl") as writer:
                end = Episode(
                    env=LineEnv(),
                    model=model,
                    scaffold=load("crafter-v0"),
                    seed=0,
                    episode_id="e",
                    memory_dir=tmp_path / "memory",
                    trace=writer,
                    max_steps=2,
                ).run()
        finally:
            model.close()
    assert end.status == "finished", end.reason
    trace = Trace.read(tmp_path / "trace.jsonl")
    assert len(trace.of_type(CallRecord)) == len(server.requests) == 3
    assert (tmp_path / "memory" / "strategy").read_text(encoding="utf-8") == "x \ufffd y\n"


def test_a_reply_of_60000_reads_runs_at_most_the_cap(tmp_path: Path) -> None:
    flood = "<|READ|>strategy<|END|>" * 60_000  # 1.4 MB
    trace, model = play(tmp_path, [flood, "<|ACTION|>right<|END|>"], max_steps=1)
    assert trace.end is not None and trace.end.status == "finished"
    limits = load("crafter-v0").limits
    reads = [c for c in trace.commands if c.op == "READ"]
    assert len(reads) == limits.max_commands_per_reply == 32
    assert (tmp_path / "trace.jsonl").stat().st_size < 1_000_000
    [cut] = events(trace, "reply_cut")
    assert cut.data["chars"] == len(flood)
    [dropped] = events(trace, "commands_dropped")
    parsed = limits.max_reply_chars // len("<|READ|>strategy<|END|>") + 1  # the cut-off one too
    assert dropped.data == {"commands": parsed, "cap": 32}
    told = model.requests[1].messages[-1].content  # the results of the flood, as the model saw
    assert f"only the first {limits.max_reply_chars} were read" in told
    assert f"only the first 32 were run and {parsed - 32} were dropped" in told
    assert told.count("[READ|strategy]") == 32


@pytest.mark.parametrize(
    ("flood", "slips"),
    [("<|APPEND|>strategy|note<|END|>" * 100_000, False), ("<|APPEND|>" * 100_000, True)],
    ids=["whole-commands", "bare-tags"],
)
def test_100k_append_tags_write_a_small_trace(tmp_path: Path, flood: str, slips: bool) -> None:
    trace, _ = play(
        tmp_path,
        ["<|ACTION|>right<|END|>", flood, "<|DONE|>", "<|ACTION|>right<|END|>"],
        max_steps=2,
    )
    assert trace.end is not None and trace.end.status == "finished"
    appends = [c for c in trace.commands if c.op == "APPEND"]
    assert len(appends) == 32
    assert (tmp_path / "trace.jsonl").stat().st_size < 1_000_000
    assert (tmp_path / "memory" / "strategy").read_text().count("\n") <= 32
    flood_call = trace.of_type(CallRecord)[1]
    notes = flood_call.normalisations
    assert len(notes) <= MAX_NOTES
    assert notes[-1].endswith(" more normalisations") is slips  # one per bare tag, counted
    assert events(trace, "commands_dropped") and events(trace, "reply_cut")


def test_results_past_the_turn_budget_are_cut_with_a_marker(tmp_path: Path) -> None:
    text = "a" * 3000
    reads = "<|READ|>strategy<|END|>" * 10
    trace, model = play(
        tmp_path,
        [
            "<|ACTION|>right<|END|>",
            f"<|WRITE|>strategy|{text}<|END|>{reads}",
            "<|DONE|>",
            "<|ACTION|>right<|END|>",
        ],
        max_steps=2,
    )
    assert trace.end is not None and trace.end.status == "finished"
    assert len([c for c in trace.commands if c.op == "READ" and c.ok]) == 10  # all ran
    told = model.requests[2].messages[-1].content
    budget = load("crafter-v0").limits.max_result_chars_per_turn
    limit = f"this turn's results reached their limit of {budget} characters"
    assert told.count(f"more characters cut: {limit}]") == 1
    withheld = f"[READ|strategy] [result not shown: {limit}; repeat the command to see it]"
    full = told.count("a" * 3000)
    assert full == 6 and told.count(withheld) == 3
    shown = told.split(withheld)[0]
    assert budget <= len(shown) <= budget + 200  # the budget, the cut marker, the template
    [cut] = events(trace, "results_cut")
    assert cut.data == {"cut": 1, "withheld": 3}


def test_turn_results_keep_order_and_notices_last() -> None:
    results = TurnResults(budget=50, notices=["NOTICE: n"])
    results.add("x" * 20, "READ|a")
    results.add("ERROR: refused")
    assert results.lines("none") == ["[READ|a] " + "x" * 20, "ERROR: refused", "NOTICE: n"]
    assert results.cut_event() is None
    assert TurnResults(budget=10).lines("none") == ["none"]


def _panic_class() -> type[BaseException]:
    """pyo3's PanicException, as pydantic-core raises it (a BaseException, not an Exception)."""
    found = [c for c in BaseException.__subclasses__() if c.__module__ == "pyo3_runtime"]
    panic = next(c for c in found if c.__name__ == "PanicException")
    assert not issubclass(panic, Exception)
    return panic


class PanickingEnv(LineEnv):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def step(self, action: str):  # type: ignore[no-untyped-def]
        if self.t == 1:
            raise self.error
        return super().step(action)


def test_a_rust_panic_ends_the_episode_as_an_error_with_its_work(tmp_path: Path) -> None:
    panic = _panic_class()("called `Option::unwrap()` on a `None` value")
    replies = [
        "<|ACTION|>right<|END|>",
        "<|APPEND|>strategy|went right<|END|><|DONE|>",
        "<|ACTION|>right<|END|>",
    ]
    trace, _ = play(tmp_path, replies, max_steps=5, env=PanickingEnv(panic))
    assert trace.end is not None and trace.end.status == "error"
    assert trace.end.reason == "PanicException: called `Option::unwrap()` on a `None` value"
    assert trace.end.steps == 1
    [error] = events(trace, "error")
    assert "PanicException" in error.data["traceback"]
    assert (tmp_path / "memory" / "strategy").read_text() == "went right\n"
    assert [c.op for c in trace.of_type(CommandRecord)][-2:] == ["DONE", "ACTION"]


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3)])
def test_an_interrupt_still_stops_the_process(tmp_path: Path, error: BaseException) -> None:
    replies = ["<|ACTION|>right<|END|>", "<|DONE|>", "<|ACTION|>right<|END|>"]
    with pytest.raises(type(error)):
        play(tmp_path, replies, max_steps=5, env=PanickingEnv(error))
