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
import itertools
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
from automem.runs.trace_index import NO_STEP, Span, TraceIndex
from automem.traces.io import TraceError
from automem.traces.schema import TRACE_RECORD, Header

TRACE_FILE = "trace.jsonl"
INDEX_FILE = "trace.index.json"
RESULT_FILE = "result.json"
CHECKPOINT_EVERY = 100  # steps between cached memory states
EXCERPT_CHARS = 40  # context shown either side of a search match
SEARCH_KINDS = ("observation", "reply", "result")
Kind = Literal["observation", "reply", "result"]
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]*")


class SearchHit(Frozen):
    """One match: where it is (episode, step, phase) and a one-line excerpt around it."""

    episode: str
    step: int
    phase: str | None  # None for an observation (seen before either phase)
    kind: Kind
    excerpt: str


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


class _StaleIndex(Exception):
    """A stored index that does not describe the trace (rebuilt, then read again)."""


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
        self._cands: list[tuple[int, int, Kind, Span, str | None]] | None = None
        self._texts: dict[int, tuple[str, str | None]] = {}  # text span start -> text, phase
        self._bytes: tuple[bytes, bytes] | None = None  # the trace, and its lower case
        self._joins: dict[tuple[str, ...], tuple[str, list[int]]] = {}
        self._of_kinds: dict[tuple[str, ...], list[tuple[int, int, Kind, Span, str | None]]] = {}
        self._spans: tuple[list[tuple[int, int]], list[int]] | None = None

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
        self._header, self._cands, self._texts = None, None, {}
        self._bytes, self._joins, self._of_kinds, self._spans = None, {}, {}, None

    def _read(self, spans: Sequence[Span]) -> list[BaseModel]:
        records: list[BaseModel] = []
        with open(self.trace_path, "rb") as handle:
            for step, start, end in spans:
                try:
                    data = trace_index.read_span(handle, start, end)
                except ValueError as exc:
                    raise _StaleIndex(str(exc)) from None
                for line in data.splitlines():
                    records.append(self._record(line, step, start))
        return records

    def _record(self, line: bytes, step: int, start: int) -> BaseModel:
        try:
            record = TRACE_RECORD.validate_json(line)
        except ValidationError:
            raise _StaleIndex(f"no valid record at byte {start}") from None
        if getattr(record, "step", NO_STEP) != step:
            raise _StaleIndex(f"the record at byte {start} is not of step {step}")
        return record

    def _with_index(self, read: Any) -> Any:
        """``read(index)``; a stored index that proves wrong is rebuilt and read again."""
        try:
            return read(self.index())
        except _StaleIndex as exc:
            if self._fresh:  # built from this very trace: the trace changed under us
                raise TraceError(f"{self.trace_path} changed while it was read ({exc})") from None
        try:
            return read(self._rebuild())
        except _StaleIndex as exc:
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
            spans = [s for s in index.segments if start <= s[0] < stop]
            return self._read(spans)

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
                raise _StaleIndex(str(exc)) from None
        try:
            records = _JOURNAL_LINES.validate_json(b"[" + b",".join(lines) + b"]")
        except ValidationError:
            raise _StaleIndex("a write record the index names is not one") from None
        if [r.step for r in records] != [s for s, _, _ in index.writes]:
            raise _StaleIndex("the write records are not of the steps the index says")
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
            lambda ix: self._search(ix, compiled, needle, ignore_case, wanted, limit)
        )

    def _search(
        self,
        index: TraceIndex,
        compiled: re.Pattern[str],
        needle: bytes | None,
        ignore_case: bool,
        kinds: set[str],
        limit: int,
    ) -> list[SearchHit]:
        """Texts in step order, each parsed once and cached. A plain ASCII text is first found
        in the trace's raw bytes, so only the lines that hold it are parsed; a regex without
        anchors or look-arounds runs over all texts joined, then is checked on each text."""
        key = tuple(sorted(kinds))
        if key not in self._of_kinds:
            self._of_kinds[key] = [c for c in self._candidates(index) if c[2] in kinds]
        cands = self._of_kinds[key]
        if needle is not None and key not in self._joins:
            matched = self._byte_matches(index, needle, ignore_case)
            cands = [c for c in cands if c[3][1] in matched]
        elif not any(token in compiled.pattern for token in _CONTEXT_TOKENS):
            cands = self._joined_matches(index, compiled, key, cands, limit)
        hits: list[SearchHit] = []
        for step, _, kind, span, phase in cands:
            text, own_phase = self._text_of(index, kind, span)
            match = compiled.search(text)
            if match is None:
                continue
            hits.append(
                SearchHit(
                    episode=self.episode_id,
                    step=step,
                    phase=own_phase if kind == "result" else phase,
                    kind=kind,
                    excerpt=_excerpt(text, match.start(), match.end()),
                )
            )
            if len(hits) >= limit:
                break
        return hits

    def _text_of(self, index: TraceIndex, kind: str, span: Span) -> tuple[str, str | None]:
        found = self._texts.get(span[1])
        if found is None:
            found = self._texts[span[1]] = _text(self._data(index), kind, span)
        return found

    def _data(self, index: TraceIndex, lower: bool = False) -> bytes:
        """The trace's bytes (kept while the index holds), or their ASCII lower case."""
        if self._bytes is None:
            data = self.trace_path.read_bytes()
            if len(data) != index.trace_size:
                raise _StaleIndex("the trace's size changed")
            self._bytes = (data, b"")
        if lower and not self._bytes[1]:
            self._bytes = (self._bytes[0], self._bytes[0].lower())
        return self._bytes[1] if lower else self._bytes[0]

    def _byte_matches(self, index: TraceIndex, needle: bytes, ignore_case: bool) -> set[int]:
        """Start bytes of the searchable lines whose raw bytes hold ``needle``."""
        haystack = self._data(index, lower=ignore_case)
        if not self._spans:
            spans = sorted({c[3][1:] for c in self._candidates(index)})
            self._spans = (spans, [a for a, _ in spans])
        spans, starts = self._spans
        matched: set[int] = set()
        pos = haystack.find(needle)
        while pos >= 0:
            i = bisect.bisect_right(starts, pos) - 1
            if i >= 0 and pos + len(needle) <= spans[i][1]:
                matched.add(starts[i])
                after = spans[i][1]
            elif i >= 0 and pos < spans[i][1]:
                after = pos + 1  # crosses the end of a line: not inside one string
            else:
                after = starts[i + 1] if i + 1 < len(starts) else len(haystack)
            pos = haystack.find(needle, after)
        return matched

    def _joined_matches(
        self,
        index: TraceIndex,
        compiled: re.Pattern[str],
        key: tuple[str, ...],
        cands: list[tuple[int, int, Kind, Span, str | None]],
        limit: int,
    ) -> list[tuple[int, int, Kind, Span, str | None]]:
        """The candidates whose text matches, found in one pass over all their texts joined."""
        if key not in self._joins:
            texts = [self._text_of(index, c[2], c[3])[0] for c in cands]
            offsets = list(itertools.accumulate((len(t) + 1 for t in texts[:-1]), initial=0))
            self._joins[key] = ("\x00".join(texts), offsets)
        joined, offsets = self._joins[key]
        out = []
        pos = 0
        while len(out) < limit:
            match = compiled.search(joined, pos)
            if match is None:
                break
            i = bisect.bisect_right(offsets, match.start()) - 1
            if compiled.search(self._text_of(index, cands[i][2], cands[i][3])[0]):
                out.append(cands[i])  # a match of its own, not one across two texts
            if i + 1 >= len(offsets):
                break
            pos = offsets[i + 1]
        return out

    def _candidates(self, index: TraceIndex) -> list[tuple[int, int, Kind, Span, str | None]]:
        """(step, order in the file, kind, span of the text, phase) of every searchable text."""
        if self._cands is None:
            cands: list[tuple[int, int, Kind, Span, str | None]] = []
            cands += [(s[0], s[1], "observation", s, None) for s in index.observations]
            cands += [(s[0], s[1], "result", s, None) for s in index.results]
            for step, phase, message, start in index.replies:
                if message in index.messages:
                    cands.append((step, start, "reply", index.messages[message], phase))
            self._cands = sorted(cands, key=lambda c: c[:2])
        return self._cands


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


