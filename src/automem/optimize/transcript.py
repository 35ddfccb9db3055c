"""A review session's transcript: one JSON object per line, appended and flushed per event.

A process killed at any moment leaves every event written so far readable (at most the last
line is cut short). A transcript already in the folder, from an interrupted session, is kept
beside the new one as ``transcript.interrupted-N.jsonl``: nothing is lost.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any


class Transcript:
    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists():
            number = 1
            while (old := path.with_name(f"{path.stem}.interrupted-{number}.jsonl")).exists():
                number += 1
            path.replace(old)
        self._handle: IO[str] = open(path, "x", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, event: str, **data: Any) -> None:
        line = json.dumps({"event": event, "time": time.time(), **data}, ensure_ascii=False)
        self._handle.write(line + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_transcript(path: Path) -> list[dict[str, Any]]:
    """The events of a transcript; a last line cut short by a kill is left out."""
    events = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            events.append(json.loads(line))
        except ValueError:
            if number == len(lines):
                break
            raise ValueError(f"{path}:{number}: not a JSON line") from None
    return events
