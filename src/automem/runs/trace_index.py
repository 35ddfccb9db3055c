"""The byte-offset index of one trace: where each step's records are, built once and cached.

Stored beside the trace as ``trace.index.json`` (written through a rename), keyed by the
trace's size and modification time: a changed trace gets a new index. An index read from
disk is a cache, never trusted: it is checked for shape on load, and every range read through
it must start and end on a line boundary and hold records of the step it claims, or the
index is rebuilt from the trace. When the folder is read-only the index stays in memory.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from automem.memory import WRITE_OPS
from automem.traces.io import TraceError, iter_located
from automem.traces.schema import (
    CallRecord,
    CommandRecord,
    EndRecord,
    Header,
    MessageRecord,
    ObservationRecord,
    TextRecord,
)

INDEX_VERSION = 2  # 2: text records (trace schema 4)
NO_STEP = -1  # the header and end records

Span = tuple[int, int, int]  # (step, start byte, end byte)


class StaleIndex(Exception):
    """A stored index that does not describe the trace (rebuilt, then read again)."""


class TraceIndex(BaseModel):
    """Byte ranges in one trace file (ends exclusive); every list is in file order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = INDEX_VERSION
    trace_size: int
    trace_mtime_ns: int
    header: Span
    end: Span | None
    steps: int  # the number of step records
    segments: list[Span]  # runs of consecutive lines of one step (NO_STEP: header, end)
    observations: list[Span]
    results: list[Span]  # command records
    writes: list[Span]  # successful memory write commands: the journal memory_at replays
    texts: list[Span]  # text records: what the prompts of a step range refer to
    replies: list[tuple[int, str, int, int]]  # (step, phase, message id, call byte) per reply
    messages: dict[int, Span]  # assistant message id -> its (step, start, end)

    def matches(self, path: Path) -> bool:
        st = path.stat()
        return (st.st_size, st.st_mtime_ns) == (self.trace_size, self.trace_mtime_ns)

    def check_shape(self) -> None:
        """Offsets in order and inside the file (the per-read checks do the rest)."""
        last = 0
        for _, start, end in self.segments:
            if not last <= start < end <= self.trace_size:
                raise ValueError(f"segment {start}..{end} out of order or outside the trace")
            last = end
        spans = [*self.observations, *self.results, *self.writes, *self.texts, self.header]
        spans += list(self.messages.values())
        for _, start, end in spans:
            if not 0 <= start < end <= self.trace_size:
                raise ValueError(f"range {start}..{end} outside the trace")


def build(path: Path) -> TraceIndex:
    """Read the whole trace once (every record validated) and note where everything is."""
    st = path.stat()
    segments: list[list[int]] = []
    lists: dict[str, list[Span]] = {"observations": [], "results": [], "writes": [], "texts": []}
    replies: list[tuple[int, str, int, int]] = []
    messages: dict[int, Span] = {}
    header: Span | None = None
    end: Span | None = None
    steps = 0
    for start, length, record in iter_located(path):
        stop = start + length
        step = getattr(record, "step", NO_STEP)
        if segments and segments[-1][0] == step and segments[-1][2] == start:
            segments[-1][2] = stop
        else:
            segments.append([step, start, stop])
        span = (step, start, stop)
        if isinstance(record, Header):
            header = span
        elif isinstance(record, EndRecord):
            end = span
        elif isinstance(record, ObservationRecord):
            lists["observations"].append(span)
        elif isinstance(record, CommandRecord):
            lists["results"].append(span)
            if record.ok and record.op in WRITE_OPS:
                lists["writes"].append(span)
        elif isinstance(record, TextRecord):
            lists["texts"].append(span)
        elif isinstance(record, MessageRecord) and record.role == "assistant":
            messages[record.id] = span
        elif isinstance(record, CallRecord) and record.response is not None:
            replies.append((step, record.phase, record.response, start))
        steps += record.type == "step"
    if header is None:
        raise TraceError(f"{path}: empty trace")
    return TraceIndex(
        trace_size=st.st_size,
        trace_mtime_ns=st.st_mtime_ns,
        header=header,
        end=end,
        steps=steps,
        segments=[(s, a, b) for s, a, b in segments],
        replies=replies,
        messages=messages,
        **lists,
    )


def load(index_path: Path, trace: Path) -> TraceIndex | None:
    """The stored index if it is readable, well formed and of this very trace; else None."""
    try:
        index = TraceIndex.model_validate_json(index_path.read_bytes())
        index.check_shape()
    except (OSError, ValidationError, ValueError):
        return None  # a cache: missing, stale or damaged, it is rebuilt
    return index if index.version == INDEX_VERSION and index.matches(trace) else None


def save(index: TraceIndex, index_path: Path) -> bool:
    """Write the index through a rename; False when the folder is read-only (kept in memory)."""
    tmp = index_path.with_name(f".{index_path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(index.model_dump_json(), encoding="utf-8")
        os.replace(tmp, index_path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return False
    return True


def read_span(handle: Any, start: int, end: int) -> bytes:
    """The bytes start..end, which must be whole lines (else ValueError: a wrong index)."""
    before = start - 1 if start else 0
    handle.seek(before)
    data = handle.read(end - before)
    if len(data) != end - before or not data.endswith(b"\n"):
        raise ValueError(f"range {start}..{end} does not end a line")
    if start:
        if data[:1] != b"\n":
            raise ValueError(f"range {start}..{end} does not start a line")
        data = data[1:]
    return data
