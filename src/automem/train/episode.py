"""One episode's trace, read once and indexed for the selection signals.

Read through :class:`automem.runs.reader.EpisodeReader` (so a run directory is never left and
any new optional record fields are tolerated by the schema). Events of an episode are ordered
by (step, phase, turn) with LOG before PLAN, which is the order the loop runs them in.

A *turn* is one answered model call. Its commands are the command records the loop wrote for
that call (same step, phase and turn), in the order it ran them; helpers' records (turn -1)
belong to no turn but still change the files, so the replay of writes includes them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from automem.memory import WRITE_OPS, ParseResult, parse_commands
from automem.memory.edits import apply_mutation
from automem.runs.reader import EpisodeReader
from automem.traces.schema import (
    CallRecord,
    CommandRecord,
    Header,
    MessageRecord,
    ObservationRecord,
    StepRecord,
)
from automem.train.examples import ChatMessage, Example, Provenance, call_id

_PHASE_ORDER = {"log": 0, "plan": 1}
RETRIEVAL_OPS = frozenset({"SEARCH", "READ", "TAIL"})  # the reads that show file lines


def order(step: int, phase: str, turn: int) -> tuple[int, int, int]:
    """When an event happened within its episode (helpers' records sort after the phases)."""
    return step, _PHASE_ORDER.get(phase, 2), turn


@dataclass(frozen=True)
class Turn:
    """One answered model call of an episode, with the commands the loop ran for it."""

    step: int
    phase: str
    turn: int
    call: CallRecord
    reply: str
    parsed: ParseResult
    commands: tuple[int, ...]  # positions in EpisodeData.commands

    @property
    def call_id(self) -> str:
        return call_id(self.call)

    @property
    def when(self) -> tuple[int, int, int]:
        return order(self.step, self.phase, self.turn)


@dataclass(frozen=True)
class WriteEffect:
    """A successful write: the file it changed and that file's content before and after."""

    file: str
    before: str
    after: str

    @property
    def added_lines(self) -> list[str]:
        """The lines of the file after the write that it did not hold before (stripped)."""
        old = {line.strip() for line in self.before.split("\n")}
        return [s for line in self.after.split("\n") if (s := line.strip()) and s not in old]


@dataclass
class EpisodeData:
    """Everything selection reads of one episode."""

    episode_id: str
    trace_path: Path
    header: Header
    progression: float
    messages: dict[int, MessageRecord]
    calls: list[CallRecord]
    commands: list[CommandRecord]
    steps: dict[int, StepRecord]
    observations: dict[int, ObservationRecord]
    writes: dict[int, WriteEffect] = field(default_factory=dict)  # command position -> effect
    read_sizes: dict[int, int] = field(default_factory=dict)  # READ/TAIL position -> file size
    _turns: list[Turn] | None = field(default=None, repr=False)
    _by_id: dict[str, Turn] | None = field(default=None, repr=False)
    _reads: dict[str, list[int]] | None = field(default=None, repr=False)

    @classmethod
    def read(cls, reader: EpisodeReader, progression: float | None = None) -> EpisodeData:
        """The episode behind ``reader``; ``progression`` defaults to its last step's."""
        segments = reader.index().segments
        last = max((s[0] for s in segments), default=-1)
        records = reader.steps(0, last + 1) if last >= 0 else []
        steps = {r.step: r for r in records if isinstance(r, StepRecord)}
        if progression is None:
            progression = steps[max(steps)].progression if steps else 0.0
        data = cls(
            episode_id=reader.episode_id,
            trace_path=reader.trace_path,
            header=reader.header(),
            progression=progression,
            messages={r.id: r for r in records if isinstance(r, MessageRecord)},
            calls=[r for r in records if isinstance(r, CallRecord)],
            commands=[r for r in records if isinstance(r, CommandRecord)],
            steps=steps,
            observations={r.step: r for r in records if isinstance(r, ObservationRecord)},
        )
        data._replay()
        return data

    @property
    def env_id(self) -> str:
        return self.header.env_id

    def _replay(self) -> None:
        """Replay the successful writes: each one's effect, and the size of each file read."""
        files = dict(self.header.initial_files)
        for position, record in enumerate(self.commands):
            if not record.ok or (name := self.file_of(record)) is None:
                continue
            if record.op in ("READ", "TAIL"):
                self.read_sizes[position] = len(files.get(name, "").strip())
            if record.op not in WRITE_OPS:
                continue
            before = files.get(name, "")
            after = apply_mutation(record.op, record.args, before)
            self.writes[position] = WriteEffect(file=name, before=before, after=after)
            files[name] = after

    def turns(self) -> list[Turn]:
        """Every answered model call, in trace order."""
        if self._turns is None:
            self._turns = self._read_turns()
        return self._turns

    def turn(self, wanted: str) -> Turn | None:
        """The answered call with id ``wanted`` ('STEP/PHASE/TURN'), or None."""
        if self._by_id is None:
            self._by_id = {t.call_id: t for t in self.turns()}
        return self._by_id.get(wanted)

    def _read_turns(self) -> list[Turn]:
        by_turn: dict[tuple[int, str, int], list[int]] = defaultdict(list)
        for position, record in enumerate(self.commands):
            if record.turn >= 0:
                by_turn[(record.step, record.phase, record.turn)].append(position)
        turns = []
        for call in self.calls:
            if call.response is None:
                continue
            reply = self.messages[call.response].content
            turns.append(
                Turn(
                    step=call.step,
                    phase=call.phase,
                    turn=call.turn,
                    call=call,
                    reply=reply,
                    parsed=parse_commands(reply),
                    commands=tuple(by_turn.get((call.step, call.phase, call.turn), ())),
                )
            )
        return turns

    def conversation(self, call: CallRecord) -> tuple[ChatMessage, ...]:
        """The verbatim messages of ``call``, its reply last."""
        ids = [*call.prompt, *([call.response] if call.response is not None else [])]
        missing = [i for i in ids if i not in self.messages]
        if missing:
            raise ValueError(
                f"{self.trace_path}: call {call_id(call)} refers to messages {missing} the "
                "trace does not hold; the trace is corrupt"
            )
        return tuple(
            ChatMessage(role=self.messages[i].role, content=self.messages[i].content)  # type: ignore[arg-type]
            for i in ids
        )

    def example(self, turn: Turn) -> Example:
        """The training example of ``turn``: its whole conversation, verbatim."""
        return Example(
            episode_id=self.episode_id,
            step=turn.step,
            phase=turn.phase,
            messages=self.conversation(turn.call),
            provenance=Provenance(trace=str(self.trace_path), call_id=turn.call_id),
        )

    def progressed(self, step: int) -> bool:
        """Did the action of ``step`` bring reward or raise progression?"""
        record = self.steps.get(step)
        if record is None:
            return False
        before = self.steps[step - 1].progression if step - 1 in self.steps else 0.0
        return record.reward > 0 or record.progression > before

    def observation_text(self, step: int) -> str:
        """What the agent saw at ``step``: the observation and its short-term part."""
        record = self.observations.get(step)
        return "" if record is None else f"{record.text}\n{record.short_term}"

    def reads_of(self, name: str) -> list[int]:
        """Positions of the successful model-issued SEARCH, READ and TAIL commands of a file."""
        if self._reads is None:
            self._reads = defaultdict(list)
            for position, record in enumerate(self.commands):
                model_read = record.op in RETRIEVAL_OPS and record.ok and record.turn >= 0
                if model_read and (file := self.file_of(record)) is not None:
                    self._reads[file].append(position)
        return self._reads.get(name, [])

    def file_of(self, record: CommandRecord) -> str | None:
        """The memory file a command names (None for a command with no file argument)."""
        if record.file:
            return record.file
        if record.op == "UPSERT_MAP":
            return self.header.limits.map_file
        return record.args[0] if record.args else None
