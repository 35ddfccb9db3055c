"""The memory store: a directory of text files the model edits through commands.

Contents are cached in memory so reads cost no I/O (the agent's per-step overhead budget is a
couple of milliseconds); every write goes to disk at once, which stays the reference. Anything a
model can write becomes a journaled one-line ``ERROR: ...`` result, never an exception.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import NamedTuple

from automem.memory import disk
from automem.memory.commands import Command
from automem.memory.edits import apply_mutation, key_line_count
from automem.memory.errors import MemoryRefusal
from automem.memory.index import MatchIndex
from automem.memory.journal import JournalRecord
from automem.memory.limits import MemoryLimits
from automem.memory.names import name_problem, show
from automem.memory.ops import (
    AGENT_OPS,
    APPEND,
    ARITY,
    COUNT,
    CREATE,
    KNOWN_OPS,
    MEMORY_OPS,
    READ,
    SEARCH,
    TAIL,
    UPSERT_MAP,
    USAGE,
    WRITE,
    WRITE_OPS,
    in_op_order,
)
from automem.memory.text import byte_size, cut, encodable, plural
from automem.memory.views import count_view, read_view, search_result, tail_view

_DIGITS = re.compile(r"[0-9]+")


class _Outcome(NamedTuple):
    ok: bool
    result: str
    file: str | None = None
    size_before: int | None = None
    size_after: int | None = None
    matches: int | None = None


def _tail_count(text: str, cap: int) -> int | None:
    """TAIL's line count (at least 1), or None when it is not a whole number of lines."""
    digits = text.strip()
    if not _DIGITS.fullmatch(digits):
        return None
    # Past nine digits the count is surely above the cap (and int() of a huge string is slow).
    n = int(digits) if len(digits) <= 9 else cap + 1
    return n if n >= 1 else None


def _listing(allowed_ops: Collection[str]) -> str:
    return ", ".join(in_op_order(MEMORY_OPS & set(allowed_ops))) or "none"


def _refuse(message: str, file: str | None = None) -> _Outcome:
    # splitlines catches every line separator, so a refusal is one line whatever it quotes.
    return _Outcome(False, "ERROR: " + " ".join(message.splitlines()), file)


