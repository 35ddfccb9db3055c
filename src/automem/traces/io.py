"""Writing and reading trace files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar, cast

from pydantic import BaseModel, ValidationError

from automem.memory import MEMORY_OPS, JournalRecord
from automem.traces.schema import (
    READABLE_SCHEMA_VERSIONS,
    TRACE_RECORD,
    CallRecord,
    CommandRecord,
    EndRecord,
    Header,
    MessageRecord,
    ObservationRecord,
    StepRecord,
)
from automem.traces.texts import TextResolver, UnresolvedPrompt

R = TypeVar("R", bound=BaseModel)


class TraceError(ValueError):
    """A trace file that cannot be read; the message names the file and line."""


class TraceWriter:
    """Appends records to a JSON Lines file.

    Records are kept in memory until ``flush``, which writes them in one call (the loop
    flushes once per step), so a process killed at any moment leaves whole records of whole
    steps, perhaps with one line cut short, never a reference to a record not written.
    A field that is None is left out (every such field reads back as None).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._pending: list[str] = []

    def write(self, record: BaseModel) -> None:
        self._pending.append(record.model_dump_json(exclude_none=True))

    def flush(self, *, sync: bool = False) -> None:
        if self._pending:
            self._pending.append("")  # the last record's line break
            self._file.write("\n".join(self._pending).encode())
            self._pending.clear()
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.flush(sync=True)
            self._file.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_records(path: Path) -> Iterator[BaseModel]:
    """Validated records of a trace, in order; a bad line raises :class:`TraceError`."""
    for _, _, record in iter_located(path):
        yield record


def iter_located(path: Path) -> Iterator[tuple[int, int, BaseModel]]:
    """(byte offset, byte length, record) of every record in order (for the trace index).

    A prompt record comes back as the message record it stands for (its content verbatim).
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise TraceError(f"cannot open trace {path}: {exc.strerror}") from None
    with handle:
        seen_header = False  # the first record (blank lines aside) must be the one header
        offset = 0
        texts = TextResolver()
        for lineno, line in enumerate(handle, 1):
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                record = TRACE_RECORD.validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise TraceError(
                    f"{path}:{lineno}: corrupt trace record ({where}: {first['msg']})"
                ) from None
            if not seen_header:
                _check_header(path, lineno, record)
                seen_header = True
            elif isinstance(record, Header):
                raise TraceError(
                    f"{path}:{lineno}: a second header record (a trace holds one episode, "
                    "its header first)"
                )
            try:
                record = texts.feed(record)
            except UnresolvedPrompt as exc:
                raise TraceError(f"{path}:{lineno}: {exc}") from None
            yield start, len(line), record


def _check_header(path: Path, lineno: int, record: BaseModel) -> None:
    if not isinstance(record, Header):
        raise TraceError(f"{path}:{lineno}: a trace starts with a header record")
    if record.schema_version not in READABLE_SCHEMA_VERSIONS:
        known = ", ".join(map(str, READABLE_SCHEMA_VERSIONS))
        raise TraceError(
            f"{path}:{lineno}: trace schema version {record.schema_version} is not supported "
            f"(this AutoMem reads {known})"
        )


@dataclass
class Trace:
    """A whole episode trace, indexed for analysis and training-data extraction."""

    header: Header
    records: list[BaseModel]
    messages: dict[int, MessageRecord] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Trace:
        records = list(iter_records(path))
        if not records:
            raise TraceError(f"{path}: empty trace")
        header = cast(Header, records[0])  # iter_records checked it is one
        messages = {r.id: r for r in records if isinstance(r, MessageRecord)}
        return cls(header=header, records=records, messages=messages)

    def of_type(self, kind: type[R]) -> list[R]:
        return [r for r in self.records if isinstance(r, kind)]

    @property
    def end(self) -> EndRecord | None:
        last = self.records[-1]
        return last if isinstance(last, EndRecord) else None

    @property
    def steps(self) -> list[StepRecord]:
        return self.of_type(StepRecord)

    @property
    def observations(self) -> list[ObservationRecord]:
        return self.of_type(ObservationRecord)

    @property
    def commands(self) -> list[CommandRecord]:
        return self.of_type(CommandRecord)

    def journal(self) -> list[JournalRecord]:
        """The memory journal: every command record the memory store executed."""
        return [c.to_journal() for c in self.commands if c.op in MEMORY_OPS]

    def conversation(self, call: CallRecord) -> list[dict[str, str]]:
        """The verbatim messages of one model call, its reply last (for training data)."""
        ids = [*call.prompt, *([call.response] if call.response is not None else [])]
        return [{"role": self.messages[i].role, "content": self.messages[i].content} for i in ids]
