"""One read-only reader of run directories, for the report, replay, query and the reviewer.

:class:`RunReader` knows where a run keeps things (the layout :mod:`automem.runs.directory`
writes) and reads them without changing them: run.json, the episodes with their summaries
(validated by :meth:`RunDir.scan`), and each episode's trace through an
:class:`EpisodeReader`: the records of a step range (seeking to byte offsets from the trace's
index, see :mod:`automem.runs.trace_index`), the memory files at any step (the journal
replayed by :func:`automem.memory.rebuild` from cached checkpoints), one file's history, and
text or regex search. The only thing it may write is the index, a cache beside the trace.

Episode ids are checked against the run's own folders, and a folder or trace that is a
symbolic link, or that resolves outside the run directory, is refused: a run directory is
data and the reader never leaves it.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from automem.core import Frozen
from automem.memory import JournalRecord, rebuild
from automem.memory.edits import apply_mutation
from automem.memory.rebuild import written_file
from automem.runs import trace_index
from automem.runs.config import RunConfig
from automem.runs.directory import EpisodeScan, RunDir, RunDirError
from automem.runs.summary import EpisodeSummary
from automem.runs.trace_index import NO_STEP, Span, StaleIndex, TraceIndex
from automem.runs.trace_search import SearchHit, TraceSearch
from automem.traces.io import TraceError
from automem.traces.schema import TRACE_RECORD, Header, MessageRecord
from automem.traces.texts import TextResolver, UnresolvedPrompt

TRACE_FILE = "trace.jsonl"
INDEX_FILE = "trace.index.json"
RESULT_FILE = "result.json"
CHECKPOINT_EVERY = 100  # steps between cached memory states
SEARCH_KINDS = ("observation", "reply", "result")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]*")


class FileChange(Frozen):
    """One successful write to a memory file, with the file's whole content after it."""

    step: int
    phase: str
    op: str
    content: str


class _JournalLine(JournalRecord):
    """A command line of the trace read straight into a journal record (it is one)."""

    type: Literal["command"]
    turn: int


_JOURNAL_LINES = TypeAdapter(list[_JournalLine])


