"""Training examples: one verbatim model call of a trace, and its two export formats.

An :class:`Example` is the whole conversation of one model call (the prompt messages in order,
the reply last) with where it came from. It is written as

* chat JSONL: ``{"messages": [{"role", "content"}...], ...}``, the conversational format of
  OpenAI fine-tuning and TRL's ``SFTTrainer``;
* ShareGPT JSONL: ``{"conversations": [{"from", "value"}...], "system": ...}`` for LLaMA-Factory
  (roles ``human``/``gpt``/``system``, as its ``sharegpt`` dataset format names them).

Both keep the example's identity and provenance beside the conversation, so a file read back
gives the same examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from automem.core import Frozen
from automem.traces import CallRecord, Trace

Role = Literal["system", "user", "assistant"]
Format = Literal["chat", "sharegpt"]
FORMATS: tuple[Format, ...] = ("chat", "sharegpt")

_TO_SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt"}
_FROM_SHAREGPT = {v: k for k, v in _TO_SHAREGPT.items()}


class ExampleError(ValueError):
    """An examples file or record that cannot be read; the message names the file and line."""


class ChatMessage(Frozen):
    role: Role
    content: str


class Provenance(Frozen):
    trace: str = Field(description="Path of the trace file the call was read from.")
    call_id: str = Field(description="The call within the trace: 'STEP/PHASE/TURN'.")


class Example(Frozen):
    """One training example: a model call's conversation, its reply last."""

    episode_id: str
    step: int = Field(ge=0)
    phase: str
    messages: tuple[ChatMessage, ...]
    provenance: Provenance

    @field_validator("messages")
    @classmethod
    def _ends_with_reply(cls, messages: tuple[ChatMessage, ...]) -> tuple[ChatMessage, ...]:
        if len(messages) < 2 or messages[-1].role != "assistant":
            raise ValueError("an example needs a prompt and ends with an assistant message")
        return messages

    @property
    def reply(self) -> str:
        """The last assistant message: the one post-processing edits and training targets."""
        return self.messages[-1].content

    def with_reply(self, text: str) -> Example:
        last = self.messages[-1].model_copy(update={"content": text})
        return self.model_copy(update={"messages": (*self.messages[:-1], last)})


def call_id(call: CallRecord) -> str:
    """A successful call's id within its trace (a failed call has no reply to train on)."""
    return f"{call.step}/{call.phase}/{call.turn}"


def example_from_call(trace: Trace, call: CallRecord, trace_path: Path) -> Example:
    """The verbatim conversation of one answered call of ``trace``."""
    if call.response is None:
        raise ValueError(f"{trace_path}: call {call_id(call)} has no reply ({call.error_kind})")
    messages = tuple(ChatMessage.model_validate(m) for m in trace.conversation(call))
    return Example(
        episode_id=trace.header.episode_id,
        step=call.step,
        phase=call.phase,
        messages=messages,
        provenance=Provenance(trace=str(trace_path), call_id=call_id(call)),
    )


def find_call(trace: Trace, wanted: str) -> CallRecord:
    """The answered call of ``trace`` with id ``wanted`` ('STEP/PHASE/TURN')."""
    for call in trace.of_type(CallRecord):
        if call.response is not None and call_id(call) == wanted:
            return call
    raise ValueError(f"no answered call {wanted!r} in the trace of {trace.header.episode_id}")


# --------------------------------------------------------------------------- the two formats


def to_record(example: Example, fmt: Format) -> dict[str, object]:
    """The JSON object of ``example`` in format ``fmt``."""
    meta = {
        "episode_id": example.episode_id,
        "step": example.step,
        "phase": example.phase,
        "provenance": example.provenance.model_dump(),
    }
    if fmt == "chat":
        return {"messages": [m.model_dump() for m in example.messages], **meta}
    if fmt != "sharegpt":
        raise ValueError(f"unknown examples format {fmt!r}; known: {', '.join(FORMATS)}")
    messages = list(example.messages)
    system = messages.pop(0).content if messages[0].role == "system" else None
    turns = [{"from": _TO_SHAREGPT[m.role], "value": m.content} for m in messages]
    record: dict[str, object] = {"conversations": turns}
    if system is not None:
        record["system"] = system
    return {**record, **meta}


def from_record(record: dict[str, object]) -> Example:
    """An example from a JSON object of either format (told apart by its keys)."""
    data = dict(record)
    if "messages" in data:
        return Example.model_validate(data)
    if "conversations" not in data:
        raise ValueError("a record needs 'messages' (chat) or 'conversations' (ShareGPT)")
    turns = data.pop("conversations")
    system = data.pop("system", None)
    if not isinstance(turns, list):
        raise ValueError("'conversations' must be a list of {from, value} objects")
    messages = [{"role": "system", "content": system}] if system is not None else []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or turn.get("from") not in _FROM_SHAREGPT:
            known = ", ".join(_FROM_SHAREGPT)
            raise ValueError(f"conversations[{i}]: 'from' must be one of {known}")
        messages.append({"role": _FROM_SHAREGPT[turn["from"]], "content": turn.get("value")})
    return Example.model_validate({**data, "messages": messages})


def write_examples(path: Path, examples: Iterable[Example], fmt: Format = "chat") -> int:
    """Write ``examples`` as JSON Lines (temp file, then rename); returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    count = 0
    with partial.open("w", encoding="utf-8") as out:
        for example in examples:
            out.write(json.dumps(to_record(example, fmt), ensure_ascii=False) + "\n")
            count += 1
    partial.replace(path)
    return count


def iter_examples(path: Path) -> Iterator[Example]:
    """The examples of a JSON Lines file of either format; a bad line raises ExampleError."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ExampleError(f"cannot open examples file {path}: {exc.strerror}") from None
    with handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("each line must be a JSON object")
                yield from_record(record)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ExampleError(
                    f"{path}:{lineno}: bad example ({where}: {first['msg']})"
                ) from None
            except json.JSONDecodeError as exc:
                raise ExampleError(
                    f"{path}:{lineno}: bad example (not valid JSON: {exc})"
                ) from None
            except ValueError as exc:
                raise ExampleError(f"{path}:{lineno}: bad example ({exc})") from None


def read_examples(path: Path) -> list[Example]:
    return list(iter_examples(path))
