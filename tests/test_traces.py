"""Trace files: a corrupt or foreign trace gets a precise error naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from automem.traces import TRACE_SCHEMA_VERSION, CallRecord, Trace, TraceError
from tests.conftest import play


@pytest.fixture
def good_trace(tmp_path: Path) -> Path:
    play(tmp_path, ["<|ACTION|>right<|END|>", "<|DONE|>", "<|ACTION|>right<|END|>"], max_steps=2)
    path = tmp_path / "trace.jsonl"
    return path


def test_a_good_trace_reads_back(good_trace: Path) -> None:
    trace = Trace.read(good_trace)
    assert trace.header.episode_id == "e" and trace.end is not None
    assert len(trace.steps) == 2 and len(trace.observations) == 3


def test_a_corrupt_line_is_named(good_trace: Path) -> None:
    lines = good_trace.read_text().splitlines()
    lines[3] = lines[3][: len(lines[3]) // 2]  # a line cut in half
    good_trace.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=rf"{good_trace.name}:4: corrupt trace record"):
        Trace.read(good_trace)


def test_a_record_of_unknown_type_is_named(good_trace: Path) -> None:
    with good_trace.open("a") as handle:
        handle.write('{"type": "mystery", "step": 1}\n')
    with pytest.raises(TraceError, match="corrupt trace record"):
        Trace.read(good_trace)


def test_a_newer_schema_version_is_refused(good_trace: Path) -> None:
    current = f'"schema_version":{TRACE_SCHEMA_VERSION}'
    assert current in good_trace.read_text()
    text = good_trace.read_text().replace(current, '"schema_version":99', 1)
    good_trace.write_text(text)
    with pytest.raises(TraceError, match="schema version 99 is not supported"):
        Trace.read(good_trace)


def test_a_trace_without_header_is_refused(good_trace: Path) -> None:
    lines = good_trace.read_text().splitlines()
    good_trace.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(TraceError, match=":1: a trace starts with a header"):
        Trace.read(good_trace)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot open trace"):
        Trace.read(tmp_path / "nope.jsonl")


def test_a_blank_first_line_does_not_let_a_foreign_schema_version_through(
    good_trace: Path,
) -> None:
    current = f'"schema_version":{TRACE_SCHEMA_VERSION}'
    assert current in good_trace.read_text()
    text = good_trace.read_text().replace(current, '"schema_version":99', 1)
    good_trace.write_text("\n" + text)
    with pytest.raises(TraceError, match=r"trace\.jsonl:2: trace schema version 99 is not"):
        Trace.read(good_trace)


def test_a_second_header_is_refused_with_its_line(good_trace: Path) -> None:
    lines = good_trace.read_text().splitlines()
    good_trace.write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(TraceError, match=rf"trace\.jsonl:{len(lines) + 1}: a second header"):
        Trace.read(good_trace)


def test_a_version_2_trace_reads_with_one_agent_and_calls_of_unknown_terms(
    good_trace: Path,
) -> None:
    import json

    records = [json.loads(line) for line in good_trace.read_text().splitlines()]
    records[0]["schema_version"] = 2
    del records[0]["models"]
    for record in records:
        if record["type"] == "call":
            for key in ("role", "model", "sampling", "allowed_ops", "constrained", "forced_action"):
                record.pop(key, None)  # a field that is None is not written
    good_trace.write_text("".join(json.dumps(r) + "\n" for r in records))
    trace = Trace.read(good_trace)
    assert trace.header.schema_version == 2
    assert trace.header.roles == {"agent": trace.header.model}
    calls = trace.of_type(CallRecord)
    assert len(calls) == 3
    assert all(c.role is None and c.sampling is None and c.forced_action is None for c in calls)
