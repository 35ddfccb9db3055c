"""Text and regex search over one trace's observations, model replies and command results.

Works from the trace's index (:mod:`automem.runs.trace_index`): each searchable text is
parsed once and cached. A plain ASCII text is first looked for in the trace's raw bytes, so
only lines that hold it are parsed; a regex without anchors or look-arounds runs once over all
texts joined, and every match is checked on its own text.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from pathlib import Path
from typing import Literal

from automem.core import Frozen
from automem.runs.trace_index import Span, StaleIndex, TraceIndex

EXCERPT_CHARS = 40  # context shown either side of a match
Kind = Literal["observation", "reply", "result"]
Candidate = tuple[int, int, Kind, Span, str | None]  # step, file order, kind, text span, phase


class SearchHit(Frozen):
    """One match: where it is (episode, step, phase) and a one-line excerpt around it."""

    episode: str
    step: int
    phase: str | None  # None for an observation (seen before either phase)
    kind: Kind
    excerpt: str


class TraceSearch:
    """Search state of one trace for one index (a new index gets a new TraceSearch)."""

    def __init__(self, episode_id: str, trace_path: Path, index: TraceIndex) -> None:
        self.episode_id = episode_id
        self.trace_path = trace_path
        self.index = index
        self._cands: list[Candidate] | None = None
        self._texts: dict[int, tuple[str, str | None]] = {}  # text span start -> text, phase
        self._bytes: tuple[bytes, bytes] | None = None  # the trace, and its lower case
        self._joins: dict[tuple[str, ...], tuple[str, list[int]]] = {}
        self._of_kinds: dict[tuple[str, ...], list[Candidate]] = {}
        self._spans: tuple[list[tuple[int, int]], list[int]] | None = None

    def search(
        self,
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
            self._of_kinds[key] = [c for c in self._candidates() if c[2] in kinds]
        cands = self._of_kinds[key]
        if needle is not None and key not in self._joins:
            matched = self._byte_matches(needle, ignore_case)
            cands = [c for c in cands if c[3][1] in matched]
        elif not any(token in compiled.pattern for token in _CONTEXT_TOKENS):
            cands = self._joined_matches(compiled, key, cands, limit)
        hits: list[SearchHit] = []
        for step, _, kind, span, phase in cands:
            text, own_phase = self._text_of(kind, span)
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

    def _text_of(self, kind: str, span: Span) -> tuple[str, str | None]:
        found = self._texts.get(span[1])
        if found is None:
            found = self._texts[span[1]] = _text(self._data(), kind, span)
        return found

    def _data(self, lower: bool = False) -> bytes:
        """The trace's bytes (kept while the index holds), or their ASCII lower case."""
        if self._bytes is None:
            data = self.trace_path.read_bytes()
            if len(data) != self.index.trace_size:
                raise StaleIndex("the trace's size changed")
            self._bytes = (data, b"")
        if lower and not self._bytes[1]:
            self._bytes = (self._bytes[0], self._bytes[0].lower())
        return self._bytes[1] if lower else self._bytes[0]

    def _byte_matches(self, needle: bytes, ignore_case: bool) -> set[int]:
        """Start bytes of the searchable lines whose raw bytes hold ``needle``."""
        haystack = self._data(lower=ignore_case)
        if not self._spans:
            spans = sorted({c[3][1:] for c in self._candidates()})
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
        compiled: re.Pattern[str],
        key: tuple[str, ...],
        cands: list[tuple[int, int, Kind, Span, str | None]],
        limit: int,
    ) -> list[tuple[int, int, Kind, Span, str | None]]:
        """The candidates whose text matches, found in one pass over all their texts joined."""
        if key not in self._joins:
            texts = [self._text_of(c[2], c[3])[0] for c in cands]
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
            if compiled.search(self._text_of(cands[i][2], cands[i][3])[0]):
                out.append(cands[i])  # a match of its own, not one across two texts
            if i + 1 >= len(offsets):
                break
            pos = offsets[i + 1]
        return out

    def _candidates(self) -> list[tuple[int, int, Kind, Span, str | None]]:
        """(step, order in the file, kind, span of the text, phase) of every searchable text."""
        if self._cands is None:
            cands: list[tuple[int, int, Kind, Span, str | None]] = []
            cands += [(s[0], s[1], "observation", s, None) for s in self.index.observations]
            cands += [(s[0], s[1], "result", s, None) for s in self.index.results]
            for step, phase, message, start in self.index.replies:
                if message in self.index.messages:
                    cands.append((step, start, "reply", self.index.messages[message], phase))
            self._cands = sorted(cands, key=lambda c: c[:2])
        return self._cands


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
        raise StaleIndex(f"no valid record at byte {start}") from None
    if not isinstance(obj, dict) or obj.get("type") != _TYPES[kind] or obj.get("step") != step:
        raise StaleIndex(f"the record at byte {start} is not a {kind} of step {step}")
    key = {"observation": "text", "result": "result", "reply": "content"}[kind]
    text, phase, short = obj.get(key), obj.get("phase"), obj.get("short_term") or ""
    if not isinstance(text, str) or not isinstance(short, str):
        raise StaleIndex(f"the record at byte {start} has no {key} text")
    if kind == "observation" and short:
        text = f"{text}\n{short}"
    return text, phase if isinstance(phase, str) else None


def _excerpt(text: str, start: int, end: int) -> str:
    left, right = max(0, start - EXCERPT_CHARS), min(len(text), end + EXCERPT_CHARS)
    body = text[left:right].replace("\n", " ⏎ ")
    return ("…" if left else "") + body + ("…" if right < len(text) else "")