# A regex with any of these may match differently inside the joined texts: checked text by text.
_CONTEXT_TOKENS = ("^", "$", "\\A", "\\Z", "(?")
_TYPES = {"observation": "observation", "result": "command", "reply": "message"}


def _text(data: bytes, kind: str, span: Span) -> tuple[str, str | None]:
    """(text, phase) of one searchable record; a line that is not what the index says is
    a wrong index (the index was built from records already validated)."""
    step, start, end = span
    try:
        obj = json.loads(data[start:end])
    except ValueError:
        raise _StaleIndex(f"no valid record at byte {start}") from None
    if not isinstance(obj, dict) or obj.get("type") != _TYPES[kind] or obj.get("step") != step:
        raise _StaleIndex(f"the record at byte {start} is not a {kind} of step {step}")
    key = {"observation": "text", "result": "result", "reply": "content"}[kind]
    text, phase, short = obj.get(key), obj.get("phase"), obj.get("short_term") or ""
    if not isinstance(text, str) or not isinstance(short, str):
        raise _StaleIndex(f"the record at byte {start} has no {key} text")
    if kind == "observation" and short:
        text = f"{text}\n{short}"
    return text, phase if isinstance(phase, str) else None


def _excerpt(text: str, start: int, end: int) -> str:
    left, right = max(0, start - EXCERPT_CHARS), min(len(text), end + EXCERPT_CHARS)
    body = text[left:right].replace("\n", " ⏎ ")
    return ("…" if left else "") + body + ("…" if right < len(text) else "")