class EpisodeReader:
    """Read-only access to one episode's trace through its byte-offset index."""

    def __init__(self, episode_id: str, folder: Path, *, write_index: bool = True) -> None:
        self.episode_id = episode_id
        self.trace_path = folder / TRACE_FILE
        self.index_path = folder / INDEX_FILE
        self.write_index = write_index
        self._index: TraceIndex | None = None
        self._fresh = False  # built from the trace by this reader (so not to be second-guessed)
        self._journal: list[JournalRecord] | None = None
        self._checkpoints: list[dict[str, str]] = []
        self._header: Header | None = None
        self._search: TraceSearch | None = None  # its caches, for the current index

    # ------------------------------------------------------------------ the index

    def index(self) -> TraceIndex:
        """The trace's index: in memory, else stored and valid, else built (and stored)."""
        try:
            if self._index is not None and self._index.matches(self.trace_path):
                return self._index
        except OSError as exc:
            raise TraceError(f"cannot open trace {self.trace_path}: {exc.strerror}") from None
        self._forget()
        index = trace_index.load(self.index_path, self.trace_path)
        if index is None:
            return self._rebuild()
        self._index, self._fresh = index, False
        return index

    def _rebuild(self) -> TraceIndex:
        self._forget()
        index = trace_index.build(self.trace_path)
        if self.write_index:
            trace_index.save(index, self.index_path)  # False (read-only): kept in memory
        self._index, self._fresh = index, True
        return index

    def _forget(self) -> None:
        self._index, self._journal, self._checkpoints = None, None, []
        self._header, self._search = None, None

    def _read(self, spans: Sequence[Span]) -> list[BaseModel]:
        records: list[BaseModel] = []
        with open(self.trace_path, "rb") as handle:
            for step, start, end in spans:
                try:
                    data = trace_index.read_span(handle, start, end)
                except ValueError as exc:
                    raise StaleIndex(str(exc)) from None
                for line in data.splitlines():
                    records.append(self._record(line, step, start))
        return records

    def _record(self, line: bytes, step: int, start: int) -> BaseModel:
        try:
            record = TRACE_RECORD.validate_json(line)
        except ValidationError:
            raise StaleIndex(f"no valid record at byte {start}") from None
        if getattr(record, "step", NO_STEP) != step:
            raise StaleIndex(f"the record at byte {start} is not of step {step}")
        return record

    def _with_index(self, read: Any) -> Any:
        """``read(index)``; a stored index that proves wrong is rebuilt and read again."""
        try:
            return read(self.index())
        except StaleIndex as exc:
            if self._fresh:  # built from this very trace: the trace changed under us
                raise TraceError(f"{self.trace_path} changed while it was read ({exc})") from None
        try:
            return read(self._rebuild())
        except StaleIndex as exc:
            raise TraceError(f"{self.trace_path} changed while it was read ({exc})") from None

    # ------------------------------------------------------------------ records

    def header(self) -> Header:
        if self._header is None:
            record = self._with_index(lambda ix: self._read([ix.header])[0])
            if not isinstance(record, Header):
                raise TraceError(f"{self.trace_path}: a trace starts with a header record")
            self._header = record
        return self._header

    def step_count(self) -> int:
        return self.index().steps

    def steps(self, start: int, stop: int | None = None) -> list[BaseModel]:
        """Every record of steps ``start`` to ``stop - 1`` (default: step ``start`` alone)."""
        stop = start + 1 if stop is None else stop
        if start < 0 or stop <= start:
            raise ValueError(f"a step range needs 0 <= start < stop, got {start}..{stop}")

        def read(index: TraceIndex) -> list[BaseModel]:
            texts = TextResolver()  # prompts are read back from the text table
            for record in self._read([s for s in index.texts if s[0] < start]):
                texts.feed(record)
            spans = [s for s in index.segments if start <= s[0] < stop]
            try:
                return [texts.feed(r) for r in self._read(spans)]
            except UnresolvedPrompt as exc:
                raise TraceError(f"{self.trace_path}: {exc}") from None

        return self._with_index(read)

    def replies(self, ids: Iterable[int]) -> dict[int, MessageRecord]:
        """The model replies (assistant messages) of these ids, wherever the trace stored them
        (a reply repeated word for word is stored once, at its first step)."""
        wanted = sorted(set(ids))

        def read(index: TraceIndex) -> dict[int, MessageRecord]:
            spans = [index.messages[i] for i in wanted if i in index.messages]
            return {r.id: r for r in self._read(spans) if isinstance(r, MessageRecord)}

        return self._with_index(read)

    # ------------------------------------------------------------------ memory

    def journal(self) -> list[JournalRecord]:
        """The successful memory writes, in order (what the memory state is built from)."""
        if self._journal is None:
            self._journal = self._with_index(self._read_journal)
        return self._journal

    def _read_journal(self, index: TraceIndex) -> list[JournalRecord]:
        """The write records, validated in one call straight into journal records (fast)."""
        with open(self.trace_path, "rb") as handle:
            try:
                lines = [trace_index.read_span(handle, a, b).strip() for _, a, b in index.writes]
            except ValueError as exc:
                raise StaleIndex(str(exc)) from None
        try:
            records = _JOURNAL_LINES.validate_json(b"[" + b",".join(lines) + b"]")
        except ValidationError:
            raise StaleIndex("a write record the index names is not one") from None
        if [r.step for r in records] != [s for s, _, _ in index.writes]:
            raise StaleIndex("the write records are not of the steps the index says")
        return list(records)

    def memory_at(self, step: int) -> dict[str, str]:
        """The memory files after every command of steps 0..``step`` (as :func:`rebuild`)."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        journal, header = self.journal(), self.header()
        steps = [r.step for r in journal]
        last = max(self.step_count() - 1, steps[-1] if steps else 0)
        if step > last:
            raise ValueError(f"step {step} is past the last step ({last}) of {self.episode_id}")
        if not self._checkpoints:  # states before steps 0, K, 2K, ...: one pass, then cached
            state, done = dict(header.initial_files), 0
            self._checkpoints.append(state)
            for boundary in range(CHECKPOINT_EVERY, last + CHECKPOINT_EVERY, CHECKPOINT_EVERY):
                upto = bisect.bisect_left(steps, boundary)
                state = rebuild(journal[done:upto], state, limits=header.limits)
                self._checkpoints.append(state)
                done = upto
        slot = min((step + 1) // CHECKPOINT_EVERY, len(self._checkpoints) - 1)
        first = bisect.bisect_left(steps, slot * CHECKPOINT_EVERY)
        upto = bisect.bisect_right(steps, step)
        return rebuild(journal[first:upto], self._checkpoints[slot], limits=header.limits)

    def file_history(self, name: str) -> list[FileChange]:
        """Every successful change to file ``name``: step, phase, op and the content after."""
        header = self.header()
        content = header.initial_files.get(name)
        changes: list[FileChange] = []
        for record in self.journal():
            if written_file(record, header.limits) != name:
                continue
            content = apply_mutation(record.op, record.args, content or "")
            changes.append(
                FileChange(step=record.step, phase=record.phase, op=record.op, content=content)
            )
        if content is None:
            known = sorted({*header.initial_files, *(r.file for r in self.journal() if r.file)})
            raise ValueError(
                f"episode {self.episode_id} has no memory file {name!r}; files: {', '.join(known)}"
            )
        return changes

    # ------------------------------------------------------------------ search

    def search(
        self,
        pattern: str,
        *,
        regex: bool = False,
        ignore_case: bool = False,
        kinds: Iterable[str] = SEARCH_KINDS,
        limit: int = 50,
    ) -> list[SearchHit]:
        """Matches in observations, model replies and command results, in step order."""
        wanted = _check_kinds(kinds)
        flags = re.IGNORECASE if ignore_case else 0
        try:
            compiled = re.compile(pattern if regex else re.escape(pattern), flags)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from None
        if not pattern:
            raise ValueError("search for a non-empty text")
        needle = None if regex or not pattern.isascii() else _json_needle(pattern, ignore_case)
        if needle is not None and ignore_case:  # as the byte search folds case: ASCII only
            compiled = re.compile(re.escape(pattern), re.IGNORECASE | re.ASCII)
        return self._with_index(
            lambda ix: self._searcher(ix).search(compiled, needle, ignore_case, wanted, limit)
        )

    def _searcher(self, index: TraceIndex) -> TraceSearch:
        if self._search is None or self._search.index is not index:
            self._search = TraceSearch(self.episode_id, self.trace_path, index)
        return self._search


class RunReader:
    """Read-only access to one run directory: run.json, episodes, traces, search."""

    def __init__(self, root: Path, *, write_index: bool = True) -> None:
        self.root = Path(root)
        self.run = RunDir(self.root)
        self.write_index = write_index
        self._scan: EpisodeScan | None = None
        self._traces: dict[str, EpisodeReader] = {}

    def meta(self) -> dict[str, Any]:
        """run.json as written ({} for an old run that has episodes but no run.json)."""
        if not (self.root / "run.json").exists():
            if self.run.episodes_dir.is_dir():
                return {}
            raise RunDirError(
                f"{self.root} is not a run directory (it has no run.json and no episodes/)"
            )
        data = self.run.read_json("run.json")
        if not isinstance(data, dict):
            raise RunDirError(f"{self.root / 'run.json'} does not hold a JSON object")
        return data

    def config(self) -> RunConfig:
        return self.run.config()

    def episodes(self) -> EpisodeScan:
        """Finished episodes (the results) and, apart, those that did not finish."""
        if self._scan is None:
            self._scan = self.run.scan()
        return self._scan

    def finished(self) -> list[tuple[EpisodeSummary, Path]]:
        """(summary, trace path) of every finished episode, in folder order."""
        return [(s, self.episode_dir(e) / TRACE_FILE) for e, s in self.episodes().finished.items()]

    def episode_dir(self, episode_id: str) -> Path:
        """The folder of one of the run's episodes; anything else is refused."""
        scan = self.episodes()
        if not _SAFE_ID.fullmatch(episode_id) or episode_id not in (
            *scan.finished,
            *scan.stopped,
        ):
            known = ", ".join([*scan.finished, *scan.stopped]) or "none"
            raise RunDirError(f"no episode {episode_id!r} in {self.root}; episodes: {known}")
        folder = self.run.episode_dir(episode_id)
        if episode_id not in scan.finished and (self.run.stopped_dir / episode_id).is_dir():
            folder = self.run.stopped_dir / episode_id
        for path in (folder, folder / TRACE_FILE):
            if path.is_symlink() or not path.resolve().is_relative_to(self.root.resolve()):
                raise RunDirError(f"{path} leads outside the run directory; refusing to read it")
        return folder

    def trace(self, episode_id: str) -> EpisodeReader:
        if episode_id not in self._traces:
            folder = self.episode_dir(episode_id)
            self._traces[episode_id] = EpisodeReader(
                episode_id, folder, write_index=self.write_index
            )
        return self._traces[episode_id]

    def search(
        self,
        pattern: str,
        *,
        regex: bool = False,
        ignore_case: bool = False,
        kinds: Iterable[str] = SEARCH_KINDS,
        limit: int = 50,
        episodes: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """Matches across the run's traces (finished episodes, then the others), ``limit`` max."""
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        scan = self.episodes()
        hits: list[SearchHit] = []
        for episode in episodes if episodes is not None else [*scan.finished, *scan.stopped]:
            found = self.trace(episode).search(
                pattern,
                regex=regex,
                ignore_case=ignore_case,
                kinds=kinds,
                limit=limit - len(hits),
            )
            hits.extend(found)
            if len(hits) >= limit:
                break
        return hits

    def stamp(self) -> list[tuple[str, int, int]]:
        """Cheap change detector: run.json, summary.json and every finished result.json."""
        paths = [self.root / "run.json", self.root / "summary.json"]
        paths.extend(sorted(self.run.episodes_dir.glob(f"*/{RESULT_FILE}")))
        out = []
        for p in paths:
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((str(p), st.st_mtime_ns, st.st_size))
        return out


def _check_kinds(kinds: Iterable[str]) -> set[str]:
    wanted = set(kinds)
    unknown = wanted - set(SEARCH_KINDS)
    if unknown or not wanted:
        raise ValueError(
            f"search kinds {sorted(unknown) or '(none)'} unknown; choose from "
            + ", ".join(SEARCH_KINDS)
        )
    return wanted


def _json_needle(text: str, ignore_case: bool) -> bytes:
    """``text`` as it appears inside a JSON string of the trace (ASCII text only)."""
    needle = json.dumps(text)[1:-1].encode()
    return needle.lower() if ignore_case else needle
