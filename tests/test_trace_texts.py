"""Prompts stored as references into the trace's text table (schema 4) read back verbatim: every
call of a long real episode is rebuilt byte for byte from what the model was sent, by every
reader; every prefix of a trace reads; schema-3 traces still read; a broken reference is named.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automem import envs
from automem.agent import Episode
from automem.core import ChatModel, Completion, CompletionRequest
from automem.models import ScriptedModel
from automem.runs.reader import EpisodeReader
from automem.scaffold import load
from automem.traces import (
    CallRecord,
    MessageRecord,
    PromptRecord,
    TextRecord,
    Trace,
    TraceError,
    TraceWriter,
    iter_records,
)
from automem.train.episode import EpisodeData
from tests.conftest import DATA


class Recording(ChatModel):
    """The scripted model, keeping every request's messages exactly as the model got them."""

    def __init__(self, seed: int) -> None:
        self.model = ScriptedModel(seed)
        self.identity = self.model.identity
        self.sent: list[list[dict[str, str]]] = []

    def complete(self, request: CompletionRequest) -> Completion:
        completion = self.model.complete(request)
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        self.sent.append([*messages, {"role": "assistant", "content": completion.text}])
        return completion


def play(folder: Path, env_id: str, scaffold: str, steps: int) -> Recording:
    model = Recording(seed=3)
    folder.mkdir(parents=True, exist_ok=True)
    with TraceWriter(folder / "trace.jsonl") as trace:
        Episode(
            env=envs.make(env_id),
            model=model,
            scaffold=load(scaffold),
            seed=3,
            episode_id="e",
            memory_dir=folder / "memory",
            trace=trace,
            max_steps=steps,
        ).run()
    return model


@pytest.fixture(scope="module")
def nethack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Recording]:
    folder = tmp_path_factory.mktemp("nethack") / "episode"
    return folder, play(folder, "nethack", "nethack-v0", steps=120)


def as_bytes(messages: object) -> bytes:
    return json.dumps(messages, ensure_ascii=False).encode()


def test_every_call_of_a_long_episode_is_rebuilt_byte_for_byte(
    nethack: tuple[Path, Recording],
) -> None:
    folder, model = nethack
    trace = Trace.read(folder / "trace.jsonl")
    calls = trace.of_type(CallRecord)
    assert len(calls) == len(model.sent) > 240  # two phases a step, more turns now and then
    for call, sent in zip(calls, model.sent, strict=True):
        assert as_bytes(trace.conversation(call)) == as_bytes(sent), call
    # Loop 2's reader (through the run reader's step ranges) rebuilds the same conversations.
    data = EpisodeData.read(EpisodeReader("e", folder))
    for call, sent in zip(data.calls, model.sent, strict=True):
        rebuilt = [m.model_dump() for m in data.conversation(call)]
        assert as_bytes(rebuilt) == as_bytes(sent), call


def test_prompts_are_stored_as_references_and_each_line_once(
    nethack: tuple[Path, Recording],
) -> None:
    folder, _ = nethack
    lines = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    prompts = [r for r in lines if r["type"] == "prompt"]
    assert prompts and all(r["type"] != "message" or r["role"] == "assistant" for r in lines)
    # Every turn message shows its step's observation by reference, not by copy.
    turns = [p for p in prompts if p["role"] == "user" and "observation" in p["parts"]]
    assert len({p["step"] for p in turns}) == 120
    texts = [t for r in lines if r["type"] == "text" for t in r["texts"]]
    assert len(texts) == len(set(texts))
    observations = {r["step"]: r["text"] for r in lines if r["type"] == "observation"}
    assert not any(o.splitlines()[0] in texts for o in observations.values() if o.strip())


def test_a_step_range_resolves_its_prompts_from_the_texts_before_it(
    nethack: tuple[Path, Recording],
) -> None:
    folder, _ = nethack
    trace = Trace.read(folder / "trace.jsonl")
    reader = EpisodeReader("e", folder)
    for start, stop in ((0, 1), (57, 60), (119, 121)):
        expected = [r for r in trace.records if start <= getattr(r, "step", -1) < stop]
        got = reader.steps(start, stop)
        assert got == expected
        assert any(isinstance(r, MessageRecord) and r.role == "user" for r in got)
        assert not any(isinstance(r, PromptRecord) for r in got)


def test_every_prefix_of_a_trace_reads_as_the_records_it_holds(tmp_path: Path) -> None:
    # What a kill -9 leaves: the lines written so far, the last perhaps cut short.
    play(tmp_path / "full", "crafter", "crafter-v0", steps=12)
    data = (tmp_path / "full" / "trace.jsonl").read_bytes()
    whole = list(iter_records(tmp_path / "full" / "trace.jsonl"))
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    cut = tmp_path / "cut.jsonl"
    for n, end in enumerate(ends, 1):
        cut.write_bytes(data[:end])
        assert list(iter_records(cut)) == whole[:n]
    half = len(ends) // 2
    cut.write_bytes(data[: ends[half - 1] + 40])  # line half + 1 cut in the middle
    with pytest.raises(TraceError, match=rf"cut\.jsonl:{half + 1}: corrupt"):
        list(iter_records(cut))


def test_a_schema_3_trace_still_reads(tmp_path: Path) -> None:
    # Written by the schema-3 writer (commit 1c976d5) on Crafter: every message verbatim.
    path = DATA / "trace_v3.jsonl"
    trace = Trace.read(path)
    assert trace.header.schema_version == 3 and not trace.of_type(TextRecord)
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    stored = {r["id"]: r["content"] for r in raw if r["type"] == "message"}
    for call in trace.of_type(CallRecord):
        ids = [*call.prompt, call.response]
        assert [m["content"] for m in trace.conversation(call)] == [stored[i] for i in ids]
    folder = tmp_path / "e"
    folder.mkdir()
    (folder / "trace.jsonl").write_bytes(path.read_bytes())
    assert EpisodeReader("e", folder).steps(0, 99) == [
        r for r in trace.records if getattr(r, "step", -1) >= 0
    ]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: r.update(parts=[*r["parts"], 10**6]), "refers to text 1000000"),
        (lambda r: r.update(step=r["step"] + 1), "observation of step"),
    ],
)
def test_a_prompt_whose_reference_the_trace_does_not_hold_is_named(
    tmp_path: Path, damage: object, message: str
) -> None:
    play(tmp_path / "e", "crafter", "crafter-v0", steps=2)
    path = tmp_path / "e" / "trace.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    at = next(
        i for i, r in enumerate(lines) if r["type"] == "prompt" and "observation" in r["parts"]
    )
    damage(lines[at])  # type: ignore[operator]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(TraceError, match=rf"trace\.jsonl:{at + 1}: .*{message}"):
        Trace.read(path)
