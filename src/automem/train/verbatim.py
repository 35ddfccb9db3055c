"""Proof that a dataset is verbatim: every kept example is its trace's call, post-processed.

For each example the trace it names is read again (through
:class:`automem.runs.reader.EpisodeReader`) and the call it names is found. The example holds

1. the call's prompt messages, exactly (roles and contents, in order);
2. as its assistant message, exactly what the post-processing rules make of the call's reply
   in the trace (rules that only cut, unwrap fences and strip actions);
3. only commands whose text is a substring of that reply (a check on the rules themselves).

Anything else (an edited trace, an edited dataset, a call that is not there) is a problem,
reported one line each.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from automem.core import Frozen
from automem.memory import parse_commands
from automem.runs.reader import TRACE_FILE, EpisodeReader
from automem.train.episode import EpisodeData
from automem.train.examples import Example
from automem.train.postprocess import Dropped, postprocess_one


class VerbatimReport(Frozen):
    checked: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _episode(path: Path, cache: dict[Path, EpisodeData]) -> EpisodeData:
    if path not in cache:
        if path.name != TRACE_FILE:
            raise ValueError(f"{path}: a provenance trace must be a {TRACE_FILE} file")
        reader = EpisodeReader(path.parent.name, path.parent, write_index=False)
        cache[path] = EpisodeData.read(reader)
    return cache[path]


def check_example(example: Example, episode: EpisodeData) -> list[str]:
    """What is not verbatim about ``example`` against its episode (empty when it is)."""
    where = f"{example.provenance.trace} call {example.provenance.call_id}"
    turn = episode.turn(example.provenance.call_id)
    if turn is None:
        return [f"{where}: no such answered call in the trace"]
    original = episode.example(turn)
    problems = []
    if original.messages[:-1] != example.messages[:-1]:
        problems.append(f"{where}: the prompt messages differ from the trace's")
    result, _ = postprocess_one(original)
    if isinstance(result, Dropped):
        problems.append(f"{where}: post-processing drops the trace's reply ({result.reason})")
    elif result.reply != example.reply:
        problems.append(f"{where}: the assistant message is not the trace's reply post-processed")
    for command in parse_commands(example.reply).commands:
        if command.raw not in turn.reply:
            problems.append(f"{where}: command {command.raw[:60]!r} is not in the trace's reply")
    if (example.episode_id, example.step, example.phase) != (
        episode.episode_id,
        turn.step,
        turn.phase,
    ):
        problems.append(f"{where}: episode, step or phase differ from the trace's")
    return problems


def check_verbatim(examples: Iterable[Example]) -> VerbatimReport:
    """Check every example against the trace its provenance names."""
    cache: dict[Path, EpisodeData] = {}
    problems: list[str] = []
    checked = 0
    for example in examples:
        checked += 1
        try:
            episode = _episode(Path(example.provenance.trace), cache)
        except ValueError as exc:  # TraceError and RunDirError are ValueErrors
            problems.append(f"{example.provenance.trace}: cannot read the trace: {exc}")
            continue
        problems.extend(check_example(example, episode))
    return VerbatimReport(checked=checked, problems=tuple(problems))
