"""Examples from a real trace, and their chat and ShareGPT JSON Lines round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automem.traces import CallRecord
from automem.train import (
    Example,
    ExampleError,
    example_from_call,
    postprocess,
    read_examples,
    write_examples,
)
from automem.train.examples import call_id, find_call, to_record
from tests.conftest import play

REPLIES = [
    "<|SEARCH|>map_notes|tree<|END|>",  # step 0 PLAN, turn 0
    "<|ACTION|>right<|END|>",  # step 0 PLAN, turn 1
    "```\n<|APPEND|>map_notes|moved right<|END|>\n```\n<|DONE|> ok",  # step 1 LOG
    "<|READ|>map_notes<|END|><|ACTION|>right<|END|>",  # step 1 PLAN, turn 0
    "<|ACTION|>right<|END|>",  # step 1 PLAN, turn 1
]


@pytest.fixture
def traced(tmp_path: Path) -> tuple[Path, list[Example]]:
    trace, _ = play(tmp_path / "ep", REPLIES, max_steps=2)
    path = tmp_path / "ep" / "trace.jsonl"
    calls = [c for c in trace.of_type(CallRecord) if c.response is not None]
    return path, [example_from_call(trace, c, path) for c in calls]


def test_examples_are_the_verbatim_calls_of_the_trace(traced: tuple[Path, list[Example]]) -> None:
    path, examples = traced
    assert [e.reply for e in examples] == REPLIES
    assert [(e.step, e.phase) for e in examples] == [
        (0, "plan"),
        (0, "plan"),
        (1, "log"),
        (1, "plan"),
        (1, "plan"),
    ]
    second = examples[1]
    # The second PLAN turn's prompt holds the first turn's reply and its result.
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert second.messages[2].content == REPLIES[0]
    assert second.provenance.trace == str(path)
    assert second.provenance.call_id == "0/plan/1"
    assert all(e.episode_id == "e" for e in examples)


def test_find_call_resolves_a_provenance_id(traced: tuple[Path, list[Example]]) -> None:
    from automem.traces import Trace

    path, examples = traced
    trace = Trace.read(path)
    call = find_call(trace, examples[2].provenance.call_id)
    assert call_id(call) == "1/log/0"
    assert example_from_call(trace, call, path) == examples[2]
    with pytest.raises(ValueError, match="no answered call '9/log/0'"):
        find_call(trace, "9/log/0")


@pytest.mark.parametrize("fmt", ["chat", "sharegpt"])
def test_round_trip(tmp_path: Path, traced: tuple[Path, list[Example]], fmt: str) -> None:
    _, examples = traced
    out = tmp_path / f"data.{fmt}.jsonl"
    assert write_examples(out, examples, fmt) == len(examples)  # type: ignore[arg-type]
    assert read_examples(out) == examples
    post = postprocess(examples).kept
    write_examples(out, post, fmt)  # type: ignore[arg-type]
    assert read_examples(out) == list(post)


def test_formats_are_the_ones_trl_and_llama_factory_read(
    traced: tuple[Path, list[Example]],
) -> None:
    _, examples = traced
    chat = to_record(examples[1], "chat")
    assert chat["messages"][0] == {"role": "system", "content": examples[1].messages[0].content}
    assert chat["messages"][-1] == {"role": "assistant", "content": REPLIES[1]}
    share = to_record(examples[1], "sharegpt")
    assert share["system"] == examples[1].messages[0].content
    assert [t["from"] for t in share["conversations"]] == ["human", "gpt", "human", "gpt"]
    assert share["conversations"][-1]["value"] == REPLIES[1]
    assert share["provenance"] == {"trace": chat["provenance"]["trace"], "call_id": "0/plan/1"}


def test_bad_lines_name_the_file_and_line(
    tmp_path: Path, traced: tuple[Path, list[Example]]
) -> None:
    _, examples = traced
    record = to_record(examples[0], "chat")
    good = json.dumps(record)
    share = to_record(examples[0], "sharegpt")
    cases = {
        "not json": "not valid JSON",
        json.dumps({**record, "messages": record["messages"][:-1]}): "ends with an assistant",
        json.dumps({**share, "conversations": [{"from": "bot", "value": "x"}]}): "'from' must",
        json.dumps({"text": "x"}): "needs 'messages'",
        json.dumps({**record, "provenance": None}): "provenance: Input should be",
    }
    for line, message in cases.items():
        path = tmp_path / "bad.jsonl"
        path.write_text(good + "\n\n" + line + "\n", encoding="utf-8")
        with pytest.raises(ExampleError, match=r"bad\.jsonl:3: bad example") as info:
            read_examples(path)
        assert message in str(info.value)
    with pytest.raises(ExampleError, match="cannot open examples file"):
        read_examples(tmp_path / "missing.jsonl")