class MemoryStore:
    def __init__(
        self,
        root: Path,
        *,
        initial_files: Mapping[str, str],
        limits: MemoryLimits = MemoryLimits(),  # noqa: B008 - frozen, so sharing is safe
    ) -> None:
        self.root = Path(root)
        self.limits = limits
        self.initial_files: dict[str, str] = dict(initial_files)
        self.journal: list[JournalRecord] = []
        self._files: dict[str, str] = {}
        self._sizes: dict[str, int] = {}
        self._line_breaks: dict[str, int] = {}  # kept in step, so no step counts a whole file
        self._matches = MatchIndex(limits.search_max_results)
        self._check_setup()
        self.root.mkdir(parents=True, exist_ok=True)
        self._dir = os.fspath(self.root)
        self._prefix = os.path.join(self._dir, "")
        for name, content in sorted(self.initial_files.items()):
            data = content.encode("utf-8")
            disk.replace_file(self._dir, name, data)
            self._files[name] = content
            self._sizes[name] = len(data)
            self._line_breaks[name] = content.count("\n")

    def _check_setup(self) -> None:
        if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
            raise ValueError(f"memory root {self.root} exists and is not an empty directory")
        limits = self.limits
        if (problem := name_problem(limits.map_file, limits.max_name_chars)) is not None:
            raise MemoryRefusal(f"invalid map file name {show(limits.map_file)}: {problem}")
        if len(self.initial_files) > limits.max_files:
            raise MemoryRefusal(
                f"{len(self.initial_files)} initial files exceed max_files={limits.max_files}"
            )
        for name, content in self.initial_files.items():
            if (problem := name_problem(name, limits.max_name_chars)) is not None:
                raise MemoryRefusal(f"invalid initial file name {show(name)}: {problem}")
            if (size := byte_size(content)) > limits.max_file_bytes:
                raise MemoryRefusal(
                    f"initial file {name} is {size} bytes (limit {limits.max_file_bytes})"
                )

    # ------------------------------------------------------------------ programmatic API

    def files(self) -> dict[str, int]:
        return {name: self._sizes[name] for name in sorted(self._files)}

    def line_breaks(self, name: str) -> int:
        """``read(name).count("\\n")``, kept up to date rather than counted."""
        return self._line_breaks[name]

    def line_count(self, name: str) -> int:
        """Lines of ``name`` as ``text.count_lines`` counts them, without scanning the file."""
        content = self._files[name]
        if not content:
            return 0
        return self._line_breaks[name] + (0 if content.endswith("\n") else 1)

    def read(self, name: str) -> str:
        if (problem := name_problem(name, self.limits.max_name_chars)) is not None:
            raise MemoryRefusal(f"invalid file name {show(name)}: {problem}")
        if name not in self._files:
            raise MemoryRefusal(self._missing(name))
        return self._files[name]

    def write_by_code(
        self, name: str, content: str, *, step: int, phase: str = "helper"
    ) -> JournalRecord:
        """Overwrite ``name`` for a scaffold helper; journaled as WRITE so rebuild replays it."""
        args = (name, content)
        if (problem := name_problem(name, self.limits.max_name_chars)) is not None:
            raise MemoryRefusal(f"invalid file name {show(name)}: {problem}")
        outcome = self._on_disk_entry(WRITE, name, args)
        if not outcome.ok:
            raise MemoryRefusal(outcome.result.removeprefix("ERROR: "))
        return self._record(step, phase, WRITE, args, outcome)

    def snapshot(self) -> dict[str, str]:
        """Every memory file's contents, read from disk (symlinks and temp files skipped)."""
        out: dict[str, str] = {}
        for name in sorted(disk.regular_files(self._dir)):
            if name_problem(name, self.limits.max_name_chars) is None:
                data = disk.read_bytes(os.path.join(self._dir, name))
                out[name] = data.decode("utf-8", "replace")
        return out

    # ------------------------------------------------------------------ model commands

    def execute(
        self, command: Command, *, step: int, phase: str, allowed_ops: Collection[str]
    ) -> JournalRecord:
        """Run one memory command; whatever the model wrote, this returns a journaled record."""
        outcome = self._run(command.op, command.args, phase, allowed_ops)
        return self._record(step, phase, command.op, command.args, outcome)

    def _record(
        self, step: int, phase: str, op: str, args: tuple[str, ...], outcome: _Outcome
    ) -> JournalRecord:
        result = cut(outcome.result, self.limits.max_result_chars, one_line=not outcome.ok)
        record = JournalRecord(
            step=step,
            phase=phase,
            op=op,
            # The journal is written to the trace: whatever text it was given must be storable.
            # Replay gives the same files, as every edit already stores the text encodable.
            args=tuple(encodable(arg) for arg in args),
            result=encodable(result),
            ok=outcome.ok,
            file=outcome.file,
            size_before=outcome.size_before,
            size_after=outcome.size_after,
            matches=outcome.matches,
        )
        self.journal.append(record)
        return record

    def _run(
        self, op: str, args: tuple[str, ...], phase: str, allowed_ops: Collection[str]
    ) -> _Outcome:
        if op not in KNOWN_OPS:
            return _refuse(f"unknown command {show(op)}; allowed here: {_listing(allowed_ops)}")
        if op in AGENT_OPS:
            return _refuse(f"{op} is not a memory command; the agent handles it")
        if op not in allowed_ops:
            return _refuse(
                f"{op} is not allowed in the {phase} phase; allowed here: {_listing(allowed_ops)}"
            )
        if len(args) != ARITY[op]:
            return _refuse(
                f"{op} takes {plural(ARITY[op], 'argument')} separated by '|' "
                f"({USAGE[op]}), got {len(args)}"
            )
        name = self.limits.map_file if op == UPSERT_MAP else args[0]
        if (problem := name_problem(name, self.limits.max_name_chars)) is not None:
            return _refuse(f"invalid file name {show(name)}: {problem}")
        if (problem := self._argument_problem(op, args)) is not None:
            return _refuse(problem, name)
        return self._on_disk_entry(op, name, args)

    def _argument_problem(self, op: str, args: tuple[str, ...]) -> str | None:
        if op in (SEARCH, COUNT) and not args[1]:
            return f"{op} needs a non-empty keyword ({USAGE[op]})"
        if op == TAIL and _tail_count(args[1], self.limits.tail_max_lines) is None:
            return (
                f"TAIL needs a whole number of lines, 1 or more ({USAGE[op]}), got {show(args[1])}"
            )
        if op == APPEND and not args[1].strip():
            return f"APPEND needs non-empty text ({USAGE[op]})"
        if op == UPSERT_MAP:
            key, text = args
            if not key.strip() or not text.strip():
                return f"UPSERT_MAP needs a non-empty key and text ({USAGE[op]})"
            if len(key.splitlines()) > 1:
                return f"UPSERT_MAP key must be on one line, got {show(key)}"
        return None

    def _on_disk_entry(self, op: str, name: str, args: tuple[str, ...]) -> _Outcome:
        """Check the directory entry itself, then dispatch; disk failures become ERROR results."""
        path = self._prefix + name  # names hold no separators, so plain concatenation is safe
        try:
            kind = disk.entry_kind(path)
            if kind == "symlink":
                return _refuse(f"{show(name)} is refused: it is a symbolic link")
            if kind == "other":
                return _refuse(f"{show(name)} is refused: it is not a regular file")
            if kind == "file" and name not in self._files:
                return _refuse(f"{show(name)} is refused: it was not made by this store")
            if op in WRITE_OPS:
                return self._mutate(op, name, args)
            return self._view(op, name, args)
        except OSError as exc:
            return _refuse(f"{op} on {name} failed: {exc.strerror or exc}", name)

    def _files_sorted(self) -> list[str]:
        return sorted(self._files)

    def _missing(self, name: str) -> str:
        listing = ", ".join(self._files_sorted()) or "(none)"
        return f"no file named {name!r}; files: {listing}"

    def _view(self, op: str, name: str, args: tuple[str, ...]) -> _Outcome:
        content = self._files.get(name)
        if content is None:
            return _refuse(self._missing(name), name)
        limits = self.limits
        if op == READ:
            return _Outcome(True, read_view(name, content), name)
        if op == TAIL:
            n = _tail_count(args[1], limits.tail_max_lines) or 1  # validated before dispatch
            return _Outcome(True, tail_view(name, content, n, limits.tail_max_lines), name)
        matches, shown = self._matches.lookup(name, content, args[1])
        if op == SEARCH:
            result = search_result(name, args[1], matches, shown)
        else:
            result = count_view(name, content, args[1], matches)
        return _Outcome(True, result, name, matches=matches)

    def _mutate(self, op: str, name: str, args: tuple[str, ...]) -> _Outcome:
        limits = self.limits
        old = self._files.get(name)
        if op == CREATE and old is not None:
            return _refuse(
                f"{name} already exists ({self._sizes[name]} bytes); "
                f"use WRITE {name}|text to overwrite it or APPEND to add to it",
                name,
            )
        if old is None and len(self._files) >= limits.max_files:
            existing = ", ".join(self._files_sorted())
            return _refuse(
                f"cannot create {name}: there are already {len(self._files)} files "
                f"(limit {limits.max_files}); use an existing file: {existing}",
                name,
            )
        new = apply_mutation(op, args, old or "")
        before = 0 if old is None else self._sizes[name]
        # Pure additions (APPEND, UPSERT_MAP of a new key) are appended in one write, which
        # leaves whole lines if killed; anything else is rewritten atomically via a temp file.
        # Only the added bytes are encoded on the append path: files can be 64 KB.
        appending = op != WRITE and old is not None and new.startswith(old)
        data = new[len(old) :].encode("utf-8") if old is not None and appending else new.encode()
        after = before + len(data) if appending else len(data)
        if after > limits.max_file_bytes:
            return _refuse(self._too_big(op, name, after), name)
        if appending:
            disk.append_bytes(self._prefix + name, data)
            added = new[len(old or "") :].count("\n")
            self._line_breaks[name] = self._line_breaks.get(name, 0) + added
        else:
            disk.replace_file(self._dir, name, data)
            self._line_breaks[name] = new.count("\n")
            self._matches.rewritten(name)
        self._files[name] = new
        self._sizes[name] = after
        message = self._mutation_message(op, name, args, old, before)
        return _Outcome(True, message, name, before, after)

    def _too_big(self, op: str, name: str, size: int) -> str:
        limit = self.limits.max_file_bytes
        if op == WRITE:
            return (
                f"WRITE to {name} refused: the text is {size} bytes (limit {limit}); "
                "nothing was written; WRITE a shorter, condensed version"
            )
        return (
            f"{op} to {name} refused: {name} would grow to {size} bytes (limit {limit}); "
            f"nothing was written; condense it with WRITE {name}|<shorter summary>"
        )

    def _mutation_message(
        self, op: str, name: str, args: tuple[str, ...], old: str | None, before: int
    ) -> str:
        """The short confirmation of a mutation, from the store's state after it."""
        stats = f"{plural(self.line_count(name), 'line')}, {self._sizes[name]} bytes"
        if old is None:
            stats = f"new file; {stats}"
        if op == APPEND:
            return f"appended 1 line to {name} ({stats})"
        if op == WRITE:
            was = "" if old is None else f"; was {before} bytes"
            return f"wrote {name} ({stats}{was})"
        if op == CREATE:
            return f"created {name} (empty; {plural(len(self._files), 'file')} now)"
        key = args[0]
        if old is not None and (n := key_line_count(old, key)):
            dupes = f"; removed {plural(n - 1, 'duplicate line')}" if n > 1 else ""
            return f"replaced the line for {show(key)} in {name} ({stats}{dupes})"
        return f"added a line for {show(key)} to {name} ({stats})"
